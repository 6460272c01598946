"""The ranking-expression parser and printer: Vespa's own test expressions, precedence, trees, spans."""

from __future__ import annotations

import json
import time

import pytest

from appkit.expr import ir
from appkit.expr.parse import ExpressionSyntaxError, parse_expression, parse_feature_list
from appkit.expr.printer import print_expression
from appkit.source import Span
from appkit.tensor.type import CellType, TensorType
from tests.conftest import shared_path

# Expressions of the corpus that Vespa itself rejects, with the Java test that says so.
VESPA_REJECTS = {
    "map(tensor0, f(x) (log10(x+sum(tensor0)))": (
        "AK306", "EvaluationTestCase.testLambdaValidation expects 'Lambda log10(x + reduce(tensor0, sum)) accesses "
                 "features outside its scope: tensor0' (the string also lacks a closing parenthesis)"),
}


def roundtrip(text: str) -> ir.Node:
    tree = parse_expression(text)
    printed = print_expression(tree)
    assert parse_expression(printed) == tree, f"{text!r} printed as {printed!r} reads back differently"
    return tree


def test_all_corpus_expressions_parse_and_print_back():
    path = shared_path("corpus", "expressions", "java_test_expressions.json")
    cases = json.loads(path.read_text())
    assert len(cases) == 355
    parsed, rejected = 0, []
    for case in cases:
        text = case["expression"]
        if text in VESPA_REJECTS:
            code, reason = VESPA_REJECTS[text]
            with pytest.raises(ExpressionSyntaxError) as err:
                parse_expression(text)
            assert err.value.diagnostic.code == code, reason
            rejected.append((case["line"], reason))
            continue
        roundtrip(text)
        parsed += 1
    print(f"\n{parsed} of {len(cases)} corpus expressions parse and print back to the same tree; "
          f"{len(rejected)} rejected as Vespa rejects them: {rejected}")
    assert parsed + len(rejected) == len(cases)


# ---- precedence and associativity (vespa-syntax.md 2.3) ---------------------------------------------

def B(op: str, left: ir.Node, right: ir.Node) -> ir.BinaryOp:
    return ir.BinaryOp(op, left, right)


N, R = ir.Number, ir.Ref


@pytest.mark.parametrize("text, tree", [
    ("1 + 10 % 6 / 2", B("+", N(1), B("/", B("%", N(10), N(6)), N(2)))),
    ("4^3^2", B("^", N(4), B("^", N(3), N(2)))),
    ("-2^2", B("^", N(-2), N(2))),
    ("-a^2", B("^", ir.Neg(R("a")), N(2))),
    ("a*b%c", B("*", R("a"), B("%", R("b"), R("c")))),
    ("a - b - c", B("-", B("-", R("a"), R("b")), R("c"))),
    ("a + b - c", B("+", R("a"), B("-", R("b"), R("c")))),
    ("a - b + c", B("+", B("-", R("a"), R("b")), R("c"))),
    ("2 + 0 && 1", B("&&", B("+", N(2), N(0)), N(1))),
    ("a || b && c", B("||", R("a"), B("&&", R("b"), R("c")))),
    ("2>3<1", B(">", N(2), B("<", N(3), N(1)))),
    ("a == b != c", B("!=", B("==", R("a"), R("b")), R("c"))),
    ("a != b == c", B("!=", R("a"), B("==", R("b"), R("c")))),
    ("!a && b", B("&&", ir.Not(R("a")), R("b"))),
    ("!-a", ir.Neg(ir.Not(R("a")))),  # Vespa's value(): ! applies first, then the minus
    ("!(-a)", ir.Not(ir.Neg(R("a")))),
    ("- -2", ir.Neg(N(-2))),
    ("-(2)", ir.Neg(N(2))),
    ("a + b in [1, 2]", ir.In(B("+", R("a"), R("b")), (N(1), N(2)))),
    ("a || b in [c]", ir.In(B("||", R("a"), R("b")), (R("c"),))),
    ("-t{x:1}", ir.Neg(ir.Slice(R("t"), (("x", N(1)),)))),
    ("2 * 3 ^ 2", B("*", N(2), B("^", N(3), N(2)))),
    ("(a + b) * c", B("*", B("+", R("a"), R("b")), R("c"))),
])
def test_precedence(text: str, tree: ir.Node) -> None:
    assert roundtrip(text) == tree


