from pathlib import Path

from appkit.diagnostics_doc import all_rules, markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"


def test_docs_diagnostics_is_current():
    assert DOC.read_text() == markdown(), "regenerate: python -m appkit.diagnostics_doc > docs/diagnostics.md"


def test_every_rule_has_an_example_and_a_fix():
    missing = [r.code for r in all_rules() if not r.example or not r.fix]
    assert not missing, f"rules without an example or fix: {missing}"
