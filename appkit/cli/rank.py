"""`appkit rank`: score documents with a rank profile of a package, a bundle, or a deployed version.

Argument parsing and printing only; loading and ranking live in appkit.serve.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

HELP = """Score documents with a rank profile, as Vespa would: first-phase on every document, second-phase
on the best rerank-count (default 100), then global-phase if the profile has one.

  appkit rank sample_app --profile item/base --docs docs.jsonl --query 'query(q)=[1,2,3,4]'
  appkit rank bundle_dir --profile item/base --docs docs.jsonl
  appkit rank --version 3 --profile item/base --docs docs.jsonl     (a deployed version; default: active)

PATH is a package (compiled in memory) or a bundle (directory or .zip). Without PATH the store's
version is used (--target DIR, default .appkit/deployments of the package in --package).
--docs is JSON Lines, one Vespa document per line: {"put": "id:ns:item::1", "fields": {...}} or a bare
field map; tensors in any document-JSON form. '-' reads standard input. Features that need Vespa's
index (bm25(title), fieldMatch(title).completeness) are given per document beside the fields:
"rankfeatures": {"bm25(title)": 1.5}.
--query NAME=VALUE gives a query input: a tensor literal ([1,2,3,4], tensor(x[2]):[1,2], {a:1}) or JSON.

Output (JSONL, best first): id, index (position in --docs), relevance, each phase's score (a phase that
did not re-rank the document has none), summaryfeatures and matchfeatures.

exit codes: 0 ranked, 1 problems in the documents, query values or profile, 2 usage or I/O error"""

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a package or a bundle (default: a deployed version)")
    parser.add_argument("--version", type=int, metavar="N", help="a deployed version (default: the active one)")
    parser.add_argument("--target", metavar="DIR", help="the store directory (default: .appkit/deployments)")
    parser.add_argument("--package", metavar="DIR", default=".", help="the package whose store is used")
    parser.add_argument("--profile", required=True, metavar="SCHEMA/PROFILE", help="the rank profile")
    parser.add_argument("--docs", required=True, metavar="FILE.jsonl", help="documents, one per line ('-': stdin)")
    parser.add_argument("--query", action="append", default=[], metavar="NAME=VALUE", help="a query input value")
    parser.add_argument("--format", choices=("jsonl", "table"), help="output (default: table on a terminal)")


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"appkit rank: error: {message}\n")
    return code


def _source(args: argparse.Namespace) -> tuple[Any, int | None, list[Any], dict[str, Any]]:
    """(bundle source, version, diagnostics, sources); raises RankingError when there is none."""
    from appkit.serve.errors import AK609, RankingError

    if args.path is not None and args.version is None:
        path = Path(args.path)
        if path.is_file() and path.suffix == ".zip":
            from appkit.bundle.write import read_bundle

            return read_bundle(path), None, [], {}
        if (path / "manifest.json").is_file():
            return path, None, [], {}
        if not path.is_dir():
            raise RankingError(AK609, f"{path}: not a package, bundle directory or bundle .zip",
                               "give a package directory, a bundle, or --version N")
        from appkit.bundle.build import build_bundle

        built = build_bundle(path)
        return (None if built.failed else built.entries), None, built.diagnostics, built.sources
    from appkit.deploy.store import VersionStore, default_store_root

    root = Path(args.target) if args.target else default_store_root(args.path or args.package)
    store = VersionStore(root)
    version = args.version if args.version is not None else store.active()
    if version is None:
        raise RankingError(AK609, f"no version is active in {root}", "deploy first (appkit deploy), or give "
                           "a package or bundle PATH")
    info = store.info(version, verify=False)
    if info is None:
        known = ", ".join(str(v.version) for v in store.list_versions(verify=False)) or "none"
        raise RankingError(AK609, f"version {version} does not exist in {root} (versions: {known})",
                           "pick a version `appkit versions` lists")
    return store.version_path(version), version, [], {}


def _query_args(texts: list[str]) -> dict[str, Any]:
    from appkit.serve.errors import AK604, RankingError

    out: dict[str, Any] = {}
    for text in texts:
        name, eq, value = text.partition("=")
        if not eq or not name.strip():
            raise RankingError(AK604, f"--query '{text}' is not NAME=VALUE", "write --query 'query(q)=[1,2,3]'")
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            out[name.strip()] = value  # a tensor literal
    return out


def run(args: argparse.Namespace) -> int:
    from appkit.cli.report import render_text
    from appkit.diagnostics import Severity
    from appkit.serve.errors import RankingError
    from appkit.serve.runtime import RankingBundle
    from appkit.source import SourceFile

    if args.path is not None and args.version is not None:
        return _fail("give either PATH or --version N, not both")
    try:
        source, version, diagnostics, sources = _source(args)
    except RankingError as e:
        return _fail(f"{e.message}" + (f"\n  hint: {e.hint}" if e.hint else ""))
    if diagnostics:
        render_text(diagnostics, sources, sys.stderr)
    if source is None:
        sys.stderr.write("appkit rank: the package has errors (see above)\n")
        return EXIT_PROBLEMS
    try:
        text = sys.stdin.read() if args.docs == "-" else Path(args.docs).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return _fail(f"cannot read {args.docs}: {e}")
    docs_path = "<stdin>" if args.docs == "-" else args.docs
    sources = {docs_path: SourceFile(docs_path, text)}
    try:
        bundle = RankingBundle.load(source, version, only=[args.profile])
        profile = bundle.profile(args.profile)
        query = _query_args(args.query)
        from appkit.serve.documents import read_documents

        docs, errors = read_documents(text.splitlines(), profile.fields)
        if errors:
            render_text([e.to_diagnostic(docs_path) for e in errors], sources, sys.stderr)
            return EXIT_PROBLEMS
        request = profile.request(docs, query)
        hits = profile.rank_many([request])[0]
    except RankingError as e:
        render_text([e.to_diagnostic(None)], sources, sys.stderr)
        return EXIT_PROBLEMS if e.severity is Severity.ERROR else EXIT_OK
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    if fmt == "table":
        _table(hits, profile, sys.stdout)
    else:
        for hit in hits:
            sys.stdout.write(json.dumps(hit) + "\n")
    return EXIT_OK


def _table(hits: list[dict[str, Any]], profile: Any, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{profile.key}: {len(hits)} documents")
    table.add_column("#", justify="right")
    table.add_column("id", overflow="fold")  # ids are what the reader looks for: wrap them, never cut them
    table.add_column("relevance", justify="right")
    phases = [p for p in ("first-phase", "second-phase", "global-phase") if p in profile.phases]
    for p in phases:
        table.add_column(p, justify="right")
    features = list(profile.summary)
    for f in features:
        table.add_column(f)
    for rank, hit in enumerate(hits, 1):
        cells = [str(rank), str(hit["id"] if hit["id"] is not None else f"line {hit['index'] + 1}"),
                 _fmt(hit["relevance"])]
        cells += [_fmt(hit[p]) if p in hit else "-" for p in phases]
        cells += [_fmt(hit.get("summaryfeatures", {}).get(f)) for f in features]
        table.add_row(*[Text(c) for c in cells])  # Text: ids like id:a:item::1 are not markup or emoji
    Console(file=out, emoji=False, highlight=False).print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if not isinstance(value, str) else value
