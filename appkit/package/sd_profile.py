"""Builds RankProfile, constants, inputs and onnx-model declarations from the schema parse tree.

Expressions and feature lists are kept as raw text with the span of their first character, for the
ranking-expression parser; tensor values in inputs and constants are kept as written.
"""

from __future__ import annotations

import re

from lark import Token, Tree

from appkit.package import schema as m
from appkit.package.sd_build import Builder, Node
from appkit.package.sd_codes import AK212, AK214, AK217

_FEATURES_HEAD = re.compile(r"(match|summary|rank)-features\s*(?:inherits\s+([^{]*?)\s*)?[:{]")


def rank_profile(b: Builder, node: Tree) -> m.RankProfile:
    kids = node.children
    name = b.name(kids[0])
    inherits = b.names([k for k in kids[1:] if isinstance(k, Tree) and k.data == "name_dash"])
    body = [k for k in kids[1:] if not (isinstance(k, Tree) and k.data == "name_dash")]
    parts: dict[str, list] = {k: [] for k in ("functions", "inputs", "constants", "match_features",
                                              "summary_features", "rank_features", "rank_properties",
                                              "onnx_models", "settings", "mutate", "field_settings", "profiles")}
    single: dict[str, object] = {}
    seen_functions: dict[str, m.Function] = {}
    for item in body:
        if isinstance(item, Token):
            if item.type == "FEATURES":
                feature_list = features(b, item)
                parts[feature_list.kind.replace("-", "_")].append(feature_list)
            continue
        if not isinstance(item, Tree):
            continue
        _profile_item(b, item, name, parts, single, seen_functions)
    is_model = b.text.startswith("model", node.meta.start_pos) if hasattr(node.meta, "start_pos") else False
    return m.RankProfile(name, b.span(node), inherits, is_model=is_model,
                         **{k: tuple(v) for k, v in parts.items()}, **single)  # type: ignore[arg-type]


def _profile_item(b: Builder, item: Tree, profile: str, parts: dict[str, list], single: dict[str, object],
                  seen_functions: dict[str, m.Function]) -> None:
    kind = item.data
    if kind == "function":
        fn = function(b, item)
        if fn.name in seen_functions:
            b.error(AK212, f"function '{fn.name}' is defined twice in rank profile '{profile}'", fn.span,
                    hint=f"remove one of the definitions (the first is at line {seen_functions[fn.name].span.line})")
        seen_functions[fn.name] = fn
        parts["functions"].append(fn)
    elif kind in ("first_phase", "second_phase", "global_phase"):
        single[kind] = phase(b, item)
    elif kind == "inputs":
        parts["inputs"].extend(input_decl(b, i) for i in b.trees(item.children, "input"))
    elif kind == "constants":
        parts["constants"].extend(constant(b, c) for c in b.trees(item.children))
    elif kind == "rank_properties":
        parts["rank_properties"].extend(rank_property(b, p) for p in b.trees(item.children))
    elif kind == "onnx_model":
        parts["onnx_models"].append(onnx_model(b, item))
    elif kind == "rank_profile":
        parts["profiles"].append(rank_profile(b, item))
    elif kind == "mutate":
        parts["mutate"].extend(mutate_operation(b, op) for op in b.trees(item.children))
    elif kind in ("match_phase", "diversity"):
        single[kind] = tuple(_block_settings(b, item))
    elif kind in ("significance", "weakand"):
        parts["settings"].extend(m.Setting(f"{kind}.{s.name}", s.value, s.span) for s in _block_settings(b, item))
    elif kind == "profile_flag":
        parts["settings"].append(m.Setting("ignore-default-rank-features", True, b.span(item)))
    elif kind == "profile_setting":
        parts["settings"].append(b.setting(item))
    elif kind in ("profile_field_rank", "profile_field_weight", "profile_field_rank_type"):
        parts["field_settings"].append(field_setting(b, item))


def _block_settings(b: Builder, node: Tree) -> list[m.Setting]:
    out = []
    for item in b.trees(node.children):
        if item.children and isinstance(item.children[0], Tree) and item.children[0].data == "diversity":
            item = item.children[0]
        if item.data == "diversity":
            out.extend(m.Setting(f"diversity.{s.name}", s.value, s.span) for s in _block_settings(b, item))
        elif item.data == "bool":
            out.append(m.Setting("use-model", b.value(item), b.span(item)))
        else:
            out.append(b.setting(item))
    return out


