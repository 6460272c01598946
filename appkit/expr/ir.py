"""The ranking-expression IR: one frozen dataclass per construct of Vespa's expression language.

Spans are carried but take no part in equality, so `parse(print(e)) == e` compares structure only.
The tensor core (map, join, merge, reduce, rename, concat, generate, literal, peek, cell_cast) has
its own nodes; the many named functions (math functions, softmax, matmul, argmax, ...) are `Call`s
whose meaning lives in one table in the evaluator and the type checker, so adding one never
touches the parser. Model importers build these nodes directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from appkit.source import Span
from appkit.tensor.type import CellType, TensorType


@dataclass(frozen=True)
class Node:
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Number(Node):
    """A numeric constant. `true`/`false` are 1.0/0.0 (Vespa has no boolean type)."""

    value: float


@dataclass(frozen=True)
class String(Node):
    """A string constant (`"abc"`); Vespa evaluates it to its hash, used with `in`/`==` against features."""

    value: str


@dataclass(frozen=True)
class Ref(Node):
    """A bare name: a function of the rank profile, a lambda parameter, a declared input or constant,
    or a dimension name where a tensor function expects one. `name` may contain dots (`a.b`)."""

    name: str


@dataclass(frozen=True)
class Feature(Node):
    """`name(args).output`: a rank feature or a function call with arguments.

    `attribute(x)`, `query(x)`, `constant(x)`, `tensorflow("m/saved", "sig", "out")`, `onnx(m).out`,
    `fieldMatch(title).completeness`, `myfunction(1, 2)`. Arguments are expressions; quoted ones are
    `String` nodes, `name: value` ones (`bm25(field: title)`) `NamedArg` nodes. `output` holds
    everything after the first dot of the output part (`a.b`).
    `$x` parses as `Feature("query", (Ref("x"),))`.
    """

    name: str
    args: tuple["Expr", ...] = ()
    output: str | None = None


@dataclass(frozen=True)
class NamedArg(Node):
    """`name: value` among a feature's arguments (`bm25(field: title, label: x)`); the value is a
    name, an integer or a string, kept as its text. Only `Feature.args` hold these."""

    name: str
    value: str


@dataclass(frozen=True)
class Neg(Node):
    arg: "Expr"


@dataclass(frozen=True)
class Not(Node):
    arg: "Expr"


# Binary operators, lowest precedence first (each operator is its own level; all left-associative
# except '^'). Source: Vespa's Operator.java.
BINARY_OPERATORS: tuple[str, ...] = ("||", "&&", ">=", ">", "<=", "<", "~=", "!=", "==", "+", "-", "*", "/", "%", "^")
PRECEDENCE: dict[str, int] = {op: i for i, op in enumerate(BINARY_OPERATORS)}


@dataclass(frozen=True)
class BinaryOp(Node):
    op: str
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class In(Node):
    """`arg in [a, b, ...]`: 1.0 when arg equals one of the items."""

    arg: "Expr"
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class If(Node):
    condition: "Expr"
    if_true: "Expr"
    if_false: "Expr"
    true_probability: float | None = None


@dataclass(frozen=True)
class Switch(Node):
    subject: "Expr"
    cases: tuple[tuple["Expr", "Expr"], ...]  # (case value, result)
    default: "Expr"


@dataclass(frozen=True)
class Lambda(Node):
    """`f(a,b)(a * b)`; only inside map/join/merge/map_subspaces/filter_subspaces."""

    params: tuple[str, ...]
    body: "Expr"


@dataclass(frozen=True)
class Map(Node):
    arg: "Expr"
    fn: Lambda


@dataclass(frozen=True)
class MapSubspaces(Node):
    arg: "Expr"
    fn: Lambda


@dataclass(frozen=True)
class FilterSubspaces(Node):
    arg: "Expr"
    fn: Lambda


@dataclass(frozen=True)
class Join(Node):
    left: "Expr"
    right: "Expr"
    fn: Lambda


@dataclass(frozen=True)
class Merge(Node):
    left: "Expr"
    right: "Expr"
    fn: Lambda


AGGREGATORS: tuple[str, ...] = ("avg", "count", "max", "median", "min", "prod", "sum")


@dataclass(frozen=True)
class Reduce(Node):
    """`reduce(t, agg, d...)`, also written `sum(t, d...)` etc.; no dims reduces to a scalar."""

    arg: "Expr"
    aggregator: str
    dims: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rename(Node):
    arg: "Expr"
    from_dims: tuple[str, ...]
    to_dims: tuple[str, ...]


@dataclass(frozen=True)
class Concat(Node):
    left: "Expr"
    right: "Expr"
    dim: str


@dataclass(frozen=True)
class Generate(Node):
    """`tensor<float>(x[3],y[2])(x + y)`: each cell computed from its indexes (dimension names are
    bound as variables in `body`)."""

    type: TensorType
    body: "Expr"


# A cell address in a literal: ((dimension, label), ...) sorted by dimension. Labels of indexed
# dimensions are decimal strings, as in Vespa's verbose form.
Address = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TensorLiteral(Node):
    """A tensor literal in any of its written forms, normalised to its cells.

    `type` is None for the untyped verbose form `{{x:a}:1}` (Vespa infers mapped dimensions). Cell
    values are expressions (`tensor(x[2]):[a+1, 2]`), in the order they were written.
    """

    type: TensorType | None
    cells: tuple[tuple[Address, "Expr"], ...]


@dataclass(frozen=True)
class Slice(Node):
    """Peek: `t{x:1, y:"a"}`, `t{"a"}` (single mapped dimension), `t[2]` (single indexed dimension).

    `address` maps dimension → label expression; `dim` is None for the short forms, which name no
    dimension (then `address` has one entry with key ""). Label expressions that are bare names in
    braces are labels (`{x:a}` means label "a"), kept as `String`; in brackets they are expressions.
    """

    arg: "Expr"
    address: tuple[tuple[str, "Expr"], ...]
    bracket: bool = False  # written t[expr]


@dataclass(frozen=True)
class CellCast(Node):
    arg: "Expr"
    cell_type: CellType


@dataclass(frozen=True)
class Call(Node):
    """A named built-in function: math (`exp`, `pow`, `max`...) or tensor (`softmax(t, x)`,
    `matmul(a, b, d)`, `argmax(t, x)`, `range(...)`, `l2_normalize(t, x)`, `xw_plus_b(...)`,
    `cell_order(t, max)`, `top(n, t)`...). Dimension-name arguments are `Ref`s; tensor-type
    arguments (`diag(x[3],y[3])`, `range(x[10])`, `random(x[2])`) are given in `type_arg`."""

    name: str
    args: tuple["Expr", ...] = ()
    type_arg: TensorType | None = None


Expr = Union[
    Number, String, Ref, Feature, Neg, Not, BinaryOp, In, If, Switch, Lambda, Map, MapSubspaces,
    FilterSubspaces, Join, Merge, Reduce, Rename, Concat, Generate, TensorLiteral, Slice, CellCast, Call,
    NamedArg,
]

# Names parsed as `Call`, not as rank features (the rest of `name(args)` is a Feature).
UNARY_FUNCTIONS = frozenset(
    "abs acos asin atan ceil cos cosh elu exp fabs floor isNan log log10 relu round sigmoid sign sin "
    "sinh square sqrt tan tanh erf".split()
)
BINARY_FUNCTIONS = frozenset("atan2 fmod ldexp max min pow bit hamming".split())
TENSOR_FUNCTIONS = frozenset(
    "l1_normalize l2_normalize softmax expand euclidean_distance cosine_similarity matmul xw_plus_b "
    "argmax argmin cell_order top unpack_bits range diag random".split()
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in source order (for walks that need no per-type code)."""
    out: list[Node] = []
    for name in node.__dataclass_fields__:
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, Node):
            out.append(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    out.append(item)
                elif isinstance(item, tuple):
                    out.extend(x for x in item if isinstance(x, Node))
    return tuple(out)


_FEATURES: dict[int, tuple[Node, tuple["Feature", ...]]] = {}


def features_of(node: Node) -> tuple["Feature", ...]:
    """Every Feature in a tree, memoised per tree (profiles share inherited expressions, and each
    check that looks for features would otherwise walk them again)."""
    hit = _FEATURES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    found = tuple(n for n in walk(node) if isinstance(n, Feature))
    remember_features(node, found)
    return found


def remember_features(node: Node, found) -> None:
    """Record the features of a tree found by whoever built it (e.g. while copying it)."""
    if len(_FEATURES) < 200_000:
        _FEATURES[id(node)] = (node, tuple(found))  # the node is kept, so its id stays its own


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
