"""Compile a validated package into bundle entries: rank profiles with inheritance resolved and
model features replaced by the imported expressions, constants as files, the manifest, and a
lowered Vespa 8 package (`vespa/`).

The output depends only on the package's content, so the same package gives the same bytes.
"""

from __future__ import annotations

import binascii
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from appkit import __version__
from appkit.diagnostics import Diagnostic, rule
from appkit.expr import ir
from appkit.package.app import ApplicationPackage

AK550 = rule("AK550", "model could not be imported for the bundle",
             example="a model with an unsupported op used by a rank profile",
             fix="fix the problems the import reports (run appkit validate), then deploy again")

Progress = Callable[[str], None]


@dataclass
class CompiledProfile:
    schema: str
    name: str
    functions: dict[str, tuple[tuple[str, ...], ir.Expr]] = field(default_factory=dict)
    phases: dict[str, tuple[ir.Expr | None, dict[str, Any]]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)  # name -> type
    attributes: dict[str, str] = field(default_factory=dict)  # attribute name -> type
    summary_features: list[str] = field(default_factory=list)
    match_features: list[str] = field(default_factory=list)
    # where each user constant's value is: {"file": bundle path} or {"value": literal text} (for appkit serve)
    constant_sources: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        from appkit.expr.printer import print_expression

        return {
            "schema": self.schema,
            "name": self.name,
            "functions": {n: {"params": list(p), "expression": print_expression(e)}
                          for n, (p, e) in sorted(self.functions.items())},
            "phases": {n: {"expression": None if e is None else print_expression(e), "settings": s}
                       for n, (e, s) in sorted(self.phases.items())},
            "inputs": self.inputs,
            "constants": dict(sorted(self.constants.items())),
            "attributes": dict(sorted(self.attributes.items())),
            "summary_features": self.summary_features,
            "match_features": self.match_features,
            "constant_sources": dict(sorted(self.constant_sources.items())),
        }


@dataclass
class Compilation:
    entries: dict[str, bytes] = field(default_factory=dict)
    profiles: list[CompiledProfile] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)  # name -> ImportedModel
    diagnostics: list[Diagnostic] = field(default_factory=list)


def compile_package(package: ApplicationPackage, progress: Progress | None = None) -> Compilation:
    """Compile everything; the package must have validated without errors."""
    from appkit.bundle.lower_vespa import lowered_package_entries
    from appkit.bundle.models import ModelSet
    from appkit.validate import resolved_profiles
    from appkit.validate.expressions import parse_package_expressions
    from appkit.validate.fields import index_schemas

    say = progress or (lambda _msg: None)
    result = Compilation()
    parsed, problems = parse_package_expressions(package)
    result.diagnostics += problems
    models = ModelSet(package, say)
    indexes = index_schemas(package)
    replacements: dict[Any, ir.Expr] = {}  # ExpressionText -> lowered expression
    for schema in package.schemas:
        resolved, _ = resolved_profiles(package, schema)
        for name in sorted(resolved):
            profile = resolved[name]
            compiled = _compile_profile(profile, indexes[schema.name], parsed, models, replacements,
                                        package.query_features)
            result.profiles.append(compiled)
            path = f"profiles/{schema.name}/{name}.json"
            result.entries[path] = _json(compiled.to_json())
    result.diagnostics += models.diagnostics
    result.models = models.imported
    for model in models.imported.values():
        result.entries[f"models/{model.name}.json"] = _json(_model_json(model))
    for name, tensor in sorted(models.constants.items()):
        # JSON (portable, Vespa's format) once, in the lowered package; .npy for appkit's fast loading
        say(f"writing constant {name}")
        result.entries[f"vespa/constants/{name}.json"] = constant_json(tensor)
        if tensor.type.is_dense:
            result.entries[f"constants/{name}.npy"] = constant_npy(tensor)
    result.entries.update(lowered_package_entries(package, replacements, models, result.entries))
    return result


