"""ONNX control flow that import time can resolve: If with a constant condition becomes the nodes of
the branch it takes (so a model's training or debug branch disappears, as TensorFlow's Switch does)."""

from __future__ import annotations

import onnx
from onnx import helper

from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, Expansion, NodeContext
from appkit.importers.onnx.expand import rename_outer_references


@ONNX.register("If", since_version=1, note="with a constant condition: the branch taken is inlined")
def if_(ctx: NodeContext, condition: Operand) -> Expansion:
    value = ctx.constant_input(0, "If condition")
    assert value is not None
    branch: onnx.GraphProto = ctx.attr("then_branch" if bool(value.reshape(-1)[0]) else "else_branch")
    if len(branch.output) != ctx.output_count:
        raise ConversionError("the If branch has a different number of outputs than the node")
    prefix = (ctx.node.name or ctx.node.output[0]) + "/"
    local = {t.name for t in branch.initializer} | {o for n in branch.node for o in n.output if o}
    rename = {name: prefix + name for name in local}
    nodes = [helper.make_node("Constant", [], [rename[t.name]], name=rename[t.name], value=t) for t in branch.initializer]
    for inner in branch.node:
        n = onnx.NodeProto()
        n.CopyFrom(inner)
        n.name = prefix + (inner.name or (inner.output[0] if inner.output else inner.op_type))
        n.input[:] = [rename.get(i, i) for i in inner.input]
        n.output[:] = [rename.get(o, o) for o in inner.output]
        for a in n.attribute:  # a nested If's branches may use this branch's tensors
            if a.type == onnx.AttributeProto.GRAPH:
                rename_outer_references(a.g, rename)
        nodes.append(n)
    for produced, wanted in zip(branch.output, ctx.node.output):
        if wanted:
            nodes.append(helper.make_node("Identity", [rename.get(produced.name, produced.name)], [wanted],
                                          name=prefix + "output/" + wanted))
    return Expansion(nodes)
