"""The diagnostics of the ranking-expression parser (AK300-AK319) and the error that carries them.

Registered here, at import, so every module of the parser raises the same codes and docs list them.
"""

from __future__ import annotations

from appkit.diagnostics import AppkitError, Diagnostic, rule
from appkit.source import Span

AK300 = rule("AK300", "ranking expression syntax error",
             example="expression: attribute(a) attribute(b)",
             fix="join the two values with an operator: attribute(a) + attribute(b)")
AK301 = rule("AK301", "unclosed or mismatched bracket in a ranking expression",
             example="expression: join(a, b, f(x,y)(x*y)",
             fix="close every '(', '[' and '{': join(a, b, f(x,y)(x*y))")
AK302 = rule("AK302", "character that cannot start any token of a ranking expression",
             example="expression: a = b",
             fix="use '==' to compare: a == b")
AK303 = rule("AK303", "ranking expression nested too deeply",
             example="an expression with hundreds of nested function calls",
             fix="split it into rank-profile functions and call them by name")
AK304 = rule("AK304", "built-in function called with the wrong arguments",
             example="expression: pow(x)",
             fix="give pow its two arguments: pow(x, 2)")
AK305 = rule("AK305", "lambda outside map, join, merge, map_subspaces or filter_subspaces",
             example="expression: f(x)(x * 2)",
             fix="pass the lambda to a tensor function: map(t, f(x)(x * 2))")
AK306 = rule("AK306", "lambda uses a name that is not one of its parameters",
             example="expression: map(t, f(x)(x + sum(t)))",
             fix="a lambda sees only its parameters; compute the rest outside: join(t, sum(t), f(x,s)(x + s))")
AK307 = rule("AK307", "invalid tensor type in a ranking expression",
             example="expression: tensor(x[])(x + 1)",
             fix="give every generated dimension a size: tensor(x[3])(x + 1)")
AK308 = rule("AK308", "tensor literal does not fill its type",
             example="expression: tensor(x[3]):[1, 2]",
             fix="give one value per cell: tensor(x[3]):[1, 2, 3]")
AK309 = rule("AK309", "invalid cell address or label in a tensor literal",
             example="expression: tensor(x[2]):{{x:5}:1}",
             fix="use a label the dimension has: tensor(x[2]):{{x:1}:1}")
AK310 = rule("AK310", "dimension name expected",
             example="expression: reduce(t, sum, x + 1)",
             fix="name the dimensions to reduce: reduce(t, sum, x)")
AK311 = rule("AK311", "unknown reduce aggregator",
             example="expression: reduce(t, total, x)",
             fix="use one of avg, count, max, median, min, prod, sum: reduce(t, sum, x)")
AK312 = rule("AK312", "unknown tensor cell type",
             example="expression: cell_cast(t, float32)",
             fix="use one of double, float, bfloat16, int8: cell_cast(t, float)")
AK313 = rule("AK313", "argument form not allowed here",
             example="expression: sum(t, (x, y))",
             fix="a parenthesised name list belongs to rename() only; write sum(t, x, y)")
AK314 = rule("AK314", "output selected on something that is not a rank feature",
             example="expression: sum(t).value",
             fix="outputs belong to rank features such as fieldMatch(title).completeness; drop '.value'")
AK315 = rule("AK315", "feature list holds something that is not a rank feature",
             example="summary-features: attribute(a) + 1",
             fix="list features separated by spaces; compute sums in a function and list the function")
AK316 = rule("AK316", "empty ranking expression",
             example="expression: ",
             fix="write the expression after 'expression:', e.g. expression: attribute(popularity)")


class ExpressionSyntaxError(AppkitError):
    """A ranking expression that cannot be parsed; carries exactly one located Diagnostic."""

    def __init__(self, code: str, message: str, span: Span | None, hint: str | None = None):
        super().__init__(Diagnostic(code, message, span, hint))

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]