def function(b: Builder, node: Tree) -> m.Function:
    kids = node.children
    inline = kids[0] is not None
    name = b.name(kids[1])
    rest = kids[2:]
    if rest and isinstance(rest[0], Token) and rest[0].type == "DOLLAR":
        name += "$"
    params = b.names([k for k in rest if isinstance(k, Tree)])
    expression_token = next(k for k in rest if isinstance(k, Token) and k.type == "EXPRESSION")
    return m.Function(name, params, expression(b, expression_token), b.span(node), inline)


def expression(b: Builder, token: Token) -> m.ExpressionText:
    image = str(token)
    colon, brace = image.find(":"), image.find("{")
    if brace >= 0 and (colon < 0 or brace < colon):
        text, span = b.raw_text(token, brace + 1)
        text = text[:-1].rstrip() if text.endswith("}") else text
    else:
        text, span = b.raw_text(token, colon + 1)
    ref = m.ExpressionText(text, span)
    if ref.file_reference is not None and ".." in ref.file_reference.split("/"):
        b.error(AK214, f"'..' is not allowed in expression file name '{ref.file_reference}'", span,
                hint="put the .expression file in the schema's directory and name it without a path")
    return ref


def phase(b: Builder, node: Tree) -> m.Phase:
    expr = None
    settings = []
    for item in b.trees(node.children, "phase_item"):
        first = item.children[0]
        if isinstance(first, Token) and first.type == "EXPRESSION":
            expr = expression(b, first)
        else:
            settings.append(b.setting(item))
    return m.Phase(expr, b.span(node), tuple(settings))


def features(b: Builder, token: Token) -> m.FeatureList:
    image = str(token)
    head = _FEATURES_HEAD.match(image)
    if head is None:  # the tokenizer only makes FEATURES tokens that match; keep the text anyway
        text, span = b.raw_text(token, 0)
        return m.FeatureList("rank-features", text, span)
    inherits = tuple(n.strip() for n in head.group(2).split(",")) if head.group(2) else ()
    text, span = b.raw_text(token, head.end())
    if image[head.end() - 1] == "{" and text.endswith("}"):
        text = text[:-1].rstrip()
    return m.FeatureList(f"{head.group(1)}-features", text, span, inherits)


def input_decl(b: Builder, node: Tree) -> m.Input:
    name_node, type_node, value_node = node.children
    query_form = name_node.data == "query_input_name"
    name = b.name(name_node.children[0])
    tensor_type, type_name = value_type(b, type_node)
    default = tensor_value_text(b, value_node) if value_node is not None else None
    return m.Input(name, query_form, b.span(node), tensor_type, type_name, default)


def value_type(b: Builder, node: Tree | None):
    if node is None:
        return None, None
    first = node.children[0]
    if isinstance(first, Token) and first.type == "TENSOR_TYPE":
        return b.tensor_type(first), None
    return None, str(first)


def tensor_value_text(b: Builder, node: Node) -> str:
    """A tensor value as written (newlines folded), e.g. `{{x:a}:1.0}` or `[1, 2]`."""
    return " ".join(source_text(b, node).split())


def source_text(b: Builder, node: Node) -> str:
    if isinstance(node, Token):
        return str(node)
    meta = node.meta
    if getattr(meta, "empty", True):
        return ""
    return b.text[meta.start_pos:meta.end_pos]


def constant(b: Builder, node: Tree) -> m.ConstantDecl:
    kids = node.children
    name = b.name(kids[0].children[0])
    span = b.span(node)
    if node.data == "deprecated_constant":
        tensor_type, value = None, None
        for item in kids[1:]:
            if isinstance(item, Tree) and item.data == "type_item":
                tensor_type = b.tensor_type(item.children[-1])
            elif isinstance(item, Token) and item.type == "TENSOR_VALUE":
                value = _deprecated_tensor_value(str(item))
        return m.ConstantDecl(name, span, tensor_type, value)
    tensor_type, _ = value_type(b, kids[1])
    target = kids[-1]
    if isinstance(target, Tree) and target.data == "file_item":
        return m.ConstantDecl(name, span, tensor_type, None, file=b.path_value(target, "constant file"))
    return m.ConstantDecl(name, span, tensor_type, tensor_value_text(b, target))


