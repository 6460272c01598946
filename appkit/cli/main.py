"""`appkit` entry point: dispatch to a command module, imported only when that command runs.

Each command module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Exit codes (all commands): 0 success; 1 problems found (diagnostics, failed checks); 2 usage or
I/O error (bad arguments, unreadable path); 3 internal error (a bug: please report it); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module, one-line summary); the modules are imported lazily to keep startup fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("appkit.cli.validate", "check an application package (or single files) and report every problem"),
    "eval": ("appkit.cli.eval", "evaluate a ranking expression, or run a tensor conformance file"),
    "models": ("appkit.cli.models", "list the models of a package: inputs, outputs, variables"),
    "convert-variable": ("appkit.cli.convert_variable", "print a TensorFlow variable as a document-update tensor"),
    "verify": ("appkit.cli.verify", "compare imported models with TensorFlow / ONNX Runtime"),
    "ops": ("appkit.cli.ops", "print the supported TensorFlow and ONNX operations"),
    "deploy": ("appkit.cli.deploy", "compile the package into a bundle and deploy it as a new version"),
    "versions": ("appkit.cli.versions", "list the deployed versions"),
    "activate": ("appkit.cli.activate", "make a deployed version the active one"),
    "rollback": ("appkit.cli.rollback", "activate the version before the active one"),
    "rank": ("appkit.cli.rank", "score documents with a rank profile of a package or deployed version"),
    "serve": ("appkit.cli.serve", "serve the active version over HTTP"),
}

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as documented, with a hint
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def _top_parser() -> argparse.ArgumentParser:
    from appkit import __version__

    lines = [f"  {name:<17} {summary}" for name, (_, summary) in COMMANDS.items()]
    parser = _Parser(
        prog="appkit",
        description="Validate, import models into, compile and deploy Vespa application packages.",
        epilog="commands:\n" + "\n".join(lines) + "\n\nexit codes: 0 ok, 1 problems found, 2 usage or I/O "
        "error, 3 internal error\nrun 'appkit COMMAND --help' for a command's options",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"appkit {__version__}")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(top.format_help())
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] == "--version":
        from appkit import __version__

        print(f"appkit {__version__}")
        return EXIT_OK
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = [c for c in COMMANDS if c.startswith(name[:3])]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        sys.stderr.write(f"appkit: error: unknown command '{name}'{hint}\nrun 'appkit --help' for the list\n")
        return EXIT_USAGE
    module_name, summary = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            sys.stderr.write(f"appkit: error: command '{name}' is not available in this build\n")
            return EXIT_USAGE
        raise
    parser = _Parser(prog=f"appkit {name}", description=getattr(module, "HELP", summary),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        sys.stderr.write("appkit: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug: say so plainly, no traceback unless asked for
        if os.environ.get("APPKIT_DEBUG"):
            raise
        sys.stderr.write(
            f"appkit: internal error[AK003]: {type(e).__name__}: {e}\n"
            "  hint: this is a bug in appkit; rerun with APPKIT_DEBUG=1 for the traceback and report it\n"
        )
        return EXIT_INTERNAL


# Commands that leave nothing to clean up at exit (no temporary files, no exit handlers).
_FAST_EXIT = frozenset({"validate"})


def console() -> None:
    """The `appkit` command and `python -m appkit`.

    After `validate`, the process exits without tearing its heap down: freeing a large package's
    model object by object takes as long as validating it, and a pre-commit hook pays for every
    millisecond. Output is flushed first; `main()` itself (used in-process) never does this.
    """
    code = main()
    if sys.argv[1:2] and sys.argv[1] in _FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
