"""ONNX RNN, GRU and LSTM, unrolled over their (known) number of time steps.

The input projections of all steps are one matrix product per gate; each step's hidden (and cell)
state is a shared function the next step refers to, so the expression grows linearly with the steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.lower_shape import concat, split, take_range
from appkit.importers.onnx.context import ONNX, NodeContext

Activation = Callable[[Operand], Operand]


def _activation(name: str, alpha: float | None, beta: float | None) -> Activation:
    simple = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softsign": "softsign", "Softplus": "softplus"}
    if name in simple:
        return lambda x: lower.unary(x, simple[name])
    if name == "HardSigmoid":
        return lambda x: lower.unary(x, "hard_sigmoid", alpha=0.2 if alpha is None else alpha,
                                     beta=0.5 if beta is None else beta)
    if name == "LeakyRelu":
        return lambda x: lower.unary(x, "leaky_relu", alpha=0.01 if alpha is None else alpha)
    if name == "Elu":
        return lambda x: lower.unary(x, "elu", alpha=1.0 if alpha is None else alpha)
    if name == "ThresholdedRelu":
        return lambda x: lower.unary(x, "thresholded_relu", alpha=1.0 if alpha is None else alpha)
    if name == "Affine":
        return lambda x: lower.unary(x, "affine", alpha=1.0 if alpha is None else alpha, beta=beta or 0.0)
    if name == "ScaledTanh":
        a, b = (1.0 if alpha is None else alpha), (1.0 if beta is None else beta)
        return lambda x: lower.scalar_op(lower.unary(lower.scalar_op(x, "mul", b), "tanh"), "mul", a)
    raise ConversionError(f"recurrent activation '{name}' is not supported")


def _activations(ctx: NodeContext, defaults: list[str], directions: int) -> list[list[Activation]]:
    names = list(ctx.attr("activations", defaults * directions))
    alphas = list(ctx.attr("activation_alpha", []))
    betas = list(ctx.attr("activation_beta", []))
    fns = [_activation(n, alphas[i] if i < len(alphas) else None, betas[i] if i < len(betas) else None)
           for i, n in enumerate(names)]
    per = len(defaults)
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


class _Cell:
    """What every recurrent op needs: inputs per direction, the step loop and the outputs."""

    def __init__(self, ctx: NodeContext, x: Operand, gates: int):
        self.ctx = ctx
        self.layout = int(ctx.attr("layout", 0))
        self.x = lower.transpose(x, [1, 0, 2]) if self.layout else x  # [T, B, I]
        self.steps = self.x.shape[0]
        if self.steps is None:
            raise ConversionError(f"{ctx.op_type} over an unknown number of time steps")
        self.hidden = int(ctx.attr("hidden_size"))
        direction = ctx.attr("direction", "forward")
        self.directions = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        self.gates = gates
        clip = ctx.attr("clip")
        self.clip = None if clip is None else float(clip)
        lens = ctx.constant_input(4, f"{ctx.op_type} sequence_lens")
        if lens is not None and np.any(lens != self.steps):
            raise ConversionError(f"{ctx.op_type} with sequences shorter than the input is not supported")

    def weights(self, index: int, d: int) -> list[Operand]:
        """The per-gate [in, hidden] matrices of input `index` (W or R) for direction d."""
        w = self.ctx.required(index)
        wd = lower.squeeze(take_range(w, 0, d, 1), [0])  # [gates*H, in]
        return [lower.transpose(g) for g in split(wd, 0, [self.hidden] * self.gates)]

    def bias(self, d: int) -> list[Operand] | None:
        b = self.ctx.input(3)
        if b is None:
            return None
        bd = lower.squeeze(take_range(b, 0, d, 1), [0])  # [2*gates*H]
        parts = split(bd, 0, [self.hidden] * (2 * self.gates))
        return [lower.binary(parts[g], parts[g + self.gates], "add") for g in range(self.gates)]

    def initial(self, index: int, d: int, batch: int | None) -> Operand:
        init = self.ctx.input(index)
        if init is not None:
            init = lower.transpose(init, [1, 0, 2]) if self.layout else init
            return lower.squeeze(take_range(init, 0, d, 1), [0])
        if batch is None:
            raise ConversionError(f"{self.ctx.op_type} without an initial state needs a known batch size")
        return lower.constant(np.zeros((batch, self.hidden), dtype=np.float32))

    def projections(self, d: int, bias: list[Operand] | None) -> list[Operand]:
        """x_t · W_g (+ biases) for every step at once: [T, B, H] per gate."""
        w = self.weights(1, d)
        out = [lower.matmul(self.x, w[g]) for g in range(self.gates)]
        return out if bias is None else [lower.binary(o, b, "add") for o, b in zip(out, bias)]

    def pre(self, value: Operand) -> Operand:
        return value if self.clip is None else lower.unary(value, "clip", lo=-self.clip, hi=self.clip)

    def order(self, direction: str) -> list[int]:
        return list(range(self.steps)) if direction == "forward" else list(reversed(range(self.steps)))

    @staticmethod
    def step_input(projection: Operand, t: int) -> Operand:
        return lower.squeeze(take_range(projection, 0, t, 1), [0])

    def outputs(self, per_direction: list[tuple[list[Operand], Operand, Operand | None]]) -> list[Operand]:
        """Y [T, dirs, B, H], Y_h [dirs, B, H] (and Y_c), in the node's layout."""
        ys, hs, cs = [], [], []
        for states, h, c in per_direction:
            ys.append(lower.unsqueeze(concat([lower.unsqueeze(s, [0]) for s in states], 0), [1]))
            hs.append(lower.unsqueeze(h, [0]))
            if c is not None:
                cs.append(lower.unsqueeze(c, [0]))
        y = concat(ys, 1) if len(ys) > 1 else ys[0]
        y_h = concat(hs, 0) if len(hs) > 1 else hs[0]
        result = [y, y_h]
        if cs:
            result.append(concat(cs, 0) if len(cs) > 1 else cs[0])
        if self.layout:
            result = [lower.transpose(y, [2, 0, 1, 3])] + [lower.transpose(r, [1, 0, 2]) for r in result[1:]]
        return result[: self.ctx.output_count]


