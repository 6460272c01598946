"""One deployed bundle version loaded into an evaluable ranking runtime: its compiled rank profiles
with parsed functions, loaded constants and batch plans for every phase, warmed up before use.

`RankingBundle.load(source)` reads a bundle (directory, store version, or in-memory entries);
`ProfileRuntime.rank_many(requests)` ranks several requests' documents in one vectorised evaluation
per phase, with Vespa's phase semantics (see appkit/serve/phases.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from appkit.diagnostics import AppkitError
from appkit.expr import ir
from appkit.expr.typecheck import feature_key
from appkit.serve.documents import (Document, as_tensor, convert_value, is_batchable, is_rank_feature,
                                    stack_values)
from appkit.serve.errors import AK604, AK605, AK606, AK607, AK608, RankingError
from appkit.serve.phases import FIRST_PHASE_FEATURE, rank_phases
from appkit.tensor.type import TensorType, TensorTypeError
from appkit.tensor.value import Tensor, TensorValueError

PHASES = ("first-phase", "second-phase", "global-phase")


class BundleFiles:
    """Read access to a bundle's files, from a directory (read lazily) or from in-memory entries."""

    def __init__(self, source: Path | str | Mapping[str, bytes]):
        self.root = Path(source) if isinstance(source, (str, Path)) else None
        self.entries = None if self.root is not None else source

    def exists(self, rel: str) -> bool:
        if self.entries is not None:
            return rel in self.entries
        return (self.root / rel).is_file()  # type: ignore[operator]

    def read(self, rel: str) -> bytes:
        try:
            if self.entries is not None:
                return self.entries[rel]
            return (self.root / rel).read_bytes()  # type: ignore[operator]
        except (KeyError, OSError) as e:
            raise RankingError(AK608, f"the bundle has no readable {rel} ({type(e).__name__})",
                               "deploy again, or activate another version", status=500) from None

    def profile_keys(self) -> list[str]:
        if self.entries is not None:
            names = [p for p in self.entries if p.startswith("profiles/") and p.endswith(".json")]
        else:
            root: Path = self.root  # type: ignore[assignment]
            names = [p.relative_to(root).as_posix() for p in (root / "profiles").glob("*/*.json")]
        return sorted(p[len("profiles/"):-len(".json")] for p in names)


def _type(text: str, what: str) -> TensorType:
    try:
        return TensorType.parse(text)
    except TensorTypeError:
        if "tensor" not in text:  # long, int, string, ... are numbers to a ranking expression
            return TensorType.scalar()
        raise RankingError(AK608, f"{what} has the type '{text}', which is not a tensor type", status=500) from None


def load_constant(files: BundleFiles, name: str, type_: TensorType, source: Mapping[str, str] | None) -> Tensor:
    """A constant's value: a literal from the profile, a file of the package, or constants/NAME.{npy,json}."""
    try:
        if source and "value" in source:
            from appkit.tensor.literal import parse_tensor_literal

            if type_.is_scalar:
                return Tensor.scalar(float(source["value"]))
            return parse_tensor_literal(source["value"], type_)
        path = source.get("file") if source else None
        if path is None and files.exists(f"constants/{name}.npy"):
            array = np.load(io.BytesIO(files.read(f"constants/{name}.npy")), allow_pickle=False)
            if type_.is_scalar:
                return Tensor.scalar(float(np.asarray(array).reshape(-1)[0]))
            return Tensor.from_numpy(type_, array, copy=False)
        if path is None:  # model constants: Vespa's tensor JSON sits in the lowered package
            path = next((c for c in (f"constants/{name}.json", f"vespa/constants/{name}.json") if files.exists(c)),
                        f"constants/{name}.json")
        if not path.endswith(".json"):
            raise RankingError(AK608, f"constant '{name}' is stored as {path}; appkit reads constants in "
                               "Vespa's tensor JSON (.json)", "convert the file to tensor JSON", status=500)
        from appkit.tensor.jsonformat import tensor_from_json

        return tensor_from_json(json.loads(files.read(path)), type_)
    except (TensorValueError, ValueError) as e:
        raise RankingError(AK608, f"constant '{name}' cannot be read: {e}", status=500) from None


@dataclass
class QueryInput:
    key: str
    type: TensorType
    default: Any  # a numpy block or Tensor: the declared default, or zeros / empty as Vespa uses


def _zero(t: TensorType) -> Any:
    if is_batchable(t):
        return np.zeros([d.size for d in t.dimensions], dtype=t.cell_type.numpy_dtype)
    return Tensor.empty(t)


