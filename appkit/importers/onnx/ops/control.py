"""ONNX control flow that import time can resolve: If with a constant condition becomes the nodes of
the branch it takes (so a model's training or debug branch disappears, as TensorFlow's Switch does)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

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


def _inline(graph: onnx.GraphProto, prefix: str, bind: dict[str, str]) -> tuple[list[onnx.NodeProto], dict[str, str]]:
    """The nodes of a subgraph with its own tensors renamed under `prefix` and its inputs bound to
    outer tensors; returns the nodes and the renaming (for the subgraph's outputs)."""
    local = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output if o}
    rename = {name: prefix + name for name in local}
    rename.update(bind)
    nodes = [helper.make_node("Constant", [], [rename[t.name]], name=rename[t.name], value=t) for t in graph.initializer]
    for inner in graph.node:
        n = onnx.NodeProto()
        n.CopyFrom(inner)
        n.name = prefix + (inner.name or (inner.output[0] if inner.output else inner.op_type))
        n.input[:] = [rename.get(i, i) for i in inner.input]
        n.output[:] = [rename.get(o, o) for o in inner.output]
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                rename_outer_references(a.g, rename)
        nodes.append(n)
    return nodes, rename


@ONNX.register("Loop", since_version=1, note="a constant trip count and a condition that stays true: unrolled")
def loop(ctx: NodeContext, trip_count: Operand | None, condition: Operand | None, *carried: Operand | None) -> Expansion:
    count = ctx.constant_input(0, "Loop trip count (M)")
    if count is None:
        raise ConversionError("a Loop without a trip count runs until a data-dependent condition")
    keep_going = ctx.constant_input(1, "Loop condition")
    body: onnx.GraphProto = ctx.attr("body")
    iteration_in, cond_in = body.input[0].name, body.input[1].name
    cond_out = body.output[0].name
    producers = {o: n for n in body.node for o in n.output}
    stays = cond_out == cond_in or (cond_out in producers and producers[cond_out].op_type == "Identity"
                                    and producers[cond_out].input[0] == cond_in)
    if not stays:
        raise ConversionError("a Loop whose condition is computed by its body is not unrolled")
    steps = int(np.asarray(count).reshape(-1)[0]) if keep_going is None or bool(np.asarray(keep_going).reshape(-1)[0]) else 0
    n_carried = len(body.input) - 2
    prefix = (ctx.node.name or ctx.node.output[0]) + "/"
    state = [ctx.node.input[2 + k] for k in range(n_carried)]
    scans: list[list[str]] = [[] for _ in range(len(body.output) - 1 - n_carried)]
    nodes: list[onnx.NodeProto] = []
    for step in range(steps):
        step_prefix = f"{prefix}{step}/"
        iteration = step_prefix + iteration_in
        nodes.append(helper.make_node("Constant", [], [iteration], name=iteration,
                                      value=numpy_helper.from_array(np.array(step, dtype=np.int64))))
        always = step_prefix + cond_in
        nodes.append(helper.make_node("Constant", [], [always], name=always,
                                      value=numpy_helper.from_array(np.array(True))))
        bind = {iteration_in: iteration, cond_in: always}
        bind.update({body.input[2 + k].name: state[k] for k in range(n_carried)})
        inner, rename = _inline(body, step_prefix, bind)
        nodes += inner
        state = [rename.get(body.output[1 + k].name, body.output[1 + k].name) for k in range(n_carried)]
        for j, out in enumerate(body.output[1 + n_carried:]):
            scans[j].append(rename.get(out.name, out.name))
    outputs = list(ctx.node.output)
    for k in range(n_carried):
        if outputs[k]:
            nodes.append(helper.make_node("Identity", [state[k]], [outputs[k]], name=prefix + "final/" + outputs[k]))
    for j, names in enumerate(scans):
        target = outputs[n_carried + j] if n_carried + j < len(outputs) else ""
        if not target:
            continue
        if not names:
            raise ConversionError("a Loop that runs no iteration has empty scan outputs")
        axes = prefix + f"axes{j}"
        nodes.append(helper.make_node("Constant", [], [axes], name=axes,
                                      value=numpy_helper.from_array(np.array([0], dtype=np.int64))))
        stacked = []
        for i, name in enumerate(names):  # Unsqueeze takes its axes as an attribute before opset 13
            stacked.append(f"{prefix}scan{j}/{i}")
            nodes.append(helper.make_node("Unsqueeze", [name, axes], [stacked[-1]], name=stacked[-1])
                         if ctx.opset >= 13 else
                         helper.make_node("Unsqueeze", [name], [stacked[-1]], name=stacked[-1], axes=[0]))
        nodes.append(helper.make_node("Concat", stacked, [target], name=prefix + "scan/" + target, axis=0))
    return Expansion(nodes)