@pytest.mark.parametrize("tree, text", [
    (B("-", R("a"), B("-", R("b"), R("c"))), "a - (b - c)"),
    (B("-", B("-", R("a"), R("b")), R("c")), "a - b - c"),
    (B("+", R("a"), B("-", R("b"), R("c"))), "a + b - c"),
    (B("-", R("a"), B("+", R("b"), R("c"))), "a - (b + c)"),
    (B("^", B("^", R("a"), R("b")), R("c")), "(a ^ b) ^ c"),
    (B("^", R("a"), B("^", R("b"), R("c"))), "a ^ b ^ c"),
    (B("*", R("a"), B("%", R("b"), R("c"))), "a * b % c"),
    (B("%", B("*", R("a"), R("b")), R("c")), "(a * b) % c"),
    (ir.Neg(N(2)), "-(2)"),
    (ir.Neg(N(-2)), "-(-2)"),
    (ir.Not(ir.Neg(R("a"))), "!(-a)"),
    (ir.Neg(ir.Neg(R("a"))), "-(-a)"),
    (ir.Slice(ir.Slice(R("t"), (("x", N(1)),)), (("y", N(2)),)), "(t{x:1}){y:2}"),
    (ir.In(ir.In(R("a"), (N(1),)), (N(0),)), "(a in [1]) in [0]"),
    (B("*", ir.In(R("a"), (N(1),)), N(2)), "(a in [1]) * 2"),
    (ir.Slice(N(-2), (("", N(0)),), bracket=True), "(-2)[0]"),
    (ir.Slice(B("+", R("a"), R("b")), (("x", ir.String("k")),)), "(a + b){x:k}"),
    (ir.Slice(R("t"), (("x", R("y")),)), "t{x:(y)}"),
    (N(0.5), "0.5"), (N(3.0), "3"), (N(1e20), "1e+20"), (N(-1.5e-7), "-1.5e-07"),
])
def test_printer_uses_minimal_parentheses(tree: ir.Node, text: str) -> None:
    assert print_expression(tree) == text
    assert parse_expression(text) == tree


