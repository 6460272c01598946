"""Broken ranking expressions: the diagnostic's code, position, message in the user's words, and hint."""

from __future__ import annotations

import pytest

from appkit.expr.parse import ExpressionSyntaxError, parse_expression, parse_feature_list
from appkit.source import Span


@pytest.mark.parametrize("text, code, line, column, message, hint", [
    ("join(a, b, f(x,y)(x*y)", "AK301", 1, 23,
     "expected ')' to close 'join(' opened at 1:1, found end of expression", "add ')'"),
    ("reduce(join(a, b, f(x,y)(x * y)), sum, x]", "AK301", 1, 41,
     "expected ')' to close 'reduce(' opened at 1:1, found ']'", "replace ']' with ')'"),
    ("if(a in [1, 2), 1, 0)", "AK301", 1, 14, "expected ']' to close '[' opened at 1:9, found ')'", "add ']' before ')'"),
    ("a, b", "AK300", 1, 2, "expected end of expression, found ','",
     "',' separates arguments inside parentheses: a '(' is missing, or a ')' comes too early"),
    ("a + b)", "AK301", 1, 6, "')' closes nothing", "remove it, or add the '(' it should close"),
    ("attribute(a) attribute(b)", "AK300", 1, 14, "expected an operator, found name 'attribute'",
     "put an operator such as '+' or '*' between the two values, or ',' between arguments"),
    ("if(a > b,\n   1,\n   )", "AK300", 3, 4, "expected a value, found ')'",
     "a value is missing before ')': add it, or remove the ',' or operator before it"),
    ("a +", "AK300", 1, 4, "expected a value, found end of expression",
     "complete the expression: a value must follow the last operator or ','"),
    ("a = b", "AK302", 1, 3, "'=' is not an operator", "compare with '=='"),
    ("a & b", "AK302", 1, 3, "'&' alone is not an operator", "use '&&'"),
    ("query(x)\u00a0+ 1", "AK302", 1, 9, "invalid whitespace character U+00A0", "replace it with a plain space"),
    ("\ufeffa + b", "AK302", 1, 1, "byte-order mark (U+FEFF) in the expression",
     "save the file as UTF-8 without a byte-order mark"),
    ('foo("abc)', "AK302", 1, 5, "this string is never closed", 'add the closing "'),
    ("", "AK316", 1, 1, "the expression is empty", "write the expression, e.g. attribute(popularity) * 2"),
    ("pow(x)", "AK304", 1, 1, "pow() takes 2 arguments, got 1", "call it as pow(x, y)"),
    ("join(a, b, f(x)(x))", "AK304", 1, 12, "the last argument of join() must be a lambda with 2 parameters; found "
     "a lambda with 1 parameter(s)", "call it as join(a, b, f(x,y)(x * y))"),
    ("f(x)(x * 2)", "AK305", 1, 1, "a lambda f(...)(...) can only be the function argument of map, join, merge, "
     "map_subspaces or filter_subspaces", "pass it to one of them, e.g. map(t, f(x)(x * 2))"),
    ("map(t, f(x)(x + attribute(w)))", "AK306", 1, 17, "the lambda f(x) uses the feature 'attribute(...)'",
     "a lambda sees only its parameters; join the feature in: join(t, feature, f(x,y)(x * y))"),
    ("reduce(t, total, x)", "AK311", 1, 11, "the second argument of reduce() is the aggregator: avg, count, max, "
     "median, min, prod, sum", "write e.g. reduce(t, sum, x)"),
    ("reduce(t, sum, x + 1)", "AK310", 1, 16, "expected a dimension name here, found an expression",
     "name the dimension, e.g. x or d0"),
    ("cell_cast(t, float32)", "AK312", 1, 14, "the second argument of cell_cast() is a cell type",
     "use one of double, float, bfloat16, int8"),
    ("sum(t, (x, y))", "AK313", 1, 8, "a parenthesised list of names is only an argument of rename()",
     "remove the parentheses, or use rename(t, (a, b), (c, d))"),
    ("sum(t).value", "AK314", 1, 7, "'sum(...)' is a built-in function and has no output '.value'",
     "remove '.value'; outputs belong to rank features"),
    ("tensor(x[3]):[1, 2]", "AK308", 1, 14, "tensor(x[3]) needs 3 values, got 2",
     "give 3 values, in the order of the dimensions as written (x[3])"),
    ("$1", "AK300", 1, 2, "expected a name, found number 1", "names start with a letter or '_', e.g. x or d0"),
])
def test_error_position_message_and_hint(text, code, line, column, message, hint) -> None:
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression(text, path="p.expression")
    d = err.value.diagnostic
    assert (d.code, d.span.path, d.span.line, d.span.column) == (code, "p.expression", line, column), str(d)
    assert d.message == message
    assert d.hint == hint


def test_errors_point_into_the_schema_file() -> None:
    """An expression embedded at line 12, column 25 of a schema: errors on its first line move by the
    column too, errors on later lines keep their own column."""
    origin = Span("schemas/music.sd", 12, 25)
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression("a b", origin=origin)
    assert str(err.value.diagnostic).startswith("schemas/music.sd:12:27: error[AK300]")
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression("a +\n    (b", origin=origin)
    d = err.value.diagnostic
    assert (d.span.line, d.span.column) == (13, 7)
    assert d.message == "expected ')' to close '(' opened at 13:5, found end of expression"


def test_feature_list_errors() -> None:
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_feature_list("attribute(a)\n  fieldMatch(title) * 2", origin=Span("s.sd", 5, 20))
    d = err.value.diagnostic
    assert (d.code, d.span.line, d.span.column) == ("AK315", 6, 21)
    assert d.message == "expected a name or '.', found '*': a feature list holds rank features separated by spaces"
