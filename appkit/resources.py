"""Where appkit's data files (grammars, RelaxNG schemas) are, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name  # the wheel puts them here (pyproject force-include)
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name  # a source checkout or an editable install


def grammar_path(filename: str) -> Path:
    return _data_dir("grammars") / filename


def schema_path(filename: str) -> Path:
    return _data_dir("schemas") / filename