# ---- constructs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tree", [
    ("attribute(foo.bar)", ir.Feature("attribute", (R("foo.bar"),))),
    ("$x", ir.Feature("query", (R("x"),))),
    ("foo()", ir.Feature("foo", ())),
    ("foo", R("foo")),
    ("match.totalWeight", R("match.totalWeight")),
    ("feature ( arg1 ) . out.out", ir.Feature("feature", (R("arg1"),), "out.out")),
    ("feature.0", R("feature.0")),
    ("bm25(field: title, label: 'x y')", ir.Feature("bm25", (ir.NamedArg("field", "title"), ir.NamedArg("label", "x y")))),
    ('tensorflow("m/saved", "sig", "out")', ir.Feature("tensorflow", tuple(map(ir.String, ("m/saved", "sig", "out"))))),
    ("if(a, 1, 0, 0.3)", ir.If(R("a"), N(1), N(0), 0.3)),
    ("switch(x) {case 1: a, case 2: b, default: c}", ir.Switch(R("x"), ((N(1), R("a")), (N(2), R("b"))), R("c"))),
    ("map(t, f(x)(x * x))", ir.Map(R("t"), ir.Lambda(("x",), B("*", R("x"), R("x"))))),
    ("join(a, b, f(x,y)(x + y))", ir.Join(R("a"), R("b"), ir.Lambda(("x", "y"), B("+", R("x"), R("y"))))),
    ("merge(a, b, f(x,y)(y))", ir.Merge(R("a"), R("b"), ir.Lambda(("x", "y"), R("y")))),
    ("filter_subspaces(t, f(s)(s > 1))", ir.FilterSubspaces(R("t"), ir.Lambda(("s",), B(">", R("s"), N(1))))),
    ("reduce(t, sum, x, y)", ir.Reduce(R("t"), "sum", ("x", "y"))),
    ("reduce(t, avg)", ir.Reduce(R("t"), "avg")),
    ("sum(t)", ir.Reduce(R("t"), "sum")),
    ("median(t, x)", ir.Reduce(R("t"), "median", ("x",))),
    ("max(t)", ir.Reduce(R("t"), "max")),
    ("max(t, x, y)", ir.Reduce(R("t"), "max", ("x", "y"))),
    ("max(a, b)", ir.Call("max", (R("a"), R("b")))),  # binary max: the type checker decides if b is a dimension
    ("rename(t, x, y)", ir.Rename(R("t"), ("x",), ("y",))),
    ("rename(t, (x, y), (y, x))", ir.Rename(R("t"), ("x", "y"), ("y", "x"))),
    ("concat(a, b, x)", ir.Concat(R("a"), R("b"), "x")),
    ("cell_cast(t, bfloat16)", ir.CellCast(R("t"), CellType.BFLOAT16)),
    ("tensor<float>(x[3],y[2])(x + y)", ir.Generate(TensorType.parse("tensor<float>(x[3],y[2])"), B("+", R("x"), R("y")))),
    ("diag(x[2],y[2])", ir.Call("diag", (), TensorType.parse("tensor(x[2],y[2])"))),
    ("range<float>(x[10])", ir.Call("range", (), TensorType.parse("tensor<float>(x[10])"))),
    ("random(1)", ir.Feature("random", (N(1),))),
    ("random < 0.5", B("<", R("random"), N(0.5))),
    ("softmax(t, x)", ir.Call("softmax", (R("t"), R("x")))),
    ("l1_normalize(t, top)", ir.Call("l1_normalize", (R("t"), R("top")))),
    ("t{x:1, y:\"a\"}", ir.Slice(R("t"), (("x", N(1)), ("y", ir.String("a"))))),
    ("t{key:foo}", ir.Slice(R("t"), (("key", ir.String("foo")),))),
    ("t{\"a\"}", ir.Slice(R("t"), (("", ir.String("a")),))),
    ("t{bar}", ir.Slice(R("t"), (("", ir.String("bar")),))),
    ("t[2]", ir.Slice(R("t"), (("", N(2)),), bracket=True)),
    ("t{x:(y + 1)}", ir.Slice(R("t"), (("x", B("+", R("y"), N(1))),))),
    ("t{x:i - j}", ir.Slice(R("t"), (("x", B("-", R("i"), R("j"))),))),
    ("true + false", B("+", N(1), N(0))),
    ("0x1F + 10L + 1.5f + 08 + 1e2", B("+", B("+", B("+", B("+", N(31), N(10)), N(1.5)), N(8)), N(100))),
    ("tensor + switch + in + case", B("+", B("+", B("+", R("tensor"), R("switch")), R("in")), R("case"))),
    ("GENDER$ in [-1.0, 1.0]", ir.In(R("GENDER$"), (N(-1), N(1)))),
    ("'it\\'s' + \"a\\\"b\\n\"", B("+", ir.String("it's"), ir.String('a"b\n'))),
    ("a # comment\n + # another\n b", B("+", R("a"), R("b"))),
])
def test_constructs(text: str, tree: ir.Node) -> None:
    assert roundtrip(text) == tree


# ---- tensor literals -----------------------------------------------------------------------------------

def cells(literal: ir.Node) -> dict[tuple, float]:
    assert isinstance(literal, ir.TensorLiteral)
    return {address: value.value for address, value in literal.cells}