def _compile_profile(profile, index, parsed, models, replacements, query_features=None) -> CompiledProfile:
    from appkit.bundle.models import lower_model_features

    out = CompiledProfile(profile.schema.name, profile.name)
    user_functions = set(profile.functions)
    declared = {d.name: d for d in profile.schema.onnx_models}
    declared.update(profile.onnx_models)

    def lowered(text):
        """The expression with model features lowered; its generated functions join the profile, and
        the Vespa package gets the lowered text where Vespa itself cannot import the model."""
        expr = parsed[text]
        result, generated = lower_model_features(expr, models, user_functions, declared)
        out.functions.update({g: ((), e) for g, e in generated.items() if g not in user_functions})
        if result is not expr and _uses_imported_features(expr):
            replacements[text] = result
        return result

    for fname, f in sorted(profile.functions.items()):
        if f.expression in parsed:
            out.functions[fname] = (tuple(f.params), lowered(f.expression))
    for label, phase in (("first-phase", profile.first_phase), ("second-phase", profile.second_phase),
                         ("global-phase", profile.global_phase)):
        if phase is not None:
            expr = lowered(phase.expression) if phase.expression in parsed else None
            out.phases[label] = (expr, {s.name: s.value for s in phase.settings})
    for name, inp in sorted(profile.inputs.items()):
        out.inputs[f"query({name})"] = {"type": str(inp.type) if inp.type is not None else (inp.type_name or "double"),
                                        "default": inp.default_value_text}
    for name, qf in sorted((query_features or {}).items()):  # query profile types type query(name) too
        out.inputs.setdefault(f"query({name})", {"type": str(qf.type), "default": None})
    for c in tuple(profile.schema.constants) + tuple(profile.constants.values()):
        out.constants[c.name] = str(c.type) if c.type is not None else "double"
        if c.file:
            out.constant_sources[c.name] = {"file": "vespa/" + c.file.lstrip("/")}
        elif c.value_text is not None:
            out.constant_sources[c.name] = {"value": c.value_text}
    for name, t in sorted(models.constant_types.items()):
        out.constants.setdefault(name, str(t))
    out.attributes = {n: str(t) for n, t in sorted({**index.attributes, **index.imported}.items())}
    for lists, target in ((profile.profile.summary_features, out.summary_features),
                          (profile.profile.match_features, out.match_features)):
        for fl in lists:
            target.extend(fl.features)
    return out


def _uses_imported_features(expr: ir.Expr) -> bool:
    """True when the Vespa package itself needs the lowering (tensorflow / onnx_vespa / file-path
    onnx); onnx(NAME) of an onnx-model stays as written, for Vespa's ONNX Runtime."""
    from appkit.validate.models import model_feature_args

    return any(model_feature_args(n) for n in ir.features_of(expr))


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"


def _model_json(model: Any) -> dict[str, Any]:
    from appkit.expr.printer import print_expression

    return {
        "name": model.name, "path": model.path, "format": model.format,
        "signatures": {k: list(v) for k, v in sorted(model.signatures.items())},
        "inputs": {n: {"framework_name": i.framework_name, "type": str(i.type)} for n, i in sorted(model.inputs.items())},
        "outputs": {n: str(o.type) for n, o in sorted(model.outputs.items())},
        "expressions": {n: print_expression(e) for n, e in sorted(model.expressions.items())},
        "functions": {n: print_expression(e) for n, e in sorted(model.functions.items())},
        "variables": [{"framework_name": v.framework_name, "vespa_name": v.vespa_name, "type": str(v.type),
                       "ordered_type": v.ordered_type, "size": v.size} for v in model.variables],
    }


def constant_json(tensor: Any) -> bytes:
    """Vespa's tensor JSON; dense tensors as a hex string of their cells (compact and fast to write)."""
    t = tensor.type
    if t.is_dense and not t.is_scalar:
        import numpy as np

        cells = np.ascontiguousarray(tensor.to_numpy(), dtype=np.dtype(t.cell_type.numpy_dtype).newbyteorder(">"))
        if t.cell_type.value == "bfloat16":
            cells = (np.ascontiguousarray(tensor.to_numpy(), dtype=">f4").view(">u4") >> 16).astype(">u2")
        # built directly, hex digits straight from the array's buffer: json.dumps of a many-megabyte
        # string costs seconds, and each intermediate copy another tenth of one
        return b"".join((b'{"type": ', json.dumps(str(t)).encode(), b', "values": "', binascii.hexlify(cells),
                         b'"}\n'))
    from appkit.tensor.jsonformat import tensor_to_json

    return json.dumps(tensor_to_json(tensor), sort_keys=True).encode() + b"\n"


def constant_npy(tensor: Any) -> bytes:
    """The .npy file of a tensor's cells: the header np.save writes, then the cells, copied once."""
    import numpy as np
    from numpy.lib import format as npy

    cells = np.ascontiguousarray(tensor.to_numpy())
    header = io.BytesIO()
    npy.write_array_header_1_0(header, npy.header_data_from_array_1_0(cells))
    try:
        data: Any = memoryview(cells).cast("B")
    except (TypeError, ValueError):  # a dtype the buffer protocol cannot describe
        data = cells.tobytes()
    return b"".join((header.getvalue(), data))


__all__ = ["compile_package", "Compilation", "CompiledProfile", "__version__"]