def _query_value(text_or_json: Any, t: TensorType, key: str) -> Any:
    """A query value from a literal (string) or document-JSON value, checked against its type."""
    try:
        if isinstance(text_or_json, str) and not t.is_scalar:
            from appkit.tensor.literal import parse_tensor_literal

            tensor = parse_tensor_literal(text_or_json, t)
            if not tensor.type.is_assignable_to(t, check_cell_type=False):
                raise TensorValueError(AK604, f"the value has the type {tensor.type}")
            return tensor.cells_array[0] if is_batchable(t) else tensor
        return convert_value(text_or_json, t)
    except TensorValueError as e:
        raise RankingError(AK604, f"{key} ({t}): {e.message.removeprefix('the value: ')}",
                           e.hint or f"give a value of type {t}", field=key) from None


class CompiledFeature:
    """One expression of a profile (a phase or a summary feature), compiled for batches when all its
    inputs are dense, evaluated document by document with the reference evaluator otherwise."""

    def __init__(self, label: str, expr: ir.Expr, profile: "ProfileRuntime"):
        from appkit.expr.compile import compile_expression
        from appkit.expr.typecheck import ExpressionTypeError, TypeContext

        self.label, self.expr, self.profile = label, expr, profile
        self.inputs = profile.inputs_of(expr)  # feature key -> type
        types = {**profile.constant_types, **self.inputs}
        context = TypeContext(features=types, functions=profile.functions)
        batch = [k for k, t in self.inputs.items() if is_batchable(t)]
        try:
            self.plan = compile_expression(expr, context, batch) if len(batch) == len(self.inputs) else None
            if self.plan is None:
                from appkit.expr.typecheck import infer_type

                self.result_type = infer_type(expr, context)
            else:
                self.result_type = self.plan.result_type
        except ExpressionTypeError as e:
            why = "; ".join(d.message for d in e.diagnostics[:3])
            raise RankingError(AK607, f"{profile.key} {label}: {why}", status=422) from None

    def evaluate(self, columns: Mapping[str, Any], n: int) -> Any:
        """(n, *dense sizes) array for dense results; a list of n Tensors otherwise."""
        if self.plan is not None:
            return self.plan.evaluate({k: columns[k] for k in self.plan.input_types}, self.profile.constants)
        from appkit.expr.evaluate import EvalContext, evaluate

        out = []
        for i in range(n):
            values: dict[str, Any] = dict(self.profile.constants)
            values.update({k: as_tensor(columns[k][i], t) for k, t in self.inputs.items()})
            out.append(evaluate(self.expr, EvalContext(values, self.profile.functions)))
        if self.result_type is not None and is_batchable(self.result_type):
            return np.stack([t.cells_array[0] for t in out]) if out else np.zeros((0,))
        return out

    def scores(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        return np.asarray(self.evaluate(columns, n), dtype=np.float64).reshape(n)


@dataclass
class RankRequest:
    """One request's documents (stacked field values) and query values."""

    documents: list[Document]
    query: dict[str, Any]  # query key -> numpy block or Tensor
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.documents)


