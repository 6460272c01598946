"""Vespa's phase semantics: second-phase only on each request's best rerank-count by first-phase,
the others keep their first-phase order below the re-ranked ones; global-phase after that."""

from __future__ import annotations

import numpy as np
import pytest

from _bundles import profile_entries
from appkit.serve.documents import read_document
from appkit.serve.phases import rescore_rest
from appkit.serve.runtime import RankingBundle

ATTRS = {"a": "tensor()", "b": "tensor()"}


def _rank(entries, docs, query=None, key="s/p"):
    profile = RankingBundle.load(entries).profile(key)
    parsed = [read_document(d, i, profile.fields) for i, d in enumerate(docs)]
    return profile.rank_many([profile.request(parsed, query or {})])[0]


def test_second_phase_runs_only_on_the_top_rerank_count():
    entries = profile_entries({"first-phase": "attribute(a)",
                               "second-phase": {"expression": "attribute(b) * 100", "settings": {"rerank-count": 2}}},
                              ATTRS)
    docs = [{"put": f"id:x:s::{i}", "fields": {"a": a, "b": b}}
            for i, (a, b) in enumerate([(1, 9), (5, 1), (3, 2), (4, 0.5), (2, 8)])]
    hits = _rank(entries, docs)
    reranked = {h["id"] for h in hits if "second-phase" in h}
    assert reranked == {"id:x:s::1", "id:x:s::3"}  # first-phase 5 and 4
    by_id = {h["id"]: h for h in hits}
    assert by_id["id:x:s::1"]["relevance"] == 100 and by_id["id:x:s::3"]["relevance"] == 50
    # docs 0 and 4 would win the second phase (900, 800) but were not re-ranked
    assert [h["id"] for h in hits] == ["id:x:s::1", "id:x:s::3", "id:x:s::2", "id:x:s::4", "id:x:s::0"]
    assert all(h["first-phase"] == docs[h["index"]]["fields"]["a"] for h in hits)


def test_hits_not_reranked_are_shifted_below_the_reranked_ones():
    # first-phase of the re-ranked: 10, 8; second-phase 1, 3 -> the rest (7, 6) moves below 1
    before, after = np.array([10.0, 8.0]), np.array([1.0, 3.0])
    rest = rescore_rest(before, after, np.array([7.0, 6.0]))
    assert (rest < after.min()).all() and rest[0] > rest[1]
    scale = (3.0 - 1.0) / (10.0 - 8.0)
    np.testing.assert_allclose(rest, np.array([7.0, 6.0]) * scale - (8.0 * scale - 1.0))
    # no shift when the re-ranked scores stay above everything else
    np.testing.assert_array_equal(rescore_rest(before, np.array([20.0, 30.0]), np.array([7.0])), [7.0])


def test_default_rerank_count_is_100_and_global_phase_reranks_after_second():
    entries = profile_entries({"first-phase": "attribute(a)", "second-phase": "attribute(a) + 1000",
                               "global-phase": {"expression": "firstPhase * -1", "settings": {"rerank-count": 3}}},
                              ATTRS)
    docs = [{"a": float(i), "b": 0.0} for i in range(120)]
    hits = _rank(entries, docs)
    assert sum("second-phase" in h for h in hits) == 100
    assert sum("global-phase" in h for h in hits) == 3
    top = hits[:3]  # global-phase re-ranked docs 119, 118, 117 by -firstPhase: 117 first
    assert [h["index"] for h in top] == [117, 118, 119]
    assert [h["global-phase"] for h in top] == [-117.0, -118.0, -119.0]
    assert hits[3]["index"] == 116 and hits[-1]["index"] == 0
    relevance = [h["relevance"] for h in hits]
    assert relevance == sorted(relevance, reverse=True)


def test_requests_ranked_together_rerank_each_their_own_top():
    entries = profile_entries({"first-phase": "attribute(a) * query(w)",
                               "second-phase": {"expression": "attribute(b)", "settings": {"rerank-count": 1}}},
                              ATTRS, inputs={"query(w)": {"type": "double", "default": "1"}})
    profile = RankingBundle.load(entries).profile("s/p")
    docs = [read_document({"a": a, "b": b}, i, profile.fields) for i, (a, b) in enumerate([(1, 10), (2, 20)])]
    one = profile.request(docs, {})
    other = profile.request(docs, {"w": -1})
    hits_one, hits_other = profile.rank_many([one, other])
    assert [h["index"] for h in hits_one if "second-phase" in h] == [1]
    assert [h["index"] for h in hits_other if "second-phase" in h] == [0]
    assert hits_other[0]["first-phase"] == -1.0 and hits_other[0]["relevance"] == 10.0


