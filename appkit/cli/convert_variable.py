"""`appkit convert-variable MODEL_DIR VARIABLE TYPE`: a TensorFlow variable as a document-update value.

Prints `{"cells": [{"address": {...}, "value": v}, ...]}` (or, with --short, `{"type": ..., "values":
[...]}`) for `{"fields": {"<field>": {"assign": <this>}}}`. TYPE's dimensions are taken in the order
written (the order of the `Importing TensorFlow variable` log line), matching the variable's axes;
size-1 axes may be left out. Reads the model without TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from appkit.diagnostics import Diagnostic, rule

HELP = __doc__

AK430 = rule("AK430", "no such variable in the model",
             example="appkit convert-variable models/m/saved Variable_9 'tensor(d0[10])'",
             fix="use one of the variables the message lists (appkit models shows them)")
AK431 = rule("AK431", "variable does not fit the given type",
             example="Variable_1 has shape [10] but the type is tensor(d0[784],d1[10])",
             fix="give the type of the `Importing TensorFlow variable` line, dimensions in its order")

_ORDERED = re.compile(r"^\s*tensor\s*(?:<\s*(\w+)\s*>)?\s*\((.*)\)\s*$")
_DIM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*(\d*)\s*\]\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="the SavedModel directory")
    parser.add_argument("variable", help="the TensorFlow variable name (e.g. Variable_1 or dense/kernel)")
    parser.add_argument("type", help="the ordered tensor type, e.g. 'tensor(d2[784],d1[10])'")
    parser.add_argument("--short", action="store_true", help="the short form: {\"type\", \"values\"}")


class ConvertError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def parse_ordered_type(text: str) -> tuple[str, list[tuple[str, int | None]]]:
    """(cell type, [(dimension, size or None)]) in the order written; indexed dimensions only."""
    m = _ORDERED.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a tensor type: expected e.g. tensor(d0[10],d1[784])")
    dims = []
    for part in filter(None, (p.strip() for p in m.group(2).split(","))):
        dm = _DIM.match(part)
        if not dm:
            raise ValueError(f"'{part}' in '{text}' is not an indexed dimension such as d0[10]")
        dims.append((dm.group(1), int(dm.group(2)) if dm.group(2) else None))
    if len({d for d, _ in dims}) != len(dims):
        raise ValueError(f"'{text}' names a dimension twice")
    return m.group(1) or "double", dims


def read_variable(model_dir: Path, variable: str) -> np.ndarray:
    """The variable's value in TensorFlow's axis order, found by node name or checkpoint key."""
    from appkit.importers.tensorflow.graph import build_graph
    from appkit.importers.tensorflow.savedmodel import read_saved_model

    saved = read_saved_model(model_dir)
    if saved.checkpoint is None:
        raise ConvertError(Diagnostic(AK430, f"{model_dir} has no variables (a frozen graph keeps its weights as "
                                      "constants)"))
    keys: dict[str, str] = {}
    for node in build_graph(saved).nodes.values():
        if node.variable is not None:
            keys.setdefault(node.name, node.variable)
    for key in saved.checkpoint.keys():
        if not key.startswith("_") and saved.checkpoint.entries[key].dtype != 7:
            keys.setdefault(key, key)
    if variable not in keys:
        listed = ", ".join(sorted(n for n in keys if "/.ATTRIBUTES/" not in n or n == variable)) or "(none)"
        raise ConvertError(Diagnostic(AK430, f"no variable '{variable}' in {model_dir}. Available variables: {listed}",
                                      hint="use a name from this list, as `appkit models` shows it"))
    return saved.checkpoint.read(keys[variable])


def fit(value: np.ndarray, dims: list[tuple[str, int | None]], variable: str) -> np.ndarray:
    """The value with one axis per written dimension (size-1 axes may be added or dropped)."""
    sizes = [s for _, s in dims]
    shape = list(value.shape)
    squeezed = [s for s in shape if s != 1]
    wanted = [s for s in sizes if s != 1]
    fits = len(shape) == len(sizes) and all(w is None or w == s for w, s in zip(sizes, shape))
    if not fits and len(squeezed) == len(wanted) and all(w is None or w == s for w, s in zip(wanted, squeezed)):
        if all(s is not None for s in sizes):
            return value.reshape([int(s) for s in sizes])  # type: ignore[arg-type]
        fits = None not in sizes
    if not fits:
        written = ",".join(f"{d}[{'' if s is None else s}]" for d, s in dims)
        raise ConvertError(Diagnostic(
            AK431, f"variable '{variable}' has shape {shape}, which does not fit tensor({written})",
            hint=f"give one dimension per axis, in TensorFlow's order: e.g. tensor("
                 f"{','.join(f'd{i}[{s}]' for i, s in enumerate(shape))})"))
    return value


def document_json(value: np.ndarray, cell_type: str, dims: list[tuple[str, int | None]], short: bool) -> dict:
    """Vespa's document JSON for the tensor: cells in the type's (sorted) dimension order."""
    names = [d for d, _ in dims]
    order = sorted(range(len(names)), key=lambda i: names[i])
    canonical = np.transpose(value, order) if order else value
    cast = np.float32 if cell_type in ("float", "bfloat16") else np.float64 if cell_type == "double" else np.int8
    canonical = np.asarray(canonical).astype(cast)
    sorted_names = [names[i] for i in order]
    if short:
        type_text = f"tensor{'' if cell_type == 'double' else f'<{cell_type}>'}(" + \
            ",".join(f"{n}[{canonical.shape[k]}]" for k, n in enumerate(sorted_names)) + ")"
        return {"type": type_text, "values": [float(v) for v in canonical.reshape(-1)]}
    cells = []
    for index in np.ndindex(*canonical.shape):
        cells.append({"address": {n: str(i) for n, i in zip(sorted_names, index)},
                      "value": float(canonical[index])})
    return {"cells": cells}


def run(args: argparse.Namespace) -> int:
    try:
        cell_type, dims = parse_ordered_type(args.type)
    except ValueError as e:
        sys.stderr.write(f"appkit convert-variable: error: {e}\n")
        return 2
    if not args.model_dir.is_dir():
        sys.stderr.write(f"appkit convert-variable: error: {args.model_dir} is not a directory\n")
        return 2
    from appkit.importers.tensorflow.savedmodel import SavedModelError

    try:
        value = fit(read_variable(args.model_dir, args.variable), dims, args.variable)
    except ConvertError as e:
        sys.stderr.write(f"{e.diagnostic}\n")
        return 1
    except SavedModelError as e:
        sys.stderr.write(f"appkit convert-variable: error: Could not import TensorFlow model from directory "
                         f"'{args.model_dir}': {e}\n")
        return 1
    json.dump(document_json(value, cell_type, dims, args.short), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0