class ProfileRuntime:
    """A compiled rank profile, ready to rank documents."""

    def __init__(self, data: Mapping[str, Any], files: BundleFiles, constants_cache: dict[str, Tensor]):
        from appkit.expr.parse import parse_expression

        self.schema, self.name = str(data["schema"]), str(data["name"])
        self.key = f"{self.schema}/{self.name}"
        try:
            self.functions = {n: (tuple(f["params"]), parse_expression(f["expression"], path=f"{self.key}:{n}"))
                              for n, f in data.get("functions", {}).items()}
            phases = {label: parse_expression(p["expression"], path=f"{self.key}:{label}")
                      for label, p in data.get("phases", {}).items() if p.get("expression")}
            summary = {f: parse_expression(f, path=f"{self.key}:summary-features")
                       for f in data.get("summary_features", [])}
            match = {f: parse_expression(f, path=f"{self.key}:match-features") for f in data.get("match_features", [])}
        except AppkitError as e:
            raise RankingError(AK607, f"{self.key}: an expression cannot be parsed: {e.diagnostics[0].message}",
                               status=422) from None
        self.settings = {label: dict(p.get("settings") or {}) for label, p in data.get("phases", {}).items()}
        self.attributes = {n: _type(t, f"attribute {n}") for n, t in data.get("attributes", {}).items()}
        self.query_inputs = self._query_inputs(data.get("inputs", {}))
        self.constants: dict[str, Any] = {}
        self.constant_types: dict[str, TensorType] = {}
        sources = data.get("constant_sources", {})
        for name, t in data.get("constants", {}).items():
            ctype = _type(t, f"constant {name}")
            if name not in constants_cache:
                constants_cache[name] = load_constant(files, name, ctype, sources.get(name))
            for key in (f"constant({name})", name):
                if key == name and name in self.functions:
                    continue  # a function named like a constant overrides it (Vespa's variable updates)
                self.constants[key] = constants_cache[name]
                self.constant_types[key] = constants_cache[name].type
        if "first-phase" not in phases:
            raise RankingError(AK607, f"{self.key} has no first-phase expression (Vespa's default, nativeRank, "
                               "needs Vespa's index)", "add first-phase { expression: ... } to the profile",
                               status=422)
        self.fields: dict[str, TensorType] = {}  # document values read: field names and index features
        self.queries: dict[str, TensorType] = {}
        self.phases = {label: CompiledFeature(label, phases[label], self) for label in PHASES if label in phases}
        self.summary = {f: CompiledFeature(f"summary-feature {f}", e, self) for f, e in summary.items()}
        self.match = {f: CompiledFeature(f"match-feature {f}", e, self) for f, e in match.items()}

    def _query_inputs(self, inputs: Mapping[str, Any]) -> dict[str, QueryInput]:
        out = {}
        for key, spec in inputs.items():
            t = _type(str(spec.get("type") or "double"), key)
            default = spec.get("default")
            if default is not None and t.is_scalar:
                default = float(default)
            value = _zero(t) if default is None else _query_value(default, t, key)
            out[key] = QueryInput(key, t, value)
        return out

    def inputs_of(self, expr: ir.Expr) -> dict[str, TensorType]:
        """The per-document inputs `expr` reads (attributes, query values, firstPhase), through its functions."""
        found: dict[str, TensorType] = {}
        seen: set[str] = set()
        stack = [expr]
        while stack:
            for node in ir.walk(stack.pop()):
                name = node.name if isinstance(node, (ir.Ref, ir.Feature)) else None
                if name in self.functions and name not in seen:
                    seen.add(name)
                    stack.append(self.functions[name][1])
                if isinstance(node, ir.Ref) and node.name == FIRST_PHASE_FEATURE:
                    found[FIRST_PHASE_FEATURE] = TensorType.scalar()
                if not isinstance(node, ir.Feature) or node.name in self.functions or node.name in ir.AGGREGATORS:
                    continue
                key = feature_key(node)
                simple = node.output is None and len(node.args) == 1
                arg = key[len(node.name) + 1:-1]
                if simple and node.name == "attribute":
                    if arg not in self.attributes:
                        raise RankingError(AK607, f"{self.key} reads attribute({arg}), which is not an attribute "
                                           f"of schema '{self.schema}'", status=422)
                    found[key] = self.fields[arg] = self.attributes[arg]
                elif simple and node.name == "query":
                    spec = self.query_inputs.get(key)
                    found[key] = self.queries[key] = spec.type if spec else TensorType.scalar()
                elif node.name != "constant":  # bm25(title), fieldMatch(title).completeness: given per document
                    found[key] = self.fields[key] = TensorType.scalar()
        return found

    def query_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Query values by key (`query(q)`; a bare `q` is taken as `query(q)`), defaults for the rest."""
        out = {key: self.query_inputs[key].default if key in self.query_inputs else np.zeros((), np.float64)
               for key in self.queries}
        for name, value in given.items():
            key = name if name.startswith("query(") else f"query({name})"
            if key not in self.queries and key not in self.query_inputs:
                known = ", ".join(sorted(set(self.queries) | set(self.query_inputs))) or "none"
                raise RankingError(AK605, f"{name} is not a query input of rank profile {self.key} (its inputs: "
                                   f"{known})", "use a name the profile declares in inputs { }", field=name)
            spec = self.query_inputs.get(key)
            t = spec.type if spec else TensorType.scalar()
            out[key] = _query_value(value, t, key)
        return out

    # -- ranking ---------------------------------------------------------------------------------

    def request(self, documents: list[Document], query: Mapping[str, Any],
                columns: dict[str, Any] | None = None) -> RankRequest:
        """A request of `documents` (their values stacked here unless `columns` gives them stacked)."""
        req = RankRequest(documents, self.query_values(query))
        req.columns = columns if columns is not None else stack_values(documents, self.fields)
        return req

    def merged_columns(self, requests: Sequence[RankRequest]) -> dict[str, Any]:
        """Every request's columns concatenated; query values repeated for each of its documents."""
        out: dict[str, Any] = {}
        for name in self.fields:
            parts = [r.columns[name] for r in requests]
            key = name if is_rank_feature(name) else f"attribute({name})"
            out[key] = np.concatenate(parts) if isinstance(parts[0], np.ndarray) else [x for p in parts for x in p]
        for key, t in self.queries.items():
            if is_batchable(t):
                blocks = [np.broadcast_to(np.asarray(r.query[key]), (r.n, *np.shape(r.query[key]))) for r in requests]
                out[key] = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
            else:
                out[key] = [r.query[key] for r in requests for _ in range(r.n)]
        return out

    def rank_many(self, requests: Sequence[RankRequest]) -> list[list[dict[str, Any]]]:
        """Hits of each request, best first: one evaluation per phase over all requests' documents."""
        if not any(r.n for r in requests):
            return [[] for _ in requests]
        return rank_phases(self, requests)

    def warm_up(self) -> None:
        """Rank one document of zeros: compiles the batch plans and surfaces evaluation errors now."""
        doc = Document(0, None, None, {n: _zero(t) if is_batchable(t) else Tensor.empty(t)
                                       for n, t in self.fields.items()})
        try:
            self.rank_many([self.request([doc], {})])
        except RankingError:
            raise
        except AppkitError as e:
            message = e.diagnostics[0].message if e.diagnostics else str(e)
            raise RankingError(AK607, f"{self.key} cannot be evaluated: {message}",
                               "rank with a profile whose phases use attributes, query inputs, constants and "
                               "functions only", status=422) from None
        except (ValueError, TypeError, ArithmeticError, IndexError, KeyError) as e:
            raise RankingError(AK607, f"{self.key} cannot be evaluated: {e}", status=422) from None


