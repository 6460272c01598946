"""`appkit rank` over a package, a bundle directory and a deployed version; the ONNX-scored profile
against onnxruntime; errors that name the document and the field, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _bundles import ONNX_CASE, REPO, onnx_bundle, package_copy, weighted_scores
from appkit.cli.main import main

DOCS = [{"put": f"id:shop:item::{i}",
         "fields": {"title": "t", "embedding": [i, 1.0, -0.5 * i, 2.0], "popularity": 0.25 * i,
                    "weights": {"values": [1.0, 0.5, 0.0, i]}}} for i in range(6)]


def _docs_file(tmp_path: Path, docs=DOCS) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def _ranked(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_rank_a_package_with_second_phase(tmp_path, capsys):
    root = package_copy(tmp_path / "pkg")
    code = main(["rank", str(root), "--profile", "item/weighted", "--docs", str(_docs_file(tmp_path)),
                 "--query", "query(q)=[1,0,0,1]", "--format", "jsonl"])
    assert code == 0
    hits = _ranked(capsys)
    assert len(hits) == len(DOCS)
    for hit in hits:
        first, second = weighted_scores(DOCS[hit["index"]]["fields"])
        assert hit["first-phase"] == pytest.approx(first, rel=1e-6)
        assert hit["second-phase"] == pytest.approx(second, rel=1e-6) == pytest.approx(hit["relevance"])
    assert [h["relevance"] for h in hits] == sorted((h["relevance"] for h in hits), reverse=True)


def test_onnx_scored_profile_matches_onnxruntime(tmp_path, capsys, tmp_path_factory):
    import onnxruntime as ort

    bundle = tmp_path / "bundle"
    for rel, data in onnx_bundle(tmp_path_factory).items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_bytes(data)
    code = main(["rank", str(bundle), "--profile", "item/scored", "--docs", str(_docs_file(tmp_path)),
                 "--format", "jsonl"])
    assert code == 0
    session = ort.InferenceSession(str(ONNX_CASE / "models" / "scorer.onnx"), providers=["CPUExecutionProvider"])
    for hit in _ranked(capsys):
        emb = np.asarray(DOCS[hit["index"]]["fields"]["embedding"], dtype=np.float32)
        expected = float(session.run(None, {"input": emb})[0].sum())
        assert hit["relevance"] == pytest.approx(expected, rel=1e-6)


def test_rank_a_deployed_version_and_the_active_one(tmp_path, capsys, tmp_path_factory):
    from appkit.deploy.store import publish_bundle

    store = tmp_path / "store"
    publish_bundle(store, onnx_bundle(tmp_path_factory))
    docs = _docs_file(tmp_path)
    assert main(["rank", "--target", str(store), "--version", "1", "--profile", "item/base", "--docs", str(docs),
                 "--query", 'q={"values": [1, 0, 0, 1]}', "--format", "jsonl"]) == 0
    by_version = _ranked(capsys)
    assert main(["rank", "--target", str(store), "--profile", "item/base", "--docs", str(docs),
                 "--query", "query(q)=tensor<float>(x[4]):[1,0,0,1]", "--format", "jsonl"]) == 0
    assert _ranked(capsys) == by_version
    assert main(["rank", "--target", str(store), "--version", "9", "--profile", "item/base", "--docs", str(docs)]) == 2
    assert "version 9 does not exist" in capsys.readouterr().err


def test_table_output(tmp_path, capsys):
    root = package_copy(tmp_path / "pkg")
    assert main(["rank", str(root), "--profile", "item/weighted", "--docs", str(_docs_file(tmp_path)),
                 "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "id:shop:item::5" in out and "second-phase" in out


def test_bad_documents_name_line_id_and_field(tmp_path, capsys):
    root = package_copy(tmp_path / "pkg")
    docs = [DOCS[0], {"put": "id:shop:item::x", "fields": {"embedding": [1, 2], "popularity": 1, "weights": [0] * 4}},
            {"put": "id:shop:item::y", "fields": {"embedding": [1, 2, 3, 4], "weights": [0] * 4}}]
    path = _docs_file(tmp_path, docs)
    assert main(["rank", str(root), "--profile", "item/weighted", "--docs", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:1: error[AK603]: line 2 (id:shop:item::x): field 'embedding'" in err
    assert f"{path}:3:1: error[AK602]: line 3 (id:shop:item::y): field 'popularity' is missing" in err
    assert "hint" in err and "Traceback" not in err


@pytest.mark.parametrize("args, code, words", [
    (["--profile", "item/nothere"], 1, "AK606"),
    (["--profile", "item/default"], 1, "no first-phase"),
    (["--profile", "item/base", "--query", "query(q)=[1,2]"], 1, "AK604"),
    (["--profile", "item/base", "--query", "query(nope)=1"], 1, "AK605"),
    (["--profile", "item/base", "--query", "justtext"], 1, "NAME=VALUE"),
])
def test_bad_profile_or_query(tmp_path, capsys, args, code, words):
    root = package_copy(tmp_path / "pkg")
    assert main(["rank", str(root), "--docs", str(_docs_file(tmp_path)), *args]) == code
    assert words in capsys.readouterr().err


def test_a_package_with_errors_is_not_ranked(tmp_path, capsys):
    root = package_copy(tmp_path / "pkg")
    sd = root / "schemas" / "item.sd"
    sd.write_text(sd.read_text().replace("similarity + attribute(popularity)", "similarity + attribute(nofield)"))
    assert main(["rank", str(root), "--profile", "item/base", "--docs", str(_docs_file(tmp_path))]) == 1
    assert "the package has errors" in capsys.readouterr().err


def test_rank_the_sample_app_with_index_features_and_query_profile_inputs(tmp_path, capsys):
    """sample_app's learned profile: bm25(title) given per document, query(q) typed by the query
    profile type, the default price weight from the profile's inputs, the TensorFlow ranker second."""
    rng = np.random.default_rng(3)
    docs = [{"put": f"id:shop:product::{i}", "rankfeatures": {"bm25(title)": float(i)},
             "fields": {"price": 10.0 * i, "embedding": rng.random(16).round(3).tolist(),
                        "features": {"values": [rng.random(8).round(3).tolist()]}, "output_bias": 0.5}}
            for i in range(4)]
    q = [0.1] * 16
    code = main(["rank", str(REPO / "sample_app"), "--profile", "product/learned", "--docs",
                 str(_docs_file(tmp_path, docs)), "--query", f"query(q)={json.dumps(q)}", "--format", "jsonl"])
    assert code == 0, capsys.readouterr().err
    hits = _ranked(capsys)
    assert len(hits) == 4 and all("second-phase" in h for h in hits)
    for hit in hits:
        fields = docs[hit["index"]]["fields"]
        similarity = float(np.dot(q, fields["embedding"]))
        assert hit["first-phase"] == pytest.approx(similarity - 0.01 * fields["price"], rel=1e-5)
        assert hit["summaryfeatures"]["bm25(title)"] == hit["index"]
        assert hit["summaryfeatures"]["similarity"] == pytest.approx(similarity, rel=1e-5)
    missing = [{"put": "id:shop:product::9", "fields": docs[0]["fields"]}]
    assert main(["rank", str(REPO / "sample_app"), "--profile", "product/learned", "--docs",
                 str(_docs_file(tmp_path, missing))]) == 1
    assert "AK612" in capsys.readouterr().err