def test_summary_features_functions_and_tensor_values():
    entries = profile_entries({"first-phase": "total"}, {"v": "tensor<float>(x[3])"},
                              functions={"total": {"params": [], "expression": "reduce(attribute(v), sum)"},
                                         "doubled": {"params": [], "expression": "attribute(v) * 2"}},
                              summary=["total", "doubled", "attribute(v)"])
    hits = _rank(entries, [{"v": [1, 2, 3]}])
    features = hits[0]["summaryfeatures"]
    assert features["total"] == 6.0
    assert features["doubled"]["values"] == [2.0, 4.0, 6.0]


def test_index_features_are_given_per_document_and_a_missing_one_is_named():
    from appkit.serve.errors import RankingError

    entries = profile_entries({"first-phase": "bm25(title) + 2 * fieldMatch(title).completeness + attribute(a)"},
                              ATTRS, summary=["bm25(title)"])
    hits = _rank(entries, [{"put": "id:x:s::1", "fields": {"a": 1},
                            "rankfeatures": {"bm25(title)": 1.5, "fieldMatch(title).completeness": 0.25}},
                           {"a": 4, "rankfeatures": {"bm25(title)": 0, "fieldMatch(title).completeness": 0}}])
    assert [(h["index"], h["relevance"]) for h in hits] == [(1, 4.0), (0, 3.0)]
    assert hits[1]["summaryfeatures"] == {"bm25(title)": 1.5}
    with pytest.raises(RankingError) as info:
        _rank(entries, [{"put": "id:x:s::2", "fields": {"a": 1}, "rankfeatures": {"bm25(title)": 1}}])
    e = info.value
    assert e.code == "AK612" and e.field == "fieldMatch(title).completeness" and "rankfeatures" in e.hint


def test_profile_using_a_feature_without_arguments_is_reported_not_evaluable():
    entries = profile_entries({"first-phase": "nativeRank + attribute(a)"}, ATTRS)
    bundle = RankingBundle.load(entries)
    assert "s/p" in bundle.failures
    error = bundle.failures["s/p"]
    assert error.code == "AK607" and "nativeRank" in error.message


def test_constants_from_literal_and_file_sources():
    extra = {"vespa/constants/c.json": b'{"values": [1, 2]}'}
    entries = profile_entries({"first-phase": "reduce(attribute(v) * constant(c), sum) + constant(k)"},
                              {"v": "tensor(x[2])"}, constants={"c": "tensor(x[2])", "k": "double"},
                              sources={"c": {"file": "vespa/constants/c.json"}, "k": {"value": "0.5"}},
                              extra=extra)
    assert _rank(entries, [{"v": [3, 4]}])[0]["relevance"] == pytest.approx(11.5)


def test_rank_score_drop_limit_removes_hits_per_phase():
    entries = profile_entries({"first-phase": {"expression": "attribute(a)", "settings": {"rank-score-drop-limit": 1.0}},
                               "second-phase": {"expression": "attribute(b)",
                                                "settings": {"rerank-count": 2, "rank-score-drop-limit": 0.0}}},
                              ATTRS)
    docs = [{"a": a, "b": b} for a, b in [(0.5, 5), (1.0, 5), (3, -1), (2, 7), (1.5, 9)]]
    hits = _rank(entries, docs)
    # first phase drops a <= 1 (docs 0, 1); second re-ranks the best two left (3 and 2: a = 3, 2), drops b <= 0
    assert [h["index"] for h in hits] == [3, 4]
    assert "second-phase" in hits[0] and "second-phase" not in hits[1]


def test_match_features_are_returned_beside_summary_features():
    entries = profile_entries({"first-phase": "attribute(a)"}, ATTRS, summary=["attribute(b)"])
    profile_json = entries["profiles/s/p.json"].decode().replace('"match_features": []', '"match_features": ["attribute(a) * 2"]')
    hits = _rank({"profiles/s/p.json": profile_json.encode()}, [{"a": 2, "b": 3}])
    assert hits[0]["summaryfeatures"] == {"attribute(b)": 3.0}
    assert hits[0]["matchfeatures"] == {"attribute(a) * 2": 4.0}