def _run(cell: _Cell, step: Callable[[int, int, list[Operand], list[Operand]], tuple[Operand, Operand | None]],
         with_cell_state: bool) -> list[Operand]:
    batch = cell.x.shape[1]
    per_direction = []
    for d, direction in enumerate(cell.directions):
        projections = cell.projections(d, cell.bias(d))
        h = lower.share(cell.initial(5, d, batch))
        c = lower.share(cell.initial(6, d, batch)) if with_cell_state else None
        states: list[Operand] = [None] * cell.steps  # type: ignore[list-item]
        for t in cell.order(direction):
            h, c = step(d, t, projections, [h] + ([c] if c is not None else []))
            h = lower.share(h)
            c = lower.share(c) if c is not None else None
            states[t] = h
        per_direction.append((states, h, c))
    return cell.outputs(per_direction)


@ONNX.register("RNN", since_version=7, note="unrolled over a known number of steps")
def rnn(ctx: NodeContext, x: Operand, *_: Operand | None) -> list[Operand]:
    cell = _Cell(ctx, x, 1)
    acts = _activations(ctx, ["Tanh"], len(cell.directions))
    recurrences = [cell.weights(2, d) for d in range(len(cell.directions))]

    def step(d: int, t: int, projections: list[Operand], state: list[Operand]) -> tuple[Operand, None]:
        total = lower.binary(_Cell.step_input(projections[0], t), lower.matmul(state[0], recurrences[d][0]), "add")
        return acts[d][0](cell.pre(total)), None

    return _run(cell, step, False)


