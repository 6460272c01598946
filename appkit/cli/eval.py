"""`appkit eval`: evaluate one ranking expression with given values, or run a tensor conformance file.

Argument parsing and printing only; parsing, type checking and evaluation live in appkit.expr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from appkit.diagnostics import AppkitError, Diagnostic, rule
from appkit.source import SourceFile, Span

HELP = """Evaluate a ranking expression and print the result in tensor literal form.

  appkit eval 'sum(query(q) * attribute(a))' 'query(q)=tensor(x[3]):[1,2,3]' 'attribute(a)=tensor(x[3]):[4,5,6]'
  appkit eval 'reduce(t, max, x)' t=@t.json
  appkit eval --spec tensor_conformance.jsonl

A value is a tensor literal (`tensor(x[2]):[1,2]`, `tensor(k{}):{a:1.0}`, `3.5`; the short forms `[1,2]`
and `{a:1.0}` where the type is declared), Vespa document JSON
(`{"type": "tensor(x[2])", "values": [1,2]}`), or @FILE holding either. NAME is a feature as the
expression writes it (`query(q)`, `attribute(a)`, `constant(W)`) or a bare name.
An expression that starts with '-' goes after --: appkit eval -- '-a' a=2.
--spec runs every case of a Vespa conformance file (expression, binary inputs, result.expect) and
ends with the line `N passed, M failed`.

