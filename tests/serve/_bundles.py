"""Test bundles for the serve tests: the with_onnx_model case compiled once, variants of it, and
compiled rank profiles written by hand (for phase semantics without a package)."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ONNX_CASE = REPO / "tests" / "cases" / "valid" / "with_onnx_model"
BIAS_V1 = [0.5, 0.25, 0.0, -0.5]


def package_copy(dest: Path, bias: list[float] = BIAS_V1) -> Path:
    """The with_onnx_model package at `dest`, with constant bias set to `bias`."""
    shutil.copytree(ONNX_CASE, dest)
    cells = [{"address": {"x": str(i)}, "value": v} for i, v in enumerate(bias)]
    (dest / "constants" / "bias.json").write_text(json.dumps({"cells": cells}))
    return dest


@functools.lru_cache(maxsize=4)
def _built(bias: tuple[float, ...], tmp: str) -> dict[str, bytes]:
    from appkit.bundle.build import build_bundle

    root = package_copy(Path(tmp) / f"pkg-{abs(hash(bias))}", list(bias))
    built = build_bundle(root)
    assert not built.failed, [str(d) for d in built.diagnostics]
    return built.entries


def onnx_bundle(tmp_path_factory: Any, bias: list[float] = BIAS_V1) -> dict[str, bytes]:
    """Bundle entries of the with_onnx_model package (bias as given), built once per test session."""
    return _built(tuple(bias), str(tmp_path_factory.getbasetemp()))


def weighted_scores(fields: dict[str, Any], bias: list[float] = BIAS_V1, q: list[float] = (1, 0, 0, 1)) -> tuple[float, float]:
    """(first-phase, second-phase) of item/weighted for one document, computed by hand."""
    emb, w, pop = fields["embedding"], fields["weights"], fields["popularity"]
    w = w["values"] if isinstance(w, dict) else w
    first = sum(a * b for a, b in zip(q, emb)) + pop
    second = 2 * sum((wi + bi) * e for wi, bi, e in zip(w, bias, emb))
    return first, second


def profile_entries(phases: dict[str, Any], attributes: dict[str, str], inputs: dict[str, Any] | None = None,
                    functions: dict[str, Any] | None = None, summary: list[str] | None = None,
                    constants: dict[str, str] | None = None, sources: dict[str, Any] | None = None,
                    extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Entries of a bundle holding one compiled profile, s/p, in the compiler's layout."""
    profile = {"schema": "s", "name": "p", "functions": functions or {},
               "phases": {k: (v if isinstance(v, dict) else {"expression": v, "settings": {}}) for k, v in phases.items()},
               "inputs": inputs or {}, "constants": constants or {}, "attributes": attributes,
               "summary_features": summary or [], "match_features": [], "constant_sources": sources or {}}
    return {"profiles/s/p.json": json.dumps(profile).encode(), **(extra or {})}
