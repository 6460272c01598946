"""`appkit deploy [PATH]`: validate, compile the bundle, and publish it (local versions or Vespa)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from appkit.cli.report import report

HELP = """Validate the package, compile it into a deterministic bundle, and deploy it.

  appkit deploy                          a new version in .appkit/deployments/ beside the package, activated
  appkit deploy --target DIR             a new version in the store at DIR
  appkit deploy --target https://cfg:19071 [--tenant T] [--no-activate]
                                         the lowered Vespa package to a config server
  appkit deploy --bundle-only -o OUT     write the bundle to OUT (a directory, or OUT.zip)
  appkit deploy --dry-run                validate and compile, write nothing

A package that fails validation is not deployed; the diagnostics say why.
exit codes: 0 deployed, 1 not deployed (validation failed, server refused), 2 usage or I/O error"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="the application package (default: .)")
    parser.add_argument("--target", help="a store directory, or a config server URL (http(s)://host:19071)")
    parser.add_argument("--tenant", default="default", help="Vespa tenant (with a URL target)")
    parser.add_argument("--no-activate", action="store_true",
                        help="publish or prepare without activating (activate later with appkit activate)")
    parser.add_argument("--bundle-only", action="store_true", help="only write the bundle (needs -o)")
    parser.add_argument("-o", "--output", help="bundle destination for --bundle-only: a directory or a .zip")
    parser.add_argument("--dry-run", action="store_true", help="validate and compile; write nothing")
    parser.add_argument("--keep", type=int, help="keep at most N versions (never removes the active one)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="summary format")
    parser.add_argument("--cert", help="TLS client certificate (PEM) for a config server")
    parser.add_argument("--key", help="TLS client key (PEM)")
    parser.add_argument("--ca-cert", help="CA certificate (PEM) to verify the config server")
    parser.add_argument("--timeout", type=float, default=360.0, help="seconds to wait for a config server")


def run(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.is_dir():
        sys.stderr.write(f"appkit deploy: error: {root}: not a directory\n")
        return 2
    if args.bundle_only and not args.output:
        sys.stderr.write("appkit deploy: error: --bundle-only needs -o DIR or -o FILE.zip\n")
        return 2
    if args.keep is not None and args.keep < 1:
        sys.stderr.write("appkit deploy: error: --keep needs a number of versions of at least 1\n")
        return 2
    progress = _Progress(enabled=args.format == "text")
    started = time.perf_counter()
    from appkit.bundle.build import build_bundle

    built = build_bundle(root, progress.say)
    if built.diagnostics:
        out = sys.stdout if args.format == "text" else sys.stderr
        report(built.diagnostics, "text", built.sources, stream=out)
    if built.failed:
        progress.done()
        sys.stderr.write("appkit deploy: not deployed: the package has errors (see above)\n")
        return 1
    summary: dict = {"source_hash": built.source_hash, "files": len(built.entries),
                     "bytes": sum(len(v) for v in built.entries.values()),
                     "models": sorted(built.models), "profiles": built.profile_names}
    try:
        code = _publish(args, root, built, summary, progress)
    finally:
        progress.done()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if code == 0:
        _print_summary(args, summary)
    return code


def _publish(args, root: Path, built, summary: dict, progress: "_Progress") -> int:
    from appkit.diagnostics import AppkitError

    try:
        if args.dry_run:
            summary["action"] = "dry-run"
            return 0
        if args.bundle_only:
            from appkit.bundle.write import write_bundle

            progress.say(f"writing bundle to {args.output}")
            summary["action"], summary["output"] = "bundle", str(write_bundle(built.entries, args.output))
            return 0
        if args.target and args.target.startswith(("http://", "https://")):
            return _deploy_remote(args, root, built, summary, progress)
        from appkit.deploy.store import default_store_root, publish_bundle

        store = Path(args.target) if args.target else default_store_root(root)
        progress.say(f"publishing to {store}")
        version = publish_bundle(store, built.entries, {"source_hash": built.source_hash, "models": sorted(built.models)},
                                 keep=args.keep, activate=not args.no_activate)
        summary.update(action="published", store=str(store), version=version, active=not args.no_activate)
        return 0
    except AppkitError as e:
        progress.done()
        report(e.diagnostics, "text", stream=sys.stderr)
        return 1
    except OSError as e:
        progress.done()
        sys.stderr.write(f"appkit deploy: error: {e.strerror or e}: {getattr(e, 'filename', '') or ''}\n")
        return 2


def _deploy_remote(args, root: Path, built, summary: dict, progress: "_Progress") -> int:
    from appkit.bundle.write import zip_bytes
    from appkit.deploy.vespa import deploy_to_vespa, render_result

    lowered = {k[len("vespa/"):]: v for k, v in built.entries.items() if k.startswith("vespa/")}
    progress.say(f"deploying the lowered package to {args.target}")
    result = deploy_to_vespa(args.target, zip_bytes(lowered), tenant=args.tenant, activate=not args.no_activate,
                             cert=args.cert, key=args.key, ca_cert=args.ca_cert, timeout=args.timeout,
                             state_dir=root / ".appkit")
    progress.done()
    if args.format == "text":
        from rich.console import Console

        render_result(result, Console())
    summary.update(action="deployed" if not args.no_activate else "prepared", target=args.target,
                   session=getattr(result, "session_id", None))
    return 0


def _print_summary(args, summary: dict) -> None:
    if args.format == "json":
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    action = summary.get("action")
    mb = summary["bytes"] / 1e6
    models = ", ".join(summary["models"]) or "none"
    if action == "published":
        state = "active" if summary["active"] else "not activated (appkit activate %d)" % summary["version"]
        print(f"deployed version {summary['version']} to {summary['store']} ({state}): {summary['files']} files, "
              f"{mb:.1f} MB, models: {models}, in {summary['seconds']:.2f} s")
    elif action == "bundle":
        print(f"wrote bundle {summary['output']}: {summary['files']} files, {mb:.1f} MB, models: {models}")
    elif action == "dry-run":
        print(f"dry run: the package is valid and compiles to {summary['files']} files ({mb:.1f} MB); "
              f"models: {models}; nothing written")
    else:
        print(f"{action} to {summary.get('target')}")


class _Progress:
    """A transient status line on a terminal (rich), silence elsewhere."""

    def __init__(self, enabled: bool):
        self.status = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status("deploying")
            self.status.start()

    def say(self, message: str) -> None:
        if self.status is not None:
            self.status.update(message)

    def done(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
