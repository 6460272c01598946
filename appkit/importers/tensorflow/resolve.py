"""Which expression of an imported model `tensorflow("dir", "sig", "out")` means, with Vespa's error texts.

Resolution (Vespa's ConvertedModel.selectExpression, reference §3.2): the exact name `sig.out`, then
`default.<name>`, then with no signature the single expression, with a signature only the single
expression of that signature. Every error lists the available expressions. Works on anything with
`outputs` keyed by expression name (an ImportedModel, or the cached ModelInterface validation
uses), so `onnx_vespa(...)` (signature `default`) resolves the same way; this is the one place
that resolution lives.
"""

from __future__ import annotations

from appkit.diagnostics import Diagnostic, rule
from typing import Any

AK410 = rule("AK410", "model has no such expression",
             example="tensorflow(\"mnist/saved\", \"serving_defaultz\") where only serving_default.y exists",
             fix="use one of the available expressions the message lists, e.g. tensorflow(\"mnist/saved\", "
             "\"serving_default\", \"y\")")
AK411 = rule("AK411", "model output is ambiguous",
             example="tensorflow(\"m/saved\") on a model with outputs serving_default.y and serving_default.z",
             fix="name the signature and output: tensorflow(\"m/saved\", \"serving_default\", \"y\")")


def resolve_output(model: Any, signature: str | None = None, output: str | None = None,
                   label: str | None = None) -> tuple[str | None, Diagnostic | None]:
    """(expression name, None) or (None, a diagnostic whose message lists what is available).

    `label` is how the message names the model (Vespa used its path under models/, e.g.
    'mnist_softmax/saved'); by default the model name.
    """
    names = sorted(model.outputs)
    shown = label or model.name
    available = f"Available expressions: {', '.join(names) if names else '(none)'}"
    if signature is None:
        if len(names) == 1:
            return names[0], None
        if not names:
            return None, Diagnostic(AK410, f"No expressions are available in model '{shown}'", hint=_hint(model))
        return None, Diagnostic(AK411, f"Multiple candidate expressions in model '{shown}'. {available}",
                                hint=_hint(model))
    wanted = signature if output is None else f"{signature}.{output}"
    for candidate in (wanted, f"default.{wanted}"):
        if candidate in model.outputs:
            return candidate, None
    if output is None:
        matches = [n for n in names if n.startswith(signature + ".")]
        if len(matches) == 1:
            return matches[0], None
        if not matches:
            return None, Diagnostic(AK410, f"No expressions named '{signature}' in model '{shown}'. {available}",
                                    hint=_hint(model))
        return None, Diagnostic(AK411, f"Multiple candidate expression named '{signature}' in model '{shown}'. "
                                f"{available}", hint=_hint(model))
    return None, Diagnostic(AK410, f"No expression '{wanted}' in model '{shown}'. {available}", hint=_hint(model))


def _hint(model: Any) -> str | None:
    if not model.outputs:
        return "the model imported no outputs; see its import diagnostics"
    first = sorted(model.outputs)[0]
    signature, _, output = first.partition(".")
    return f"for example: {model.format}(\"...\", \"{signature}\", \"{output}\")"
