"""Vespa's tensor conformance suite: every case of shared/corpus/tensor_conformance.jsonl must pass.

No case is excluded. The suite's inputs and expected results are in Vespa's binary format; results
must have Vespa's type (cell type included) and cells equal to about 23 bits (Vespa's approx_equal).
"""

from __future__ import annotations

import json

from appkit.cli.main import main
from appkit.expr.evaluate import run_conformance_case
from tests.conftest import shared_path

EXCLUDED: dict[int, str] = {}  # line number -> reason; deliberately empty


def test_every_conformance_case_passes() -> None:
    path = shared_path("corpus", "tensor_conformance.jsonl")
    failures, ran = [], 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        case = json.loads(line)
        if "expression" not in case or number in EXCLUDED:
            continue
        ran += 1
        result = run_conformance_case(case)
        if not result.passed:
            failures.append(f"line {number}: {result.expression}: {result.error or (result.expected, result.actual)}")
    assert ran == 1987
    assert not failures, "\n".join(failures[:20])


def test_spec_command_reports_passes_and_failures(tmp_path, capsys) -> None:
    lines = shared_path("corpus", "tensor_conformance.jsonl").read_text().splitlines()[:5]
    broken = json.loads(lines[0])
    broken["result"]["expect"] = "0x02004014000000000000"  # the number 5.0, which reduce(a,avg,x) is not
    spec = tmp_path / "spec.jsonl"
    spec.write_text("\n".join(lines + [json.dumps(broken), '{"num_tests": 6}']) + "\n")
    assert main(["eval", "--spec", str(spec)]) == 1
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "5 passed, 1 failed"
    assert "FAILED reduce(a,avg,x)" in out and "expected: tensor():{5.0}" in out.replace("{5}", "{5.0}")
    spec.write_text("\n".join(lines) + "\n")
    assert main(["eval", "--spec", str(spec)]) == 0
    assert capsys.readouterr().out.strip() == "5 passed, 0 failed"


def test_spec_file_that_cannot_be_read(tmp_path, capsys) -> None:
    assert main(["eval", "--spec", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
