"""`python -m appkit` is the same as the `appkit` command."""

import sys

from appkit.cli.main import main

sys.exit(main())
