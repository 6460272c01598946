"""The user's private cache of parse results (`~/.cache/appkit`): parsed files and expressions keyed
by their content, so an unchanged package re-validates without loading a parser.

Pickles are only read from a directory this user owns and nobody else can write to; never from the
package itself, which may come from anyone (a pickle there would let a repository run code).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from appkit import __version__

_CODE_DIRS = ("package", "expr", "tensor")  # whose modules shape a parse result


def cache_paths(name: str) -> list[Path]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [Path(base) / "appkit" / name, Path(tempfile.gettempdir()) / f"appkit-{uid}" / name]


def trusted(path: Path) -> bool:
    """Only unpickle a cache file this user owns in a directory nobody else can write to."""
    if not hasattr(os, "getuid"):
        return True
    try:
        file_stat, dir_stat = path.stat(), path.parent.stat()
    except OSError:
        return False
    uid = os.getuid()
    return file_stat.st_uid == uid and dir_stat.st_uid == uid and not dir_stat.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Changes whenever appkit's parsing code or grammars change (stat only: cheap)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(__version__.encode())
    for sub in _CODE_DIRS:
        for p in sorted((root / sub).glob("*.py")):
            st = p.stat()
            h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    from appkit.resources import grammar_path

    for p in sorted(grammar_path("schema.lark").parent.glob("*.lark")):
        h.update(p.read_bytes())
    return h.hexdigest()


MISSING = object()


def cached(kind: str, key_text: str, compute: Callable[[], Any]) -> Any:
    """`compute()`, or its earlier result for the same kind, key text and appkit code."""
    value = recall(kind, key_text)
    if value is MISSING:
        value = compute()
        remember(kind, key_text, value)
    return value


def recall(kind: str, key_text: str) -> Any:
    """The result kept for this kind and key text by this appkit code, or MISSING."""
    if os.environ.get("APPKIT_NO_PARSE_CACHE"):
        return MISSING
    for path in _entry_paths(kind, key_text):
        if path.is_file() and trusted(path):
            try:
                with open(path, "rb") as f:
                    return pickle.load(f)
            except Exception:  # stale or corrupt: computed again by the caller
                pass
    return MISSING


def remember(kind: str, key_text: str, value: Any) -> None:
    if not os.environ.get("APPKIT_NO_PARSE_CACHE"):
        _save(_entry_paths(kind, key_text), value)


# When set (by `appkit validate`), entries are written by a detached process: creating hundreds of
# small files can take longer than parsing them, and nobody waits for a cache. Off for library use,
# where a caller may look for the entries as soon as the call returns.
DETACHED_WRITES = False


def remember_all(entries: list[tuple[str, str, Any]]) -> None:
    """`remember` each (kind, key text, value); from a detached process when DETACHED_WRITES."""
    if os.environ.get("APPKIT_NO_PARSE_CACHE") or not entries:
        return
    jobs = [(_entry_paths(kind, key_text), value) for kind, key_text, value in entries]

    def write() -> None:
        for paths, value in jobs:
            _save(paths, value)

    if DETACHED_WRITES and len(jobs) >= 8:  # a few files are quicker to write than to fork for
        from appkit.workers import detach

        detach(write)
    else:
        write()


def _entry_paths(kind: str, key_text: str) -> list[Path]:
    key = hashlib.sha256(f"{kind}\0{code_fingerprint()}\0".encode() + key_text.encode("utf-8", "surrogatepass"))
    return cache_paths(f"{kind}-{key.hexdigest()[:32]}.pickle")


def _save(paths: list[Path], value: Any) -> None:
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # e.g. a tree too deep to pickle: just not cached
        return
    store_first(paths, data)


def store_first(paths: list[Path], data: bytes) -> Path | None:
    """Write `data` to the first of `paths` that can be written (private directory, atomic
    replace, so a concurrent reader never sees half a file); the path written, or None."""
    for path in paths:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            return path
        except OSError:
            continue
    return None