def _deprecated_tensor_value(image: str) -> str:
    """`value: {...}` or `value { {...} }`, as Vespa cuts them (tensorValuePrefixedByValue())."""
    rest = image[len("value"):].lstrip()
    if rest.startswith(":"):
        body = rest[1:]
    else:
        body = image[image.index("{") + 1:image.rindex("}")]
    return " ".join(body.split())


def schema_constant(b: Builder, node: Tree) -> m.ConstantDecl:
    kids = node.children
    file = uri = None
    tensor_type = None
    for item in b.trees(kids[1:]):
        if item.data == "file_item":
            file = b.path_value(item, "constant file")
        elif item.data == "uri_item":
            uri = str(item.children[-1])
        elif item.data == "type_item":
            tensor_type = b.tensor_type(item.children[-1])
    return m.ConstantDecl(b.name(kids[0]), b.span(node), tensor_type, None, file, uri)


def onnx_model(b: Builder, node: Tree) -> m.OnnxModelDecl:
    kids = node.children
    file = uri = None
    inputs, outputs, settings = [], [], []
    for item in kids[1:]:
        if isinstance(item, Token) and item.type in ("ONNX_INPUT", "ONNX_OUTPUT"):
            (inputs if item.type == "ONNX_INPUT" else outputs).append(onnx_binding(b, item))
        elif isinstance(item, Tree) and item.data == "file_item":
            file = b.path_value(item, "onnx-model file")
        elif isinstance(item, Tree) and item.data == "uri_item":
            uri = str(item.children[-1])
        elif isinstance(item, Tree):
            settings.append(b.setting(item))
    return m.OnnxModelDecl(b.name(kids[0]), b.span(node), file, uri, tuple(inputs), tuple(outputs), tuple(settings))


def onnx_binding(b: Builder, token: Token) -> m.OnnxBinding:
    image = str(token)
    keyword = 5 if image.startswith("input") else 6
    last_colon = image.rindex(":")
    name = image[keyword:last_colon].strip()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    source, source_span = b.raw_text(token, last_colon + 1)
    return m.OnnxBinding(name, source, b.span(token), source_span)


def rank_property(b: Builder, node: Tree) -> m.Setting:
    key_node, value_node = node.children
    # Vespa joins the token images of each side, so spaces between tokens do not count
    key = "".join(source_text(b, key_node).split())
    value = "".join(source_text(b, value_node).split())
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return m.Setting(key, value, b.span(key_node))


def mutate_operation(b: Builder, node: Tree) -> m.MutateOperation:
    kids = [k for k in node.children if not (isinstance(k, Token) and k.type in ("LBRACE", "RBRACE", "_NL"))]
    phase_name = str(kids[0])
    attribute = b.name(kids[1])
    operation = str(kids[2])
    value = b.number(kids[3]) if len(kids) > 3 and kids[3] is not None else None
    return m.MutateOperation(phase_name, attribute, operation, value, b.span(node))


def field_setting(b: Builder, node: Tree) -> m.FieldRankSetting:
    kids = node.children
    field = b.name(kids[0])
    if node.data == "profile_field_weight":
        return m.FieldRankSetting("weight", field, b.span(node), (m.Setting("weight", b.number(kids[1]),
                                                                             b.span(kids[1])),))
    if node.data == "profile_field_rank_type":
        return m.FieldRankSetting("rank-type", field, b.span(node),
                                  (m.Setting("rank-type", b.name(kids[1]), b.span(kids[1])),))
    settings = tuple(b.setting(s) for s in b.trees(kids[1:], "field_rank_setting"))
    if not settings:
        settings = (m.Setting("filter", True, b.span(node)),)
    return m.FieldRankSetting("rank", field, b.span(node), settings)


def import_field(b: Builder, node: Tree) -> m.ImportField | None:
    spec = b.name(node.children[0])
    alias = b.name(node.children[1])
    if spec.count(".") != 1:
        b.error(AK217, f"illegal field reference '{spec}' in import field: it must contain a single '.'",
                node.children[0], hint="write REFERENCE_FIELD.TARGET_FIELD, e.g. artist_ref.name")
        return None
    ref, target = spec.split(".")
    return m.ImportField(ref, target, alias, b.span(node))