def test_literal_forms_normalise_to_the_same_cells() -> None:
    verbose = parse_expression("tensor(x{},y[2]):{{x:a,y:0}:1, {x:a,y:1}:2, {x:b,y:0}:3, {x:b,y:1}:4}")
    mixed = parse_expression("tensor(x{},y[2]):{a:[1,2], b:[3,4]}")
    assert verbose == mixed
    assert cells(parse_expression("tensor(x{}):{a:1, b:2}")) == cells(parse_expression("tensor(x{}):{{x:a}:1,{x:b}:2}"))
    nested = parse_expression("tensor(x{},y{},z[3]):{a:{aa:[1,0,2]}}")
    assert cells(nested) == {(("x", "a"), ("y", "aa"), ("z", "0")): 1, (("x", "a"), ("y", "aa"), ("z", "1")): 0,
                             (("x", "a"), ("y", "aa"), ("z", "2")): 2}


def test_dense_literals_follow_the_written_dimension_order() -> None:
    # Vespa's testTensorLabelReordering and "opposite order" cases: [[...]] nest in the order written.
    a = parse_expression("tensor(a[2],b[3]):[[1,2,3],[4,5,6]]")
    b = parse_expression("tensor(b[3],a[2]):[[1,4],[2,5],[3,6]]")
    assert cells(a) == cells(b)
    assert cells(a)[(("a", "1"), ("b", "0"))] == 4
    assert cells(parse_expression("tensor(y{},x{}):{ 0:{a:1, b:2} }")) == {(("x", "a"), ("y", "0")): 1,
                                                                           (("x", "b"), ("y", "0")): 2}
    flat = parse_expression("tensor(a0[3],a1[2]):[1, 2, 3, 4, 5, 6]")
    assert cells(flat)[(("a0", "1"), ("a1", "0"))] == 3


def test_literal_cells_are_expressions_and_labels_are_kept() -> None:
    lit = roundtrip("tensor(x{}):{ a:1+2+3, b:if(1>2,3,4), '--':sum(tensor0*tensor1) }")
    assert [a for a, _ in lit.cells] == [(("x", "a"),), (("x", "b"),), (("x", "--"),)]
    assert isinstance(lit.cells[2][1], ir.Reduce)
    assert cells(roundtrip("tensor(x{}):{ {x:1}:1.0, {x:-2}:2.0 }")) == {(("x", "1"),): 1, (("x", "-2"),): 2}
    assert roundtrip("tensor(x{}):{}") == ir.TensorLiteral(TensorType.parse("tensor(x{})"), ())
    assert roundtrip("{{x:0,y:1}:2.0}") == ir.TensorLiteral(None, (((("x", "0"), ("y", "1")), N(2)),))


@pytest.mark.parametrize("text, message", [
    ("tensor(x{},y[2]):{a:[one, one_half], b:[a_quarter]}", "the dense subspace at 'b' of tensor(x{},y[2]) needs 2 values, got 1"),
    ("tensor(x[2],y[3]):[[1,2,3,4],[4,5,6]]", "tensor(x[2],y[3]) needs 6 values, got 7"),
    ("tensor(x[2]):{{x:5}:1}", "label 5 is outside dimension x[2] (labels 0 to 1)"),
    ("tensor(x[2]):{{x:a}:1}", "indexed dimension x[2] takes whole-number labels, not 'a'"),
    ("tensor(x{}):{{y:a}:1}", "tensor(x{}) has no dimension 'y'"),
    ("tensor(x{},y{}):{{x:a}:1}", "this address gives no label for dimension 'y' of tensor(x{},y{})"),
    ("tensor(x{}):[1, 2]", "tensor(x{}) has mapped dimension x{}, which a dense [...] literal cannot label"),
    ("tensor(x[]):[1, 2]", "dimension x[] of tensor(x[]) has no size, so [...] cannot fill it"),
    ("{{x:a}:1, {y:b}:2}", "this cell names dimensions {y} but the first cell names {x}"),
    ("tensor(x[])(x + 1)", "a generated tensor needs indexed dimensions with a size; x[] has none"),
    ("tensor(x[2],x[3])(1)", "dimension 'x' appears twice"),
    ("tensor<float32>(x[2])(1)", "unknown cell type 'float32'"),
])
def test_literal_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression(text)
    assert err.value.diagnostic.message == message


# ---- spans and feature lists ---------------------------------------------------------------------------

