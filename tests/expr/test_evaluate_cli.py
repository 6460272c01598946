"""`appkit eval EXPR NAME=VALUE...`: results in literal or JSON form, values in every form, and errors
as located diagnostics with documented exit codes (never a traceback)."""

from __future__ import annotations

import json

import pytest

from appkit.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["eval", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_the_result_in_literal_form(capsys) -> None:
    code, out, _ = run(capsys, "sum(query(q) * attribute(a))", "query(q)=tensor(x[3]):[1,2,3]",
                       "attribute(a)=tensor(x[3]):[4,5,6]")
    assert code == 0 and out.strip() == "tensor():{32.0}"
    code, out, _ = run(capsys, "t * 2", "t=tensor(k{}):{a:1.5}")
    assert code == 0 and out.strip() == "tensor(k{}):{a:3.0}"


def test_values_in_json_and_from_files(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "a + 1", 'a={"type": "tensor(x[2])", "values": [1, 2]}')
    assert code == 0 and out.strip() == "tensor(x[2]):[2.0, 3.0]"
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"type": "tensor<float>(x[2])", "values": [0.5, 1]}))
    code, out, _ = run(capsys, "constant(w) * 2", f"constant(w)=@{path}", "--json")
    assert code == 0 and json.loads(out) == {"type": "tensor<float>(x[2])", "values": [1.0, 2.0]}


def test_type_errors_are_located(capsys) -> None:
    code, out, err = run(capsys, "reduce(query(q), sum, y)", "query(q)=tensor(x[3]):[1,2,3]")
    assert code == 1 and out == ""
    assert "<expression>:1:1: error[AK341]" in err and "hint:" in err and "Traceback" not in err


def test_syntax_errors_are_located(capsys) -> None:
    code, _, err = run(capsys, "reduce(query(q) sum, y)")
    assert code == 1 and "<expression>:1:17" in err and "Traceback" not in err


def test_bad_values(capsys) -> None:
    code, _, err = run(capsys, "a + 1", "a=tensor(x[2]):[1,2")
    assert code == 1 and "<value of a>:1:" in err and "AK320" in err
    code, _, err = run(capsys, "a + 1", "a")
    assert code == 1 and "AK370" in err
    code, _, err = run(capsys, "a + 1", "a=@/does/not/exist.json")
    assert code == 2 and "cannot read" in err


def test_missing_value(capsys) -> None:
    code, _, err = run(capsys, "a + b", "a=1")
    assert code == 1 and "<expression>:1:5: error[AK360]: no value for 'b'" in err


def test_usage(capsys) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "give an expression" in err
