"""`appkit deploy` end to end on real packages: deterministic bundles, a lowered Vespa package that
validates clean, local versions with rollback, and nothing written for a package with errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appkit.cli.main import main

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = REPO / "sample_app"
CASES = REPO / "tests" / "cases"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".appkit"))
    return dest


def _deploy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appkit", "deploy", *args], capture_output=True, text=True,
                          cwd=REPO)


def test_two_processes_give_byte_identical_bundles(sample: Path, tmp_path: Path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    for out in (a, b):
        r = _deploy(str(sample), "--bundle-only", "-o", str(out))
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()


def test_bundle_has_profiles_constants_and_a_manifest_that_verifies(sample: Path, tmp_path: Path):
    from appkit.bundle.write import verify_bundle

    out = tmp_path / "bundle"
    assert main(["deploy", str(sample), "--bundle-only", "-o", str(out)]) == 0
    assert verify_bundle(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert "product_ranker_saved" in manifest["models"]
    learned = json.loads((out / "profiles" / "product" / "learned.json").read_text())
    second = learned["phases"]["second-phase"]["expression"]
    assert "tensorflow(" not in second and "constant(product_ranker_saved_hidden_weights)" in second
    assert learned["phases"]["second-phase"]["settings"]["rerank-count"] == 100
    assert "similarity" in learned["functions"]  # inherited from 'semantic'
    assert (out / "constants" / "product_ranker_saved_hidden_weights.npy").is_file()


def test_lowered_vespa_package_validates_clean(sample: Path, tmp_path: Path):
    out = tmp_path / "bundle"
    assert main(["deploy", str(sample), "--bundle-only", "-o", str(out)]) == 0
    lowered = out / "vespa"
    assert not (lowered / "models" / "product_ranker").exists()  # Vespa 8 has no TensorFlow import
    sd = (lowered / "schemas" / "product.sd").read_text()
    assert "tensorflow(" not in sd and "constant product_ranker_saved_hidden_weights {" in sd
    assert main(["validate", str(lowered), "--strict"]) == 0


def test_local_versions_activate_and_roll_back(sample: Path, capsys):
    store = sample / ".appkit" / "deployments"
    assert main(["deploy", str(sample)]) == 0
    capsys.readouterr()
    assert main(["deploy", str(sample), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["version"] == 2 and summary["action"] == "published"
    from appkit.deploy.store import VersionStore

    vs = VersionStore(store)
    assert [v.version for v in vs.list_versions()] == [1, 2] and vs.active() == 2
    assert main(["rollback", "--target", str(store)]) == 0
    assert vs.active() == 1
    assert main(["activate", "2", "--target", str(store)]) == 0
    assert vs.active() == 2


def test_package_with_errors_is_not_deployed(tmp_path: Path):
    app = tmp_path / "bad"
    shutil.copytree(CASES / "invalid" / "attribute_unknown", app)
    r = _deploy(str(app))
    assert r.returncode == 1
    assert "AK383" in r.stdout and "not deployed" in r.stderr
    assert not (app / ".appkit" / "deployments").exists()


def test_dry_run_writes_nothing(sample: Path):
    r = _deploy(str(sample), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run" in r.stdout
    assert not (sample / ".appkit" / "deployments").exists()


def test_usage_errors_exit_2(sample: Path):
    assert _deploy(str(sample), "--bundle-only").returncode == 2
    assert _deploy(str(sample / "nope")).returncode == 2
    assert _deploy(str(sample), "--keep", "0").returncode == 2


FEATURES = "tensor<float>(d0[1],d1[8]):[[0.5,-1,0.25,2,0,1,-0.5,0.75]]"


def _eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appkit", "eval", *args], capture_output=True, text=True, cwd=REPO)


def test_lowered_profiles_score_like_the_original(sample: Path, tmp_path: Path):
    out = tmp_path / "bundle"
    assert main(["deploy", str(sample), "--bundle-only", "-o", str(out)]) == 0
    learned = json.loads((out / "profiles" / "product" / "learned.json").read_text())
    second_phase = learned["phases"]["second-phase"]["expression"]
    # output_bias comes from the global document through the overriding function; TF's value is 0.1
    bias = "attribute(output_bias)=0.1"
    original = _eval("--app", str(sample), "--profile", "product/learned",
                     'sum(tensorflow("product_ranker/saved"))', f"attribute(features)={FEATURES}", bias)
    lowered = _eval("--app", str(out / "vespa"), "--profile", "product/learned", second_phase,
                    f"attribute(features)={FEATURES}", bias)
    assert original.returncode == 0, original.stderr
    assert lowered.returncode == 0, lowered.stderr
    assert original.stdout == lowered.stdout
    score = float(original.stdout.strip().split("{")[1].rstrip("}"))
    tf = pytest.importorskip("tensorflow")
    import numpy as np

    model = tf.saved_model.load(str(sample / "models" / "product_ranker" / "saved"))
    x = np.array([[0.5, -1, 0.25, 2, 0, 1, -0.5, 0.75]], dtype=np.float32)
    expected = float(model.signatures["serving_default"](x=tf.constant(x))["score"].numpy().sum())
    assert score == pytest.approx(expected, rel=1e-5)
    # the override is real: another bias in the global document moves the score by the difference
    moved = _eval("--app", str(sample), "--profile", "product/learned", 'sum(tensorflow("product_ranker/saved"))',
                  f"attribute(features)={FEATURES}", "attribute(output_bias)=1.1")
    assert float(moved.stdout.strip().split("{")[1].rstrip("}")) == pytest.approx(expected + 1.0, rel=1e-5)


def test_eval_app_uses_profile_functions_and_reports_unknown_profiles(sample: Path):
    q = "tensor<float>(x[16]):[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]"
    e = "tensor<float>(x[16]):[2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,3]"
    r = _eval("--app", str(sample), "--profile", "learned", "similarity", f"query(q)={q}", f"attribute(embedding)={e}")
    assert r.returncode == 0 and r.stdout.strip() == "tensor():{5.0}"
    r = _eval("--app", str(sample), "--profile", "nosuch", "1")
    assert r.returncode == 1 and "AK560" in r.stderr and "product/learned" in r.stderr


def test_onnx_model_declarations_evaluate_like_onnxruntime(tmp_path: Path):
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    app = CASES / "valid" / "with_onnx_model_declaration"
    r = _eval("--app", str(app), "--profile", "item/ort", "onnx(scorer).relevance",
              "attribute(embedding)=tensor<float>(x[4]):[1,2,3,4]")
    assert r.returncode == 0, r.stderr
    ours = [float(v) for v in r.stdout.split(":", 1)[1].strip(" []\n").split(",")]
    session = ort.InferenceSession(str(app / "models" / "scorer.onnx"))
    expected = session.run(None, {"input": np.array([1, 2, 3, 4], dtype=np.float32)})[0]
    assert ours == pytest.approx(expected.tolist(), rel=1e-6)
    out = tmp_path / "bundle"
    assert main(["deploy", str(app), "--bundle-only", "-o", str(out)]) == 0
    compiled = json.loads((out / "profiles" / "item" / "ort.json").read_text())
    assert "onnx(scorer)" not in compiled["phases"]["first-phase"]["expression"]  # appkit evaluates it
    lowered_sd = (out / "vespa" / "schemas" / "item.sd").read_text()
    assert "sum(onnx(scorer).relevance)" in lowered_sd  # Vespa runs the declared model in ONNX Runtime
    assert (out / "vespa" / "models" / "scorer.onnx").is_file()  # ... so its file is shipped


def test_a_model_lowered_to_expressions_is_not_shipped_again(tmp_path: Path):
    app = CASES / "valid" / "with_onnx_model"  # onnx_vespa("scorer.onnx"), no onnx-model declaration
    out = tmp_path / "bundle"
    assert main(["deploy", str(app), "--bundle-only", "-o", str(out)]) == 0
    lowered = out / "vespa"
    assert not (lowered / "models" / "scorer.onnx").exists()
    sd = (lowered / "schemas" / "item.sd").read_text()
    assert "onnx_vespa(" not in sd and "constant scorer_W {" in sd  # its weights are constants now
    assert main(["validate", str(lowered), "--strict"]) == 0


@pytest.mark.parametrize("runtime", [True, False], ids=["onnxruntime", "converted"])
def test_declared_onnx_model_runs_in_onnxruntime_or_converted(runtime: bool, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    from appkit.bundle import onnx_runtime
    from appkit.bundle.profile_context import profile_context
    from appkit.cli.eval import run_expression

    monkeypatch.setattr(onnx_runtime, "available", lambda: runtime)
    ctx = profile_context(CASES / "valid" / "with_onnx_model_declaration", "item/ort")
    assert ctx.diagnostics == []
    code = run_expression("sum(onnx(scorer).relevance)", ["attribute(embedding)=tensor<float>(x[4]):[1,2,3,4]"],
                          None, False, sys.stdout, sys.stderr, functions=ctx.functions, known_values=ctx.values,
                          known_types=ctx.types, rewrite=ctx.lower, before_evaluation=ctx.before_evaluation)
    assert code == 0
    assert ctx.runtime_models == ({"scorer"} if runtime else set())
    value = float(capsys.readouterr().out.strip().split("{")[1].rstrip("}"))
    assert value == pytest.approx(-1.6704836 + 0.9034829, rel=1e-6)