exit codes: 0 ok (all cases passed), 1 the expression or a value has errors, or a case failed,
2 usage error or unreadable file"""

AK370 = rule("AK370", "value argument is not NAME=VALUE", example="appkit eval 'a*2' a",
             fix="write the value after an equals sign: appkit eval 'a*2' a=3")
AK371 = rule("AK371", "conformance file line is not a test case",
             example='a line with {"expression": "a+b"} but no "result"',
             fix='each line needs "expression", "inputs" and "result": {"expect": "0x..."}')

EXPRESSION_PATH = "<expression>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", nargs="?", help="the ranking expression to evaluate")
    parser.add_argument("values", nargs="*", metavar="NAME=VALUE", help="values of features and names")
    parser.add_argument("--spec", metavar="FILE.jsonl", help="run a tensor conformance file instead")
    parser.add_argument("--seed", type=int, default=None, help="seed for random(...)")
    parser.add_argument("--json", action="store_true", help="print the result as Vespa document JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="with --spec: print only the summary line")
    parser.add_argument("--app", metavar="PATH", help="evaluate in the context of this application package")
    parser.add_argument("--profile", metavar="[SCHEMA/]PROFILE",
                        help="with --app: the rank profile whose functions, constants and inputs apply (default: default)")


def run(args: argparse.Namespace) -> int:
    if args.spec:
        if args.expression:
            sys.stderr.write("appkit eval: error: give either an expression or --spec, not both\n")
            return 2
        return run_spec(Path(args.spec), sys.stdout, args.quiet)
    if not args.expression:
        sys.stderr.write("appkit eval: error: give an expression (or --spec FILE); see appkit eval --help\n")
        return 2
    if args.app:
        return _run_in_app(args)
    if args.profile:
        sys.stderr.write("appkit eval: error: --profile goes with --app PATH\n")
        return 2
    return run_expression(args.expression, args.values, args.seed, args.json, sys.stdout, sys.stderr)


def _run_in_app(args: argparse.Namespace) -> int:
    from appkit.bundle.profile_context import profile_context

    root = Path(args.app)
    if not root.is_dir():
        sys.stderr.write(f"appkit eval: error: {root}: not a directory\n")
        return 2
    ctx = profile_context(root, args.profile)
    if ctx.diagnostics:
        _report(ctx.diagnostics, {}, sys.stderr)
        return 1
    return run_expression(args.expression, args.values, args.seed, args.json, sys.stdout, sys.stderr,
                          functions=ctx.functions, known_values=ctx.values, known_types=ctx.types,
                          rewrite=ctx.lower, before_evaluation=ctx.before_evaluation)


def _report(diagnostics: list[Diagnostic], sources: dict[str, SourceFile], err: TextIO) -> None:
    from appkit.cli.report import render_text

    render_text(diagnostics, sources, err)


def parse_value(name: str, text: str, declared: Any = None):  # type: ignore[no-untyped-def]
    """A tensor from NAME=VALUE text: literal, JSON, or @file holding either; `declared` is the type the
    name is declared with, if known (it lets short forms omit the type). Raises AppkitError."""
    from appkit.tensor.jsonformat import parse_tensor_json
    from appkit.tensor.literal import parse_tensor_literal
    from appkit.tensor.value import TensorValueError

    where = f"<value of {name}>"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise AppkitError(Diagnostic("AK001", f"cannot read {path}: {e}", None,
                                         "give a readable UTF-8 file after @")) from None
        where = str(path)
    stripped = text.strip()
    try:
        if stripped.startswith(("{", "[", '"')) and _is_json(stripped):
            return parse_tensor_json(stripped, declared), where, text
        return parse_tensor_literal(stripped, declared), where, text
    except TensorValueError as e:
        raise AppkitError(e.to_diagnostic(where)) from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _parse_values(value_args: list[str], known_types: Mapping[str, Any],
                  sources: dict[str, SourceFile]) -> tuple[dict[str, Any], list[Diagnostic], bool]:
    """The NAME=VALUE arguments as tensors, every problem as a diagnostic (their texts are added to
    `sources` for snippets), and whether a file could not be read (exit 2 rather than 1)."""
    diagnostics: list[Diagnostic] = []
    values = {}
    unreadable = False
    for i, arg in enumerate(value_args):
        name, eq, value = arg.partition("=")
        name = name.strip()
        if not eq or not name:
            diagnostics.append(Diagnostic(AK370, f"'{arg}' is not NAME=VALUE", Span(f"<argument {i + 1}>", 1, 1),
                                          f"write {arg or 'NAME'}=VALUE, e.g. 'query(q)=tensor(x[2]):[1,2]'"))
            continue
        try:
            values[name] = parse_value(name, value, known_types.get(name))[0]
        except AppkitError as e:
            diagnostics.extend(e.diagnostics)
            unreadable |= any(d.code == "AK001" for d in e.diagnostics)
            path = value[1:] if value.startswith("@") else f"<value of {name}>"
            try:
                shown = Path(path).read_text(encoding="utf-8") if value.startswith("@") else value
            except (OSError, UnicodeDecodeError):
                continue
            sources[path] = SourceFile(path, shown)
    return values, diagnostics, unreadable


def run_expression(text: str, value_args: list[str], seed: int | None, as_json: bool, out: TextIO,
                   err: TextIO, *, functions: Mapping[str, Any] | None = None,
                   known_values: Mapping[str, Any] | None = None,
                   known_types: Mapping[str, Any] | None = None, rewrite: Any = None,
                   before_evaluation: Any = None) -> int:
    """Evaluate `text` with NAME=VALUE arguments. `functions` (name -> (params, body)), `known_values`
    (constants) and `known_types` (declared inputs and attributes) are where a rank profile plugs in,
    for `--app PATH --profile NAME`; values given on the command line take precedence."""
    from appkit.expr.evaluate import EvalContext, evaluate
    from appkit.expr.parse import parse_expression
    from appkit.expr.typecheck import TypeContext, check_types

    sources = {EXPRESSION_PATH: SourceFile(EXPRESSION_PATH, text)}
    values, diagnostics, unreadable = _parse_values(value_args, known_types or {}, sources)
    try:
        expr = parse_expression(text, path=EXPRESSION_PATH)
        if rewrite is not None:  # --app: model features lowered as in the profile
            expr = rewrite(expr)
    except AppkitError as e:
        _report(diagnostics + list(e.diagnostics), sources, err)
        return 1
    if diagnostics:
        _report(diagnostics, sources, err)
        return 2 if unreadable else 1
    types = dict(known_types or {})
    types.update({k: v.type for k, v in (known_values or {}).items()})
    types.update({k: v.type for k, v in values.items()})
    _, type_errors = check_types(expr, TypeContext(features=types, functions=functions or {}), path=EXPRESSION_PATH)
    if type_errors:
        _report(type_errors, sources, err)
        return 1
    try:
        all_values = {**(known_values or {}), **values}
        if before_evaluation is not None:  # --app: declared ONNX models run in ONNX Runtime
            before_evaluation(all_values)
        result = evaluate(expr, EvalContext(all_values, functions or {}, seed))
    except AppkitError as e:
        _report(list(e.diagnostics), sources, err)
        return 1
    if as_json:
        from appkit.tensor.jsonformat import format_tensor_json

        out.write(format_tensor_json(result) + "\n")
    else:
        from appkit.tensor.literal import format_tensor

        out.write(format_tensor(result) + "\n")
    return 0


def run_spec(path: Path, out: TextIO, quiet: bool = False) -> int:
    from appkit.expr.evaluate import run_conformance_case
    from appkit.tensor.literal import format_tensor

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        sys.stderr.write(f"appkit eval: error[AK001]: cannot read {path}: {e}\n")
        return 2
    passed = failed = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as e:
            failed += 1
            out.write(f"{path}:{number}: error[{AK371}]: not JSON ({e.msg})\n")
            continue
        if not isinstance(case, dict) or "expression" not in case:
            continue  # summary lines such as {"num_tests": 1987}
        if not isinstance(case.get("result"), dict) or "expect" not in case["result"]:
            failed += 1
            out.write(f"{path}:{number}: error[{AK371}]: case has no result.expect\n")
            continue
        result = run_conformance_case(case)
        if result.passed:
            passed += 1
            continue
        failed += 1
        if not quiet:
            out.write(f"{path}:{number}: FAILED {result.expression}\n")
            if result.error:
                out.write(f"  error:    {result.error}\n")
            if result.expected is not None:
                out.write(f"  expected: {format_tensor(result.expected)}\n")
            if result.actual is not None:
                out.write(f"  actual:   {format_tensor(result.actual)}\n")
    out.write(f"{passed} passed, {failed} failed\n")
    return 1 if failed else 0
