"""A tight LALR loop over the parse table Lark builds from grammars/schema.lark.

Lark's own driver spends most of a schema's parse in generic per-reduction wrappers (child filters,
single-child expansion, position propagation, each a Python call). This loop does the same work
inline, from a plan made once per grammar rule, and builds the very same trees: children filtered,
`_rule`s inlined, `?rule`s collapsed, `[x]` placeholders as None, and each tree's meta placed as
Lark's `propagate_positions` places it. tests/package/test_sd_lalr.py holds it to Lark's trees over
the whole corpus.

It only accepts: on a token the table has no action for it raises `Rejected`, and the caller asks
Lark's own parser, whose error carries the context that messages are made from.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from lark import Lark, Token, Tree
from lark.parsers.lalr_analysis import Shift
from lark.tree import Meta

# A value's place is what Lark's PropagatePositions reads of it: a token itself, a tree's meta, or,
# for a tree whose container (the text of the rule that made it) is wider than the tree (a `?rule`
# that kept one child of several), a `_Container`. None for a value that takes up no text.


class _Container:
    __slots__ = ("line", "column", "start_pos", "end_line", "end_column", "end_pos")

    def __init__(self, first: Any, last: Any):
        self.line, self.column, self.start_pos = first.line, first.column, first.start_pos
        self.end_line, self.end_column, self.end_pos = last.end_line, last.end_column, last.end_pos


class Rejected(Exception):
    """The token stream is not a sentence of the grammar (Lark's parser says where and why)."""


class _Plan:
    """How one grammar rule shapes its tree, precomputed from what Lark's ParseTreeBuilder would wrap."""

    __slots__ = ("size", "origin", "data", "include", "trailing_nones", "expand1")

    def __init__(self, rule: Any, maybe_placeholders: bool):
        options = rule.options
        expansion = rule.expansion
        self.size = len(expansion)
        # plain strings: Lark's names are Token objects, slow as dictionary keys and in comparisons
        self.origin = str(rule.origin.name)
        self.data = str(rule.alias or options.template_source or rule.origin.name)
        self.expand1 = bool(options.expand1 and not rule.alias)
        # Lark's maybe_create_child_filter: which children stay, which `_rule`s are inlined, and how
        # many None placeholders go before each (for `[x]` left out)
        empty = options.empty_indices if maybe_placeholders else ()
        if empty:
            runs = "".join(str(int(b)) for b in empty).split("0")
            nones = [len(ones) for ones in runs]
        else:
            nones = [0] * (len(expansion) + 1)
        include, pending = [], 0
        for i, sym in enumerate(expansion):
            pending += nones[i]
            if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
                include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
                pending = 0
        pending += nones[len(expansion)]
        needed = bool(empty) or len(include) < len(expansion) or any(expand for _, expand, _ in include)
        self.include: tuple | None = tuple(include) if needed else None
        self.trailing_nones = pending


class TableParser:
    """Parses token streams with one Lark LALR parser's tables; `parse` returns Lark's tree."""

    def __init__(self, lark: Lark):
        driver = lark.parser.parser.parser
        table = driver.parse_table
        self.states: dict[int, dict[str, tuple]] = table.states
        self.start_states: dict[str, int] = table.start_states
        self.end_states: dict[str, int] = table.end_states
        self.maybe_placeholders = bool(lark.options.maybe_placeholders)
        self._plans: dict[int, tuple[Any, _Plan]] = {}

    def _plan(self, rule: Any) -> _Plan:
        found = self._plans.get(id(rule))
        if found is None:
            found = self._plans[id(rule)] = (rule, _Plan(rule, self.maybe_placeholders))
        return found[1]

    def acceptable(self, state_stack: list[int]) -> Callable[[], Iterable[str]]:
        states = self.states
        return lambda: states[state_stack[-1]]

    def parse(self, tokens: Callable[[Callable[[], Iterable[str]]], Iterator[Token]], start: str) -> Tree:
        """`tokens(acceptable)` gives the token stream; `acceptable()` the symbols the parser takes now."""
        states = self.states
        state_stack = [self.start_states[start]]
        end_state = self.end_states[start]
        values: list[Any] = []
        places: list[Any] = []
        reduce = self._reduce
        for token in tokens(self.acceptable(state_stack)):
            kind = token.type
            while True:
                try:
                    action, arg = states[state_stack[-1]][kind]
                except KeyError:
                    raise Rejected(kind) from None
                if action is Shift:
                    state_stack.append(arg)
                    values.append(token)
                    places.append(token)
                    break
                reduce(arg, state_stack, values, places)
        while True:
            try:
                action, arg = states[state_stack[-1]]["$END"]
            except KeyError:
                raise Rejected("$END") from None
            if action is Shift:
                raise Rejected("$END")
            reduce(arg, state_stack, values, places)
            if state_stack[-1] == end_state:
                return values[-1]

    def _reduce(self, rule: Any, state_stack: list[int], values: list[Any], places: list[Any]) -> None:
        found = self._plans.get(id(rule))
        plan = found[1] if found is not None else self._plan(rule)
        size = plan.size
        if size == 1 and plan.expand1 and plan.include is None:
            # `?rule: x`: the value and its place stay as they are; only the state changes
            state_stack[-1] = self.states[state_stack[-2]][plan.origin][1]
            return
        if size:
            children = values[-size:]
            spots = places[-size:]
            del state_stack[-size:], values[-size:], places[-size:]
        else:
            children, spots = [], []
        include = plan.include
        if include is not None:
            kept: list[Any] = []
            for i, expand, nones in include:
                if nones:
                    kept += [None] * nones
                if expand:
                    kept += children[i].children
                else:
                    kept.append(children[i])
            if plan.trailing_nones:
                kept += [None] * plan.trailing_nones
        else:
            kept = children
        # Lark's PropagatePositions over the unfiltered children: a tree starts where its first
        # placed child's container starts and ends where its last one's ends
        first = last = None
        for spot in spots:
            if spot is not None:
                first = spot
                break
        if first is not None:
            for spot in reversed(spots):
                if spot is not None:
                    last = spot
                    break
        place: Any
        if plan.expand1 and len(kept) == 1:
            value = kept[0]
            if isinstance(value, Tree):
                meta = value._meta
                if first is None:
                    place = None if meta is None or meta.empty else meta
                elif meta is None or meta.empty:
                    place = value._meta = _meta(first, last)
                else:
                    place = _Container(first, last)
            else:  # a token (its own place) or a placeholder (none)
                place = value
        else:
            value = Tree(plan.data, kept)
            place = None if first is None else _meta(first, last)
            value._meta = place
        state_stack.append(self.states[state_stack[-1]][plan.origin][1])
        values.append(value)
        places.append(place)


def _meta(first: Any, last: Any) -> Meta:
    meta = Meta()
    meta.line, meta.column, meta.start_pos = first.line, first.column, first.start_pos
    meta.end_line, meta.end_column, meta.end_pos = last.end_line, last.end_column, last.end_pos
    meta.empty = False
    return meta


__all__ = ["Rejected", "TableParser"]
