"""Model imports cached by content hash in `<package>/.appkit/cache/models/`.

An entry is the model's interface as JSON (no numpy to read it back). A changed model file changes
the hash, so its entry is simply not found; a corrupt entry is ignored and rebuilt; a cache that
cannot be written (read-only package) only costs speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from appkit import __version__
from appkit.importers.interface import ModelInterface

CACHE_DIR = Path(".appkit") / "cache" / "models"
_FORMAT = 1  # bump when the entry's layout changes


def content_hash(source_path: Path) -> str:
    h = hashlib.sha256(f"appkit {__version__} cache {_FORMAT}\n".encode())
    files = sorted(p for p in source_path.rglob("*") if p.is_file()) if source_path.is_dir() else [source_path]
    for p in files:
        rel = p.relative_to(source_path).as_posix() if source_path.is_dir() else p.name
        h.update(f"{rel}\0{p.stat().st_size}\0".encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load_interface(source, package_root: Path, use_cache: bool = True) -> ModelInterface:
    """The interface of a discovered model, from the cache or by importing it (and caching it)."""
    cache_file = None
    if use_cache:
        try:
            key = content_hash(Path(source.path))
            cache_file = package_root / CACHE_DIR / f"{key}.json"
            if cache_file.is_file():
                return ModelInterface.from_json(json.loads(cache_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable or corrupt entry: rebuild it below
    from appkit.importers.discovery import import_model

    interface = ModelInterface.of(import_model(source, package_root))
    if cache_file is not None:
        _write(cache_file, interface)
    return interface


def _write(path: Path, interface: ModelInterface) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(interface.to_json(), f, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass
