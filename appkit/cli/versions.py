"""`appkit versions`: list the deployed versions of a local store, their status and which is active.

Also home of the small helpers the `activate` and `rollback` commands share (store target, errors).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appkit.diagnostics import AppkitError, Diagnostic

HELP = """List the versions in the local deployment store: number, creation time, source hash, models,
status (ok / corrupt / incomplete) and which one is active.

  appkit versions                     the store of the package in the current directory
  appkit versions --target DIR        another store
  appkit versions --format json       for scripts

exit codes: 0 listed, 1 the active version is corrupt or missing, 2 usage or I/O error"""

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_store_argument(parser: argparse.ArgumentParser, remote: bool = False) -> None:
    what = "the store directory" + (", or a config server URL (http(s)://HOST:19071)" if remote else "")
    parser.add_argument("--target", metavar="DIR" + ("|URL" if remote else ""),
                        help=f"{what} (default: .appkit/deployments of the package in --package)")
    parser.add_argument("--package", metavar="DIR", default=".",
                        help="the application package whose store is used (default: .)")


def store_root(args: argparse.Namespace) -> Path:
    from appkit.deploy.store import default_store_root

    return Path(args.target) if args.target else default_store_root(args.package)


def is_url(target: str | None) -> bool:
    return bool(target) and target.startswith(("http://", "https://"))  # type: ignore[union-attr]


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        sys.stderr.write(f"{d}\n")


def fail(error: AppkitError, refused_codes: set[str]) -> int:
    """Print an error's diagnostics; exit 1 when the operation was refused, 2 for usage or I/O."""
    print_diagnostics(error.diagnostics)
    return EXIT_REFUSED if any(d.code in refused_codes for d in error.diagnostics) else EXIT_USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--quick", action="store_true",
                        help="check file presence and sizes only, not every sha256 (faster for large models)")


def run(args: argparse.Namespace) -> int:
    from appkit.deploy.store import StoreError, VersionStore

    store = VersionStore(store_root(args))
    try:
        versions = store.list_versions(verify=not args.quick)
        leftovers = store.leftovers()
        problems = store.problems()
    except StoreError as e:
        return fail(e, set())
    except OSError as e:
        sys.stderr.write(f"appkit versions: error: cannot read {store.root}: {e.strerror or e}\n")
        return EXIT_USAGE
    active = store.active()
    broken_active = any(v.active and not v.ok for v in versions) or any(d.code in ("AK502", "AK507") for d in problems)
    if args.format == "json":
        json.dump({"store": str(store.root), "active": active,
                   "versions": [v.to_json() for v in versions], "leftovers": [x.to_json() for x in leftovers],
                   "problems": [d.to_json() for d in problems]}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return EXIT_REFUSED if broken_active else EXIT_OK
    _print_table(store.root, versions, leftovers)
    print_diagnostics(problems)
    if broken_active:
        sys.stderr.write(f"the active version ({active}) cannot be served: activate a good one with "
                         "`appkit activate N` or `appkit rollback`\n" if active is not None else
                         "ACTIVE does not name a version: activate one with `appkit activate N`\n")
        return EXIT_REFUSED
    return EXIT_OK


def _print_table(root: Path, versions, leftovers) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not versions and not leftovers:
        console.print(f"no versions in {root} yet: `appkit deploy` publishes the first one")
        return
    table = Table(title=f"versions in {root}", title_justify="left")
    for name in ("", "version", "created", "source hash", "models", "status"):
        table.add_column(name, justify="right" if name == "version" else "left",
                         no_wrap=name in ("created", "source hash"))
    styles = {"ok": "green", "corrupt": "bold red", "incomplete": "yellow", "in progress": "cyan"}
    for v in reversed(versions):
        source = (v.source_hash or "-").removeprefix("sha256:")[:12]
        status = f"[{styles[v.status]}]{v.status}[/]"
        if v.problems and not v.ok:
            status += f"\n[dim]{v.problems[0].message.replace(str(v.path) + ': ', '')}[/]"
        table.add_row("[bold]*[/]" if v.active else "", str(v.version), (v.created or "-").replace("T", " "), source,
                      ", ".join(v.models) or "-", status, style="bold" if v.active else None)
    for x in leftovers:
        state = "in progress" if x.in_progress else "incomplete"
        table.add_row("", "-", "-", "-", x.path.name, f"[{styles[state]}]{state}[/] (not a version)")
    console.print(table)
    active = next((v for v in versions if v.active), None)
    console.print(f"active: version {active.version}" if active else "active: none")