@ONNX.register("GRU", since_version=7, note="unrolled over a known number of steps")
def gru(ctx: NodeContext, x: Operand, *_: Operand | None) -> list[Operand]:
    cell = _Cell(ctx, x, 3)  # gate order z, r, h
    acts = _activations(ctx, ["Sigmoid", "Tanh"], len(cell.directions))
    recurrences = [cell.weights(2, d) for d in range(len(cell.directions))]
    linear_before_reset = bool(ctx.attr("linear_before_reset", 0))
    recurrent_bias = []
    for d in range(len(cell.directions)):  # Rbh is applied inside the reset gate's product
        b = ctx.input(3)
        rb = None if b is None else split(lower.squeeze(take_range(b, 0, d, 1), [0]), 0, [cell.hidden] * 6)[5]
        recurrent_bias.append(rb)
    if ctx.input(3) is not None:  # the projections then carry Wbh only for the candidate gate
        original_bias = cell.bias

        def bias_without_rbh(d: int) -> list[Operand] | None:
            parts = original_bias(d)
            assert parts is not None and recurrent_bias[d] is not None
            return parts[:2] + [lower.binary(parts[2], recurrent_bias[d], "sub")]

        cell.bias = bias_without_rbh  # type: ignore[method-assign]

    def step(d: int, t: int, projections: list[Operand], state: list[Operand]) -> tuple[Operand, None]:
        h = state[0]
        f, g = acts[d]
        z = f(cell.pre(lower.binary(_Cell.step_input(projections[0], t), lower.matmul(h, recurrences[d][0]), "add")))
        r = f(cell.pre(lower.binary(_Cell.step_input(projections[1], t), lower.matmul(h, recurrences[d][1]), "add")))
        if linear_before_reset:
            hr = lower.matmul(h, recurrences[d][2])
            if recurrent_bias[d] is not None:
                hr = lower.binary(hr, recurrent_bias[d], "add")
            inner = lower.binary(r, hr, "mul")
        else:
            inner = lower.matmul(lower.binary(r, h, "mul"), recurrences[d][2])
            if recurrent_bias[d] is not None:
                inner = lower.binary(inner, recurrent_bias[d], "add")
        candidate = g(cell.pre(lower.binary(_Cell.step_input(projections[2], t), inner, "add")))
        z = lower.share(z)
        keep = lower.binary(z, h, "mul")
        fresh = lower.binary(lower.scalar_op(z, "sub", 1.0, reverse=True), candidate, "mul")
        return lower.binary(fresh, keep, "add"), None

    return _run(cell, step, False)


@ONNX.register("LSTM", since_version=7, note="unrolled over a known number of steps; peepholes; no input_forget")
def lstm(ctx: NodeContext, x: Operand, *_: Operand | None) -> list[Operand]:
    if ctx.attr("input_forget", 0):
        raise ConversionError("LSTM with input_forget is not supported")
    cell = _Cell(ctx, x, 4)  # gate order i, o, f, c
    acts = _activations(ctx, ["Sigmoid", "Tanh", "Tanh"], len(cell.directions))
    recurrences = [cell.weights(2, d) for d in range(len(cell.directions))]
    peepholes = []
    for d in range(len(cell.directions)):
        p = ctx.input(7)
        peepholes.append(None if p is None else split(lower.squeeze(take_range(p, 0, d, 1), [0]), 0, [cell.hidden] * 3))

    def gate(d: int, t: int, g: int, projections: list[Operand], h: Operand) -> Operand:
        return lower.binary(_Cell.step_input(projections[g], t), lower.matmul(h, recurrences[d][g]), "add")

    def step(d: int, t: int, projections: list[Operand], state: list[Operand]) -> tuple[Operand, Operand]:
        h, c = state
        f, g, hf = acts[d]
        p = peepholes[d]
        i_pre, f_pre = gate(d, t, 0, projections, h), gate(d, t, 2, projections, h)
        if p is not None:
            i_pre = lower.binary(i_pre, lower.binary(p[0], c, "mul"), "add")
            f_pre = lower.binary(f_pre, lower.binary(p[2], c, "mul"), "add")
        i, forget = f(cell.pre(i_pre)), f(cell.pre(f_pre))
        candidate = g(cell.pre(gate(d, t, 3, projections, h)))
        c_new = lower.share(lower.binary(lower.binary(forget, c, "mul"), lower.binary(i, candidate, "mul"), "add"))
        o_pre = gate(d, t, 1, projections, h)
        if p is not None:
            o_pre = lower.binary(o_pre, lower.binary(p[1], c_new, "mul"), "add")
        return lower.binary(f(cell.pre(o_pre)), hf(c_new), "mul"), c_new

    return _run(cell, step, True)
