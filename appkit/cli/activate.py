"""`appkit activate`: make a local version active, or activate a prepared session on a Vespa cluster."""

from __future__ import annotations

import argparse
import sys

from appkit.cli.versions import EXIT_OK, EXIT_USAGE, add_store_argument, fail, is_url, store_root

HELP = """Make a deployed version the active one.

  appkit activate 3                       version 3 of the local store (refused if corrupt or incomplete)
  appkit activate 3 --target DIR          in another store
  appkit activate --target http://cfg:19071 [--session ID] [--tenant T]
                                          activate the session prepared by `appkit deploy --no-activate`
                                          (the saved one unless --session is given)

exit codes: 0 activated, 1 refused (corrupt/missing version, server refused), 2 usage, I/O or connection error"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", nargs="?", type=int, metavar="N", help="the local version to activate")
    add_store_argument(parser, remote=True)
    parser.add_argument("--lock-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a deploy in progress (default: 30)")
    remote = parser.add_argument_group("Vespa config server (--target URL)")
    remote.add_argument("--session", metavar="ID", help="the prepared session to activate (default: the saved one)")
    remote.add_argument("--tenant", default="default", help="the tenant (default: default)")
    remote.add_argument("--cert", metavar="PEM", help="TLS client certificate")
    remote.add_argument("--key", metavar="PEM", help="TLS client private key")
    remote.add_argument("--ca-cert", metavar="PEM", help="CA certificate that signs the config server's")
    remote.add_argument("--timeout", type=float, default=360.0, metavar="SECONDS", help="per request (default: 360)")
    remote.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                        help="keep retrying while the config server starts (default: 60)")


def run(args: argparse.Namespace) -> int:
    if is_url(args.target):
        if args.version is not None:
            sys.stderr.write("appkit activate: error: a version number is for the local store; for a config "
                             "server give the session with --session ID (or none for the saved one)\n")
            return EXIT_USAGE
        return _activate_remote(args)
    if args.version is None:
        sys.stderr.write("appkit activate: error: which version? `appkit activate N` (see `appkit versions`)\n")
        return EXIT_USAGE
    from appkit.deploy.store import AK502, AK503, AK504, StoreError, VersionStore

    store = VersionStore(store_root(args), lock_timeout=args.lock_timeout)
    try:
        before = store.active()
        store.activate(args.version)
    except StoreError as e:
        return fail(e, {AK502, AK503, AK504})
    except OSError as e:
        sys.stderr.write(f"appkit activate: error: {store.root}: {e.strerror or e}\n")
        return EXIT_USAGE
    was = f" (was {before})" if before is not None and before != args.version else ""
    print(f"version {args.version} is active{was} in {store.root}")
    return EXIT_OK


def _activate_remote(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from appkit.deploy.vespa import AK521, AK524, AK526, VespaDeployError, activate_session, render_result

    console = Console(stderr=True)
    try:
        result = activate_session(args.target, args.session, args.tenant, Path(args.package) / ".appkit",
                                  args.cert, args.key, args.ca_cert, args.timeout, args.wait,
                                  log=lambda level, text: console.print(f"[dim]{text}[/]"))
    except VespaDeployError as e:
        return fail(e, {AK521, AK524, AK526})
    render_result(result, Console())
    return EXIT_OK
