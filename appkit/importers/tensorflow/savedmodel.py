"""Reading a SavedModel directory without TensorFlow: the `serve` meta graph, its signatures, variables.

`saved_model.pb` (binary) or `saved_model.pbtxt` (text) holds a `SavedModel` message; `variables/`
holds the tensor bundle (absent for frozen graphs, whose weights are `Const` nodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appkit.importers.tensorflow import protos
from appkit.importers.tensorflow.checkpoint import Checkpoint, CheckpointError

SERVE_TAG = "serve"
INIT_OP_SIGNATURE = "__saved_model_init_op"  # TF2's initializer pseudo-signature, not a model output


class SavedModelError(ValueError):
    """A SavedModel that cannot be read; the message is for the user."""


@dataclass(frozen=True)
class TensorSpec:
    """A signature input or output: the graph tensor (`node:index`), its dtype and shape (None = unknown)."""

    tensor: str
    dtype: int
    shape: tuple[int | None, ...] | None

    @property
    def node(self) -> str:
        return tensor_node(self.tensor)


@dataclass
class Signature:
    key: str
    inputs: dict[str, TensorSpec] = field(default_factory=dict)
    outputs: dict[str, TensorSpec] = field(default_factory=dict)


@dataclass
class SavedModelFile:
    directory: Path
    graph_file: Path
    meta_graph: Any  # protos.MetaGraphDef
    signatures: dict[str, Signature]
    checkpoint: Checkpoint | None
    object_graph: Any = None  # protos.TrackableObjectGraph from the checkpoint, for TF2 variables


def tensor_node(tensor: str) -> str:
    """The node name of a tensor reference: `^a`, `a`, `a:0` and `a:out:0` all name node `a`."""
    return tensor.lstrip("^").split(":", 1)[0]


def shape_of(proto: Any) -> tuple[int | None, ...] | None:
    """A TensorShapeProto as a tuple with None for unknown (-1) sizes, or None for unknown rank."""
    if proto.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in proto.dim)


def find_graph_file(model_dir: Path) -> Path | None:
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def _parse(graph_file: Path) -> Any:
    try:
        if graph_file.suffix == ".pbtxt":
            return protos.parse_text(protos.SavedModel, graph_file.read_text(encoding="utf-8"))
        return protos.parse_binary(protos.SavedModel, graph_file.read_bytes())
    except OSError as e:
        raise SavedModelError(f"cannot read {graph_file}: {e.strerror or e}") from None
    except Exception as e:  # protobuf's DecodeError / ParseError: the file is not a SavedModel
        raise SavedModelError(f"{graph_file} is not a TensorFlow SavedModel: {e}") from None


def _serving_meta_graph(saved: Any, graph_file: Path) -> Any:
    graphs = list(saved.meta_graphs)
    if not graphs:
        raise SavedModelError(f"{graph_file} holds no meta graph")
    for meta_graph in graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return meta_graph
    if len(graphs) == 1:
        return graphs[0]
    tags = ", ".join(sorted({"+".join(g.meta_info_def.tags) or "(none)" for g in graphs}))
    raise SavedModelError(f"{graph_file} has no meta graph tagged '{SERVE_TAG}' (tags: {tags})")


def _signatures(meta_graph: Any) -> dict[str, Signature]:
    result: dict[str, Signature] = {}
    for key in sorted(meta_graph.signature_def):
        if key == INIT_OP_SIGNATURE:
            continue
        definition = meta_graph.signature_def[key]
        signature = Signature(key)
        for part, target in ((definition.inputs, signature.inputs), (definition.outputs, signature.outputs)):
            for name in sorted(part):
                info = part[name]
                if info.name:  # sparse / composite tensors have no name; they cannot be ranking inputs
                    target[name] = TensorSpec(info.name, int(info.dtype), shape_of(info.tensor_shape))
        if signature.outputs:
            result[key] = signature
    return result


def read_saved_model(model_dir: Path) -> SavedModelFile:
    """The serving meta graph, signatures and variables of a SavedModel directory."""
    graph_file = find_graph_file(model_dir)
    if graph_file is None:
        raise SavedModelError(f"{model_dir} holds neither saved_model.pb nor saved_model.pbtxt")
    meta_graph = _serving_meta_graph(_parse(graph_file), graph_file)
    checkpoint = None
    object_graph = None
    prefix = model_dir / "variables" / "variables"
    if prefix.with_name("variables.index").exists():
        try:
            checkpoint = Checkpoint(prefix)
            if "_CHECKPOINTABLE_OBJECT_GRAPH" in checkpoint:
                object_graph = checkpoint.read_proto("_CHECKPOINTABLE_OBJECT_GRAPH", protos.TrackableObjectGraph)
        except CheckpointError as e:
            raise SavedModelError(str(e)) from None
    return SavedModelFile(model_dir, graph_file, meta_graph, _signatures(meta_graph), checkpoint, object_graph)