def test_spans_point_into_the_file() -> None:
    tree = parse_expression("a +\n  foo(1)", origin=Span("s.sd", 10, 21))
    assert tree.span == Span("s.sd", 10, 21, 11, 9)
    assert tree.left.span == Span("s.sd", 10, 21, 10, 22)
    assert tree.right.span == Span("s.sd", 11, 3, 11, 9)
    assert tree.right.args[0].span == Span("s.sd", 11, 7, 11, 8)
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression("a +\n  foo(1", origin=Span("s.sd", 10, 21))
    d = err.value.diagnostic
    assert (d.span.path, d.span.line, d.span.column) == ("s.sd", 11, 8)
    assert d.message == "expected ')' to close 'foo(' opened at 11:3, found end of expression"


def test_feature_lists() -> None:
    features = parse_feature_list("attribute(a) fieldMatch(title).completeness\n  match.totalWeight  bm25(title) sin(x)")
    assert features == (ir.Feature("attribute", (R("a"),)), ir.Feature("fieldMatch", (R("title"),), "completeness"),
                        R("match.totalWeight"), ir.Feature("bm25", (R("title"),)), ir.Feature("sin", (R("x"),)))
    assert parse_feature_list("") == ()
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_feature_list("attribute(a) + 1")
    assert err.value.diagnostic.code == "AK315"
    assert err.value.diagnostic.span.column == 14


# ---- deep and long input -------------------------------------------------------------------------------

def test_deep_nesting_gives_a_diagnostic_not_a_crash() -> None:
    assert parse_expression("(" * 2000 + "1" + ")" * 2000) == N(1)
    for text in ("exp(" * 2000 + "1" + ")" * 2000, "-(" * 2000 + "x" + ")" * 2000, "!" * 3000 + "x",
                 "map(x, f(x)(" * 300 + "x" + "))" * 300):
        with pytest.raises(ExpressionSyntaxError) as err:
            parse_expression(text)
        assert err.value.diagnostic.code == "AK303", err.value
    # Vespa counts the values of a dense literal whatever their nesting; so does appkit, without recursing
    deep_literal = parse_expression("tensor(x[1]):" + "[" * 2000 + "1" + "]" * 2000)
    assert len(deep_literal.cells) == 1
    with pytest.raises(ExpressionSyntaxError) as err:
        parse_expression("(" * 2000 + "1")
    assert err.value.diagnostic.code == "AK301"
    assert "expected ')' to close '(' opened at 1:2000" in err.value.diagnostic.message


def test_long_sums_parse_and_print_without_recursion() -> None:
    terms = 5000
    text = " + ".join(f"if(attribute(a) < {i}, {i}, 0)" for i in range(terms))
    started = time.perf_counter()
    tree = parse_expression(text)
    assert print_expression(tree) == text.replace("< ", "< ").replace(", 0)", ", 0)")
    assert time.perf_counter() - started < 10
    depth, node = 0, tree
    while isinstance(node, ir.BinaryOp):
        depth, node = depth + 1, node.left
    assert depth == terms - 1


def test_parser_is_built_once_and_shared_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from appkit.expr.parse import parser

    assert parser() is parser()
    texts = [f"map(attribute(t{i}), f(x)(x * {i})) + {i}" for i in range(40)]
    with ThreadPoolExecutor(4) as pool:
        trees = list(pool.map(parse_expression, texts))
    assert trees == [parse_expression(t) for t in texts]


def test_corpus_expression_files_parse() -> None:
    """Every .expression file of the corpus (GBDT models of up to 540 kB among them) parses; the three
    searchlib featuresNN files are feature lists. Files under 30 kB also print back to the same tree."""
    root = shared_path("corpus", "vespa")
    files = sorted(root.rglob("*.expression"))
    assert len(files) >= 30
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("features0") and path.name != "features01.expression":
            assert parse_feature_list(text, path=str(path))
            continue
        tree = parse_expression(text, path=str(path))
        if len(text) < 30_000:
            assert parse_expression(print_expression(tree)) == tree, path
    print(f"\n{len(files)} corpus .expression files parse")
