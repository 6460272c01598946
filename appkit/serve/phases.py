"""Vespa's phase semantics over a batch of requests: first-phase on every document, second-phase on
each request's best `rerank-count` (default 100), global-phase on the best `rerank-count` after that.

A phase's `rank-score-drop-limit` removes the hits it scores at or below the limit. Documents a
phase does not re-rank keep their previous score, shifted (and scaled) below the lowest
re-ranked score when needed, as Vespa's FirstPhaseRescorer (searchlib HitCollector) and the global
phase's range adjustment do, so a re-ranked hit is never outranked by one that was not.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from appkit.tensor.value import Tensor

DEFAULT_RERANK_COUNT = 100
FIRST_PHASE_FEATURE = "firstPhase"  # Vespa's rank feature holding the first-phase score

if TYPE_CHECKING:
    from appkit.serve.runtime import ProfileRuntime, RankRequest


def rescore_rest(before: np.ndarray, after: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Scores of the hits not re-ranked, mapped below the re-ranked range: `before`/`after` are the
    re-ranked hits' scores before and after the phase."""
    if not before.size or not rest.size:
        return rest
    first_low, first_high = float(before.min()), float(before.max())
    second_low, second_high = float(after.min()), float(after.max())
    if not first_low > second_low:
        return rest  # every other hit already scores at most the lowest re-ranked one
    scale = (second_high - second_low) / (first_high - first_low) if first_high > first_low else 1.0
    return rest * scale - (first_low * scale - second_low)


def _gather(columns: Mapping[str, Any], index: np.ndarray) -> dict[str, Any]:
    return {k: (v[index] if isinstance(v, np.ndarray) else [v[i] for i in index]) for k, v in columns.items()}


def _number(x: float) -> float | str:
    """JSON has no NaN or infinities: they are written as Vespa writes them, as strings."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def rank_phases(profile: "ProfileRuntime", requests: Sequence["RankRequest"]) -> list[list[dict[str, Any]]]:
    columns = profile.merged_columns(requests)
    starts = [0]
    for r in requests:
        starts.append(starts[-1] + r.n)
    total = starts[-1]
    if len(profile.phases) == 1 and not profile.summary and not profile.match and \
            "rank-score-drop-limit" not in profile.settings.get("first-phase", {}):
        # first-phase only, nothing dropped, no features: the common profile, without the bookkeeping
        first = profile.phases["first-phase"].scores(columns, total)
        return [_first_phase_hits(r, first[a:a + r.n]) for r, a in zip(requests, starts)]
    bounds = list(zip(starts[:-1], starts[1:]))
    first = profile.phases["first-phase"].scores(columns, total)
    columns[FIRST_PHASE_FEATURE] = first
    kept = np.ones(total, dtype=bool)
    _drop(kept, first, None, profile.settings.get("first-phase", {}))
    relevance = first.copy()
    scores: dict[str, np.ndarray] = {"first-phase": first}
    for label in ("second-phase", "global-phase"):
        compiled = profile.phases.get(label)
        if compiled is None:
            continue
        settings = profile.settings.get(label, {})
        count = max(int(settings.get("rerank-count", DEFAULT_RERANK_COUNT)), 0)
        picks = []
        for a, b in bounds:
            order = np.argsort(-relevance[a:b], kind="stable") + a
            picks.append(order[kept[order]][:count])  # the best hits still in the result
        index = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        phase = np.full(total, np.nan)
        if index.size:
            phase[index] = compiled.scores(_gather(columns, index), index.size)
        for (a, b), pick in zip(bounds, picks):
            rest = np.setdiff1d(np.arange(a, b)[kept[a:b]], pick, assume_unique=True)
            relevance[rest] = rescore_rest(relevance[pick], phase[pick], relevance[rest])
            relevance[pick] = phase[pick]
        _drop(kept, phase, index, settings)
        scores[label] = phase
    features = {key: {name: (f, f.evaluate(columns, total)) for name, f in compiled_features.items()}
                for key, compiled_features in (("summaryfeatures", profile.summary), ("matchfeatures", profile.match))
                if compiled_features}
    return [_hits(r, a, relevance, kept, scores, features) for r, a in zip(requests, starts[:-1])]


def _drop(kept: np.ndarray, scores: np.ndarray, index: np.ndarray | None, settings: Mapping[str, Any]) -> None:
    """rank-score-drop-limit: hits this phase scored (all of them: index None) at or below the limit
    leave the result."""
    limit = settings.get("rank-score-drop-limit")
    if limit is None:
        return
    if index is None:
        index = np.arange(len(scores))
    kept[index[~(scores[index] > float(limit))]] = False  # NaN scores are dropped too


def _hits(request: "RankRequest", start: int, relevance: np.ndarray, kept: np.ndarray,
          scores: Mapping[str, np.ndarray], features: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    n = request.n
    own = relevance[start:start + n]
    if n == 1:
        order: Any = [0]
    elif len(scores) == 1:
        order = np.argsort(-own, kind="stable").tolist()  # best first, equal scores in input order
    else:
        reranked = np.zeros(n, dtype=np.int64)
        for label, s in scores.items():
            if label != "first-phase":
                reranked += ~np.isnan(s[start:start + n])
        # best first; among equal scores a re-ranked hit first, then the input order
        order = np.lexsort((np.arange(n), -reranked, -own)).tolist()
    if not kept[start:start + n].all():
        order = [i for i in order if kept[start + i]]
    # Python floats once per column (cheaper than a numpy scalar per cell)
    values = {label: s[start:start + n].tolist() for label, s in scores.items()}
    own_values = own.tolist()
    hits = []
    for i in order:
        hit: dict[str, Any] = {"id": request.documents[i].id, "index": i, "relevance": _number(own_values[i])}
        for label, column in values.items():
            value = column[i]
            if label == "first-phase" or value == value:  # a phase that did not re-rank this hit: NaN
                hit[label] = _number(value)
        for key, computed in features.items():
            hit[key] = {name: _feature_json(f, v, start + i) for name, (f, v) in computed.items()}
        hits.append(hit)
    return hits


def _first_phase_hits(request: "RankRequest", scores: np.ndarray) -> list[dict[str, Any]]:
    """What _hits gives when first-phase is the only phase and every hit is kept."""
    values = scores.tolist()
    docs = request.documents
    order = range(len(values)) if len(values) == 1 else np.argsort(-scores, kind="stable").tolist()
    hits = []
    for i in order:
        score = values[i] if math.isfinite(values[i]) else _number(values[i])
        hits.append({"id": docs[i].id, "index": i, "relevance": score, "first-phase": score})
    return hits


def _feature_json(feature: Any, values: Any, i: int) -> Any:
    from appkit.tensor.jsonformat import tensor_to_json

    if isinstance(values, list):
        t = values[i]
        return _number(t.as_float()) if t.type.is_scalar else tensor_to_json(t)
    row = values[i]
    t = feature.result_type
    if t is None or t.is_scalar:
        return _number(float(np.asarray(row).reshape(-1)[0]))
    return tensor_to_json(Tensor.from_numpy(t, row))
