"""Evaluate `onnx(NAME).out` of an onnx-model declaration with ONNX Runtime, as Vespa does, when
onnxruntime is installed (appkit falls back to the converted expressions otherwise).

The declaration's input sources are evaluated in the rank profile's context, bound to the model's
inputs position by position in the input's element type, and every output becomes a feature value
(`onnx(NAME).out` for its ONNX name, normalized name and declared alias; `onnx(NAME)` for the first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appkit.expr import ir


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def declared_uses(expr: ir.Expr, declarations: dict[str, Any]) -> set[str]:
    return {n.args[0].name for n in ir.features_of(expr)
            if n.name in ("onnx", "onnxModel") and len(n.args) == 1 and isinstance(n.args[0], ir.Ref)
            and n.args[0].name in declarations}


def run_declared(name: str, decl: Any, root: Path, values: dict[str, Any], functions: dict[str, Any]) -> dict[str, Any]:
    """Feature key -> Tensor for every output of the declared model, computed by ONNX Runtime."""
    import numpy as np
    import onnxruntime as ort
    from onnx import helper

    from appkit.expr.evaluate import EvalContext, evaluate
    from appkit.importers.onnx.importer import onnx_model_info
    from appkit.tensor.type import Dimension, TensorType
    from appkit.tensor.value import Tensor
    from appkit.validate.expressions import parse_expression_source
    from appkit.validate.onnx_models import normalized

    path = root / decl.file
    info = onnx_model_info(path, root)
    explicit = {b.name: b for b in decl.inputs}
    feed = {}
    for port in info.inputs:
        binding = explicit.get(port.name)
        source = ir.Ref(normalized(port.name)) if binding is None else \
            parse_expression_source(binding.source_text, binding.source_span or binding.span)[0]
        value = evaluate(source, EvalContext(values, functions))
        dtype = helper.tensor_dtype_to_np_dtype(port.elem_type)
        feed[port.name] = np.ascontiguousarray(value.to_numpy(), dtype=dtype)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    results = session.run(None, feed)
    aliases = {b.name: b.source_text.strip() for b in decl.outputs}
    out: dict[str, Any] = {}
    for i, (port, array) in enumerate(zip(info.outputs, results)):
        arr = np.asarray(array)
        cell = port.vespa_type(runtime=True).cell_type
        tensor = Tensor.from_numpy(TensorType([Dimension(f"d{k}", s) for k, s in enumerate(arr.shape)], cell),
                                   arr.astype(cell.numpy_dtype))
        for key in {port.name, normalized(port.name), aliases.get(port.name, port.name)}:
            for feature in ("onnx", "onnxModel"):
                out[f"{feature}({name}).{key}"] = tensor
        if i == 0:
            out[f"onnx({name})"] = out[f"onnxModel({name})"] = tensor
    return out
