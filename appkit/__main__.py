"""`python -m appkit` is the same as the `appkit` command."""

from appkit.cli.main import console

console()
