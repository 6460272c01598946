"""Parses Vespa .sd schema files and .profile rank-profile files into appkit's typed model.

Public API: parse_schema(source) and parse_profile(source), each returning (model or None, diagnostics).
Syntax errors become located diagnostics; Lark exceptions never escape.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePath
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

from appkit.diagnostics import AK003, Diagnostic
from appkit.package.sd_codes import AK200, AK201, AK202, AK203, AK204
from appkit.package import schema as m
from appkit.package import sd_profile as prof
from appkit.package.sd_build import Builder, Node
from appkit.package.sd_grammar import TokenStreamLexer, load_parser
from appkit.package.sd_lalr import Rejected, TableParser
from appkit.package.sd_lexer import LexicalError, SchemaTokenizer
from appkit.source import SourceFile, Span


_SKIPPED = re.compile(r"(?:\s+|#[^\n]*)*")
_WORD = re.compile(r"[^\s{}:#]+|[{}:]")
_tokenizer: SchemaTokenizer | None = None
_parser: Lark | None = None
_table: TableParser | None = None

# What token types mean to a user, for "expected ..." messages.
_CAPTURE_WORDS = {"EXPRESSION": "expression", "INDEXING_SCRIPT": "indexing", "FEATURES": "match-features",
                  "SELECT_ELEMENTS_BY": "select-elements-by"}
_NAME_TOKENS = ("IDENTIFIER", "IDDASH", "DOTTED", "INT_NUM", "LONG_NUM", "VARIABLE")
_TOKEN_WORDS = {"IDENTIFIER": "a name", "IDDASH": "a name", "DOTTED": "a name", "INT_NUM": "an integer",
                "LONG_NUM": "an integer", "DEC_NUM": "a decimal number", "QSTRING": "a quoted string",
                "FILE_PATH": "a file path", "URI_PATH": "a URI", "TENSOR_TYPE": "a tensor type",
                "EXPRESSION": "'expression: ...'", "_NL": "a new line", "$END": "the end of the file",
                "INDEXING_SCRIPT": "'indexing: ...'", "FEATURES": "a feature list", "VARIABLE": "a name"}


def _schema_parser() -> tuple[Lark, SchemaTokenizer]:
    global _parser, _tokenizer
    if _parser is None or _tokenizer is None:
        _parser = load_parser("schema.lark", lexer=TokenStreamLexer, start=["schema_file", "profile_file"],
                              propagate_positions=True)
        keywords = {str(t.pattern.value): str(t.name) for t in _parser.terminals if t.pattern.type == "str"}
        _tokenizer = SchemaTokenizer(keywords)
    return _parser, _tokenizer


def parse_schema(source: SourceFile) -> tuple[m.Schema | None, list[Diagnostic]]:
    """Parse a .sd file: a `schema`/`search` block, or a file of `document` blocks only."""
    tree, diagnostics = _parse(source, "schema_file")
    if tree is None:
        return None, diagnostics
    builder = Builder(source.path, source.text)
    root = tree.children[0]
    try:
        schema = _documents(builder, root) if root.data == "root_documents" else _schema(builder, root)
    except RecursionError:
        return None, diagnostics + [_too_deep(source)]
    except Exception as e:  # a bug in appkit, reported as such rather than as a traceback
        return None, diagnostics + [_internal_error(source, e)]
    if schema is not None:
        _check_file_name(builder, schema, source.path)
    return schema, diagnostics + builder.diagnostics


def parse_profile(source: SourceFile) -> tuple[m.RankProfile | None, list[Diagnostic]]:
    """Parse a .profile file: exactly one `rank-profile` (or `model`) block."""
    tree, diagnostics = _parse(source, "profile_file")
    if tree is None:
        return None, diagnostics
    builder = Builder(source.path, source.text)
    try:
        profile = prof.rank_profile(builder, tree.children[0])
    except RecursionError:
        return None, diagnostics + [_too_deep(source)]
    except Exception as e:  # a bug in appkit, reported as such rather than as a traceback
        return None, diagnostics + [_internal_error(source, e)]
    return profile, diagnostics + builder.diagnostics


def _parse(source: SourceFile, start: str) -> tuple[Tree | None, list[Diagnostic]]:
    parser, tokenizer = _schema_parser()
    text = source.text
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        what = "rank-profile" if start == "profile_file" else "schema"
        return None, [Diagnostic(AK204, f"{source.path} holds no {what}", Span(source.path, 1, 1),
                                 hint="add `schema NAME { document NAME { } }`" if what == "schema"
                                 else "add `rank-profile NAME { ... }`")]
    try:
        try:
            return _table_parser(parser).parse(lambda acceptable: tokenizer.tokens(text, acceptable), start), []
        except Rejected:  # Lark's own parser says where and why, with the context messages need
            return parser.parse(lambda state: tokenizer.tokens(text, _acceptor(state)), start=start), []
    except LexicalError as e:
        span = Builder(source.path, text).span_at(e.offset)
        return None, [Diagnostic(AK201, e.message, span, e.hint)]
    except UnexpectedInput as e:
        return None, [_syntax_error(source, e)]
    except LarkError as e:
        return None, [Diagnostic(AK200, f"cannot parse: {e}", Span(source.path, 1, 1))]
    except RecursionError:
        return None, [_too_deep(source)]


def _table_parser(parser: Lark) -> TableParser:
    global _table
    if _table is None:
        _table = TableParser(parser)
    return _table


def _acceptor(state: Any):
    table = state.parse_conf.parse_table.states
    return lambda: table[state.position]


def _too_deep(source: SourceFile) -> Diagnostic:
    return Diagnostic(AK200, "blocks or types are nested too deeply to read", Span(source.path, 1, 1),
                      hint="check for runaway '{' or '<'")


def _internal_error(source: SourceFile, e: Exception) -> Diagnostic:
    return Diagnostic(AK003, f"internal error while reading this file: {type(e).__name__}: {e}",
                      Span(source.path, 1, 1), hint="report this to the appkit maintainers with the file")


def _syntax_error(source: SourceFile, e: UnexpectedInput) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        return Diagnostic(AK201, "unexpected character", Span(source.path, e.line, e.column))
    token = getattr(e, "token", None)
    expected = set(getattr(e, "expected", ()) or ())
    if not isinstance(token, Token):
        return Diagnostic(AK200, "unexpected end of file", Span(source.path, e.line or 1, e.column or 1))
    context = _context(e)
    found = _describe_token(token)
    if token.type == "_NL" and "_NL" not in expected:
        # Vespa skips newlines before '{' and reports the token after them; so do we
        token, found = _token_after_newline(source.text, token)
    wanted = _describe_expected(expected)
    message = f"expected {wanted}{context}, found {found}"
    if token.type == "$END":
        line = source.text.count("\n") + 1
        column = len(source.text) - source.text.rfind("\n")
        span = Span(source.path, line, max(column, 1))
    else:
        span = Span(source.path, token.line or 1, token.column or 1, token.end_line, token.end_column)
    return Diagnostic(AK200, message, span, _hint(token, expected, e, source.text))


def _token_after_newline(text: str, newline: Token) -> tuple[Token, str]:
    start = _SKIPPED.match(text, newline.end_pos or 0).end()  # type: ignore[union-attr]
    match = _WORD.match(text, start)
    if match is None:
        end = Token("$END", "", len(text), newline.line, newline.column)
        return end, "the end of the file"
    offset = match.start()
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    word = match.group(0)
    found = Token("WORD", word, offset, line, column, line, column + len(word), offset + len(word))
    return found, f"'{word[:40]}'"


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type == "_NL":
        return "the end of the line"
    text = str(token).split("\n", 1)[0]
    return f"'{text[:40]}'" + ("..." if len(text) > 40 else "")


def _describe_expected(expected: set[str]) -> str:
    parser, tokenizer = _schema_parser()
    literal = {name: value for value, name in tokenizer.keywords.items()}
    name_tokens = {"IDENTIFIER", "DOTTED", "INT_NUM", "LONG_NUM", "VARIABLE"}
    words: list[str] = []
    if expected & name_tokens:
        words.append("a name")
    for t in sorted(expected):
        if t in name_tokens:
            continue
        if t in literal:
            value = literal[t]
            if "a name" in words and (value.isalpha() or "-" in value):
                continue  # keywords are names too; do not list a hundred of them
            words.append(f"'{value}'")
        else:
            word = _TOKEN_WORDS.get(t, t.lower())
            if word not in words:
                words.append(word)
    if not words:
        return "something else"
    if len(words) > 10:
        words = words[:10] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _context(e: UnexpectedInput) -> str:
    """Where the parser was: 'after 'rank-profile p'' or 'in 'field title''."""
    interactive = getattr(e, "interactive_parser", None)
    stack = list(getattr(getattr(interactive, "parser_state", None), "value_stack", []) or [])
    words: list[str] = []
    for position in range(len(stack) - 1, -1, -1):
        item = stack[position]
        if isinstance(item, Token):
            if item.type in ("LBRACE", "_NL", "RBRACE"):
                if words:
                    break
                if item.type == "LBRACE":
                    return _block_context(stack[:position])
                continue
            words.insert(0, str(item).split("\n", 1)[0])
            if str(item)[:1].isalpha() and item.type not in ("IDENTIFIER", "IDDASH", "DOTTED"):
                break
        elif isinstance(item, Tree):
            if item.data in ("name", "name_dash", "named_type") or item.data.endswith("_type"):
                words.insert(0, _tree_text(item))
            else:
                break
    shown = " ".join(words).replace(" :", ":").replace(" < ", "<").replace(" >", ">")
    return f" after '{shown}'" if words else ""


def _block_context(stack: list[Any]) -> str:
    """'in 'KEYWORD NAME'' for the block whose '{' is at the end of `stack`."""
    for position in range(len(stack) - 1, -1, -1):
        item = stack[position]
        if isinstance(item, Token) and item.type in ("LBRACE", "RBRACE"):
            break
        if isinstance(item, Token) and str(item)[:1].isalpha() and item.type not in _NAME_TOKENS:
            after = stack[position + 1] if position + 1 < len(stack) else None
            named = isinstance(after, Tree) and after.data in ("name", "name_dash")
            return f" in '{item}{' ' + _tree_text(after) if named else ''}'"
    return ""


def _open_blocks(e: UnexpectedInput) -> list[tuple[str, int]]:
    """The blocks still open at an error: (what, line of its '{'), outermost first."""
    interactive = getattr(e, "interactive_parser", None)
    stack = list(getattr(getattr(interactive, "parser_state", None), "value_stack", []) or [])
    return [(_block_context(stack[:i]).strip()[4:-1] or "{", item.line or 0) for i, item in enumerate(stack)
            if isinstance(item, Token) and item.type == "LBRACE"]


def _tree_text(tree: Tree) -> str:
    return "".join(str(t) for t in tree.scan_values(lambda v: isinstance(v, Token)))


def _hint(token: Token, expected: set[str], e: UnexpectedInput, text: str) -> str | None:
    if token.type == "$END" and "RBRACE" in expected:
        blocks = _open_blocks(e)
        if blocks:
            what, line = blocks[-1]
            return f"a block is not closed: add the missing '}}' (the innermost open block is '{what}', line {line})"
        return "a block is not closed: add the missing '}'"
    if token.type == "RBRACE" and "$END" in expected:
        return "remove the extra '}'"
    if token.type == "IDDASH" and expected & {"IDENTIFIER"}:
        return "schema, document, field, struct and function names cannot contain '-': use '_'"
    if str(token) in ("(", "<") and re.search(r"\btensor\s+$", text[: token.start_pos or 0]):
        return "write a tensor type without spaces before '(' or '<': tensor<float>(x[3])"
    if expected == {"LBRACE"}:
        return "add '{' here"
    if expected == {"EXPRESSION"}:
        return "a function body is one expression: 'expression: ...' or 'expression { ... }'"
    if token.type in ("IDENTIFIER", "IDDASH", "DOTTED"):
        suggestion = _close_keyword(str(token), expected)
        if suggestion:
            return f"did you mean '{suggestion}'?"
        if "RBRACE" in expected:
            return "this is not a setting Vespa knows here; check the spelling or the enclosing block"
    return None


def _close_keyword(word: str, expected: set[str]) -> str | None:
    _, tokenizer = _schema_parser()
    literal = {name: value for value, name in tokenizer.keywords.items()}
    candidates = [literal[t] for t in expected if t in literal and literal[t][:1].isalpha()]
    candidates += [w for t, w in _CAPTURE_WORDS.items() if t in expected]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


# ---------------------------------------------------------------------- schema level
def _schema(b: Builder, node: Tree) -> m.Schema:
    kids = node.children
    name = b.name(kids[0])
    inherits = (b.name(kids[1]),) if kids[1] is not None else ()
    parts: dict[str, list] = {k: [] for k in ("fields_outside_document", "structs", "annotations", "fieldsets",
                                              "document_summaries", "rank_profiles", "constants",
                                              "onnx_models", "imported_fields", "indexes")}
    single: dict[str, Any] = {}
    for item in b.trees(kids[2:]):
        if item.data == "document":
            doc = _document(b, item, name)
            if "document" in single:
                b.error(AK203, f"schema '{name}' already has document '{single['document'].name}' so cannot "
                                 f"add document '{doc.name}'", item, hint="keep one document per schema")
                continue
            single["document"] = doc
        else:
            _schema_item(b, item, parts, single)
    return m.Schema(name, b.span(node), b.path, inherits, **{k: tuple(v) for k, v in parts.items()}, **single)


def _schema_item(b: Builder, item: Tree, parts: dict[str, list], single: dict[str, Any]) -> None:
    kind = item.data
    if kind == "field":
        parts["fields_outside_document"].append(b.field(item))
    elif kind == "struct":
        parts["structs"].append(_struct(b, item))
    elif kind == "annotation":
        parts["annotations"].append(_struct(b, item, annotation=True))
    elif kind == "fieldset":
        parts["fieldsets"].append(_fieldset(b, item))
    elif kind == "document_summary":
        parts["document_summaries"].append(_document_summary(b, item))
    elif kind == "rank_profile":
        parts["rank_profiles"].append(prof.rank_profile(b, item))
    elif kind == "schema_constant":
        parts["constants"].append(prof.schema_constant(b, item))
    elif kind == "onnx_model":
        parts["onnx_models"].append(prof.onnx_model(b, item))
    elif kind == "import_field":
        imported = prof.import_field(b, item)
        if imported is not None:
            parts["imported_fields"].append(imported)
    elif kind == "index":
        settings = b.index(item, "")
        parts["indexes"].append(m.IndexDecl(settings.name, settings.span, settings.settings))
    elif kind == "stemming":
        single["stemming"] = b.simple_field_setting(item).value
    elif kind == "raw_as_base64":
        single["raw_as_base64"] = b.value(item.children[0]) if item.children[0] is not None else True
    elif kind == "documentid":
        single["documentid"] = str(item.children[-1])


def _documents(b: Builder, node: Tree) -> m.Schema | None:
    docs = [_document(b, d, "") for d in b.trees(node.children, "document")]
    if not docs:
        b.error(AK204, f"{b.path} holds no schema and no document", Span(b.path, 1, 1),
                hint="add `schema NAME { document NAME { } }`")
        return None
    for extra in docs[1:]:
        b.error(AK203, f"a document-only file may hold one document: found '{extra.name}' after '{docs[0].name}'",
                extra.span, hint=f"move document '{extra.name}' to its own file {extra.name}.sd")
    first = docs[0]
    return m.Schema(first.name, first.span, b.path, document=first, document_only=True)


def _document(b: Builder, node: Tree, default_name: str) -> m.Document:
    kids = node.children
    name = b.name(kids[0]) if kids[0] is not None else default_name
    inherits: tuple[str, ...] = ()
    fields, structs, annotations = [], [], []
    for item in b.trees(kids[1:]):
        if item.data == "document_inherits":
            inherits = b.names(item.children)
        elif item.data == "field":
            fields.append(b.field(item))
        elif item.data == "struct":
            structs.append(_struct(b, item))
        elif item.data == "annotation":
            annotations.append(_struct(b, item, annotation=True))
    return m.Document(name, b.span(node), inherits, tuple(fields), tuple(structs), tuple(annotations))


def _struct(b: Builder, node: Tree, annotation: bool = False) -> Any:
    kids = node.children
    inherits: tuple[str, ...] = ()
    fields = []
    for item in b.trees(kids[1:]):
        if item.data in ("struct_inherits", "annotation_inherits"):
            inherits = b.names(item.children)
        elif item.data == "struct_field_def":
            fields.append(b.field(item))
    cls = m.Annotation if annotation else m.Struct
    return cls(b.name(kids[0]), b.span(node), inherits, tuple(fields))


def _fieldset(b: Builder, node: Tree) -> m.FieldSet:
    fields: list[str] = []
    commands: list[str] = []
    match: list[m.Setting] = []
    for item in b.trees(node.children[1:]):
        if item.data == "fieldset_fields":
            fields.extend(b.names(item.children))
        elif item.data == "query_command":
            commands.append(str(b.value(item.children[0])))
        elif item.data == "match":
            match.extend(b.match(item))
    return m.FieldSet(b.name(node.children[0]), b.span(node), tuple(fields), tuple(commands), tuple(match))


def _document_summary(b: Builder, node: Tree) -> m.DocumentSummary:
    kids = node.children
    names = [k for k in kids if isinstance(k, Tree) and k.data == "name_dash"]
    flags = {str(k) for k in kids if isinstance(k, Token) and k.type != "_NL"}
    fields = tuple(b.summary(k, in_field=False) for k in b.trees(kids, "summary_in_document"))
    return m.DocumentSummary(b.name(names[0]), b.span(node), b.names(names[1:]), fields,
                             "from-disk" in flags, "omit-summary-features" in flags)


def _check_file_name(b: Builder, schema: m.Schema, path: str) -> None:
    # Vespa checks this when it loads an application package's schemas/ (IntermediateCollection),
    # not for a .sd file parsed on its own (its tests parse many files named otherwise).
    file = PurePath(path)
    if file.suffix == ".sd" and file.parent.name in ("schemas", "searchdefinitions") and file.stem != schema.name:
        b.error(AK202, f"the file containing schema '{schema.name}' must be named '{schema.name}.sd'",
                schema.span, hint=f"rename {file.name} to {schema.name}.sd")


__all__ = ["parse_schema", "parse_profile", "Node"]
