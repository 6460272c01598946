"""`appkit ops` and docs/operators.md: generated from the registries, and the committed file is current."""

from __future__ import annotations

import json

from appkit.cli.main import main
from appkit.cli.ops import render_markdown, support_table
from appkit.importers.onnx import ops  # noqa: F401  (registers the converters)
from appkit.importers.onnx.context import ONNX

# Vespa's ONNX importer (reference §1.3, lower-case keys of onnx/GraphImporter.java) ...
VESPA_ONNX_OPS = """abs acos asin atan ceil cos erf exp floor log neg reciprocal relu sigmoid sin sqrt square tan tanh
elu selu leakyrelu add sub mul div pow equal greater less max min mean reducesum reducemean reducemax
reducemin reduceprod reducel1 reducel2 reducelogsum reducelogsumexp reducesumsquare cast concat constant
constantofshape expand gather gemm identity matmul range reshape shape slice softmax split squeeze tile
transpose unsqueeze where""".split()
# ... and what issue 5 adds
ADDED_OPS = """BatchNormalization Flatten Clip Dropout LayerNormalization Gelu HardSigmoid HardSwish Softplus Softsign
Sign Round Not And Or Xor Min Max Mean Sum ArgMax ArgMin Einsum CumSum Trilu OneHot LogSoftmax Pad""".split()


def test_every_vespa_and_issue_op_is_registered():
    registered = {op.lower(): op for op in ONNX.op_types()}
    assert [op for op in VESPA_ONNX_OPS if op not in registered] == []
    assert [op for op in ADDED_OPS if op not in ONNX] == []
    # axes as inputs: Reduce* from opset 18 (ReduceSum 13), Squeeze/Unsqueeze/Split from 13
    assert ONNX.lookup("ReduceMean", 18).since_version == 18
    assert ONNX.lookup("ReduceSum", 13).since_version == 13
    for op in ("Squeeze", "Unsqueeze", "Split"):
        assert ONNX.lookup(op, 13).since_version == 13


def test_docs_operators_md_is_current(repo):
    committed = (repo / "docs" / "operators.md").read_text(encoding="utf-8")
    assert committed == render_markdown(support_table()), \
        "docs/operators.md is stale: run 'appkit ops --format markdown > docs/operators.md'"


def test_cli_formats(capsys):
    assert main(["ops", "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    ops = {row["op"]: row for row in table["onnx"]}
    assert ops["Softmax"]["since_versions"] == [1, 13]
    assert "Swish" in table["onnx_function_body"]
    assert main(["ops"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ONNX (") and "LayerNormalization" in text
    assert main(["ops", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Supported operations")