class RankingBundle:
    """A loaded bundle: its evaluable profiles, and why the others cannot be evaluated."""

    def __init__(self, files: BundleFiles, version: int | None = None):
        self.files, self.version = files, version
        self.profiles: dict[str, ProfileRuntime] = {}
        self.failures: dict[str, RankingError] = {}
        self._constants: dict[str, Tensor] = {}
        self.keys = files.profile_keys()

    @classmethod
    def load(cls, source: Path | str | Mapping[str, bytes], version: int | None = None,
             only: Sequence[str] | None = None, warm: bool = True) -> "RankingBundle":
        """Load every profile (or those in `only`); a profile that cannot be evaluated is recorded in
        `failures`, a bundle that cannot be read at all raises RankingError."""
        bundle = cls(BundleFiles(source), version)
        if not bundle.keys:
            raise RankingError(AK608, f"{source if isinstance(source, (str, Path)) else 'the bundle'} holds no "
                               "compiled rank profiles (profiles/SCHEMA/PROFILE.json)",
                               "give a bundle written by appkit deploy, or the package itself", status=500)
        for key in only if only is not None else bundle.keys:
            bundle._load_profile(key, warm)
        return bundle

    def _load_profile(self, key: str, warm: bool) -> None:
        if key not in self.keys:
            return
        try:
            data = json.loads(self.files.read(f"profiles/{key}.json"))
            profile = ProfileRuntime(data, self.files, self._constants)
            if warm:
                profile.warm_up()
            self.profiles[key] = profile
        except RankingError as e:
            self.failures[key] = e
        except (ValueError, KeyError, TypeError) as e:
            self.failures[key] = RankingError(AK608, f"profiles/{key}.json is not a compiled profile: {e}", status=500)

    def profile(self, key: str) -> ProfileRuntime:
        """The runtime of SCHEMA/PROFILE; RankingError (404 or 422) says why there is none."""
        if key in self.profiles:
            return self.profiles[key]
        if key in self.failures:
            raise self.failures[key]
        if key in self.keys:
            self._load_profile(key, True)
            return self.profile(key)
        close = [k for k in self.keys if k.split("/")[-1] == key.split("/")[-1]] or self.keys
        raise RankingError(AK606, f"rank profile {key} is not in the bundle (profiles: {', '.join(self.keys)})",
                           f"use SCHEMA/PROFILE, e.g. {close[0]}", field="profile", status=404)

    def status(self) -> dict[str, Any]:
        return {"profiles": sorted(self.profiles),
                "unavailable": {k: e.to_json() for k, e in sorted(self.failures.items())}}
