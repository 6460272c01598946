"""`appkit rollback`: activate the newest good version older than the active one."""

from __future__ import annotations

import argparse
import sys

from appkit.cli.versions import EXIT_OK, EXIT_USAGE, add_store_argument, fail, is_url, store_root

HELP = """Activate the version before the active one: the newest version older than it that verifies
(corrupt or incomplete versions are skipped, and named).

  appkit rollback                  in the store of the package in the current directory
  appkit rollback --target DIR     in another store

exit codes: 0 rolled back, 1 refused (no active version, nothing good before it), 2 usage or I/O error"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--lock-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a deploy in progress (default: 30)")


def run(args: argparse.Namespace) -> int:
    from appkit.deploy.store import AK505, AK506, StoreError, VersionStore

    if is_url(args.target):
        sys.stderr.write("appkit rollback: error: a Vespa cluster has no rollback call; deploy the previous "
                         "package again (`appkit deploy --target URL` from that version)\n")
        return EXIT_USAGE
    store = VersionStore(store_root(args), lock_timeout=args.lock_timeout)
    try:
        skipped = [v for v in store.list_versions() if not v.ok]
        previous, target = store.rollback()
    except StoreError as e:
        return fail(e, {AK505, AK506})
    except OSError as e:
        sys.stderr.write(f"appkit rollback: error: {store.root}: {e.strerror or e}\n")
        return EXIT_USAGE
    for v in skipped:
        if target < v.version < previous:
            sys.stderr.write(f"skipped version {v.version}: {v.status}\n")
    print(f"rolled back: version {target} is active (was {previous}) in {store.root}")
    return EXIT_OK
