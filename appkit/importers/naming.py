"""Names Vespa gives to imported things: model names from paths, node names made into identifiers.

Rules from Vespa's ImportedMlModels.toName and IntermediateOperation.vespaName (reference §2.1-2.4).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from appkit.diagnostics import Diagnostic, rule

AK444 = rule("AK444", "invalid imported model name",
             example="models/my-model.onnx (the model name would be 'my-model')",
             fix="rename the file or directory so its path under models/ holds only letters, digits, '_' and '.'")

FUNCTION_PREFIX = "imported_ml_function_"
_MODEL_NAME_OK = re.compile(r"^[A-Za-z0-9_]*$")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def model_name(relative: str | PurePosixPath | Path, is_file: bool) -> str:
    """The model name of a path: the part below the first `models` element joined with `_`, the
    file extension stripped, `.` replaced by `_` (`models/a/b.c/m.onnx` -> `a_b_c_m`)."""
    parts = list(PurePosixPath(str(relative).replace("\\", "/")).parts)
    if "models" in parts:
        parts = parts[parts.index("models") + 1:]
    if is_file and parts:
        last = parts[-1]
        if "." in last:
            parts[-1] = last[: last.rindex(".")]
    return "_".join(parts).replace(".", "_")


def check_model_name(name: str) -> Diagnostic | None:
    if _MODEL_NAME_OK.match(name):
        return None
    return Diagnostic(AK444, f"An imported model name can only contain [A-Za-z0-9_], but is '{name}'",
                      hint="rename the model's file or directory under models/ to use only letters, digits and '_'")


def name_part(name: str) -> str:
    """A framework tensor name without a leading `^` and without its `:N` output suffix."""
    name = name[1:] if name.startswith("^") else name
    return name.split(":", 1)[0]


def vespa_name(name: str) -> str:
    """A node or graph-input name as a Vespa identifier: `:N` stripped, `/` and `.` -> `_`, and any
    other character that cannot appear in a function name -> `_`."""
    text = _NOT_IDENTIFIER.sub("_", name_part(name))
    if not text:
        return "_"
    return text if not text[0].isdigit() else "_" + text


def constant_name(model: str, node: str) -> str:
    return f"{model}_{vespa_name(node)}"


def function_name(model: str, node: str) -> str:
    return f"{FUNCTION_PREFIX}{model}_{vespa_name(node)}"


def config_name(path: str) -> str:
    """The name Vespa gives the generated onnx-model of `onnx("files/m.onnx")`: every non-identifier
    character of the path becomes `_` (`files_m_onnx`)."""
    text = re.sub(r"[^\w\d$@]", "_", path)
    return text if not text[:1].isdigit() else "_" + text
