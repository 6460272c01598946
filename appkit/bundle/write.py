"""Deterministic bundle writing: the same entries give byte-identical directories and zips.

A bundle is a mapping of relative posix paths to bytes plus `manifest.json` (appkit version, source
hash, sha256 of every file); `verify_bundle` checks a written bundle against its manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable, Mapping

from appkit import __version__
from appkit.diagnostics import AppkitError, Diagnostic, Severity, rule

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
# DOS time cannot go before 1980; every timestamp a bundle carries is this one, so bytes never
# depend on when the bundle was written.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_EPOCH = 315532800  # 1980-01-01T00:00:00Z, for mtimes of written directories
FILE_MODE, DIR_MODE = 0o644, 0o755
ZIP_LEVEL = 6

AK510 = rule("AK510", "bundle entry path is not a clean relative path",
             example="an entry named '../secrets' or '/etc/passwd' or 'schemas\\\\a.sd'",
             fix="use relative posix paths inside the bundle, without '..', '.' or backslashes")
AK511 = rule("AK511", "bundle manifest is missing", example="a version directory without manifest.json",
             fix="publish the bundle again with `appkit deploy`; never copy bundle files by hand")
AK512 = rule("AK512", "bundle file does not match its manifest sha256",
             example="a model file truncated by an interrupted copy",
             fix="publish the bundle again; the file changed after it was written")
AK513 = rule("AK513", "a file listed in the bundle manifest is missing",
             example="manifest.json lists constants/w.npy but the file is not there",
             fix="publish the bundle again; the bundle is incomplete")
AK514 = rule("AK514", "a file in the bundle is not listed in its manifest", Severity.WARNING,
             example="an editor backup schemas/a.sd~ copied into a version directory",
             fix="remove the file, or publish the bundle again")
AK515 = rule("AK515", "bundle manifest is not valid", example="manifest.json cut short: 'Expecting value'",
             fix="publish the bundle again")
AK516 = rule("AK516", "bundle entry uses a reserved name",
             example="an entry called manifest.json passed to the bundle writer",
             fix="let the writer create manifest.json; give it the other entries only")

AK517 = rule("AK517", "bundle cannot be written", example="`appkit deploy --bundle-only -o /read-only/dir`",
             fix="choose an output path in a writable directory with free space")

Entries = Mapping[str, bytes]


def canonical_json(value: object) -> bytes:
    """JSON with sorted keys and fixed separators, UTF-8, ending in a newline: stable bytes."""
    return (json.dumps(value, sort_keys=True, indent=2, separators=(",", ": "), ensure_ascii=False)
            + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_entry_path(path: str) -> Diagnostic | None:
    """Why `path` cannot name a bundle entry, or None when it is a clean relative posix path."""
    pure = PurePosixPath(path)
    bad = (not path or "\\" in path or path.startswith("/") or "\x00" in path
           or any(part in ("", ".", "..") for part in path.split("/")) or str(pure) != path)
    if bad:
        return Diagnostic(AK510, f"bundle entry {path!r} is not a clean relative path",
                          hint="use a relative path with '/' separators and no '.' or '..' parts")
    return None


def source_hash(entries: Entries) -> str:
    """A hash of a set of files: sha256 over the sorted (path, sha256 of content) pairs."""
    digest = hashlib.sha256()
    for path in sorted(entries):
        digest.update(path.encode("utf-8") + b"\0" + sha256_hex(entries[path]).encode("ascii") + b"\n")
    return "sha256:" + digest.hexdigest()


def directory_entries(root: Path | str, skip: Iterable[str] = (".appkit", ".git", ".DS_Store")) -> dict[str, bytes]:
    """Every regular file under `root` as entries, skipping the named directories/files anywhere."""
    root = Path(root)
    skipped = set(skip)
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        for name in sorted(filenames):
            if name in skipped:
                continue
            full = Path(dirpath) / name
            if full.is_file():
                out[full.relative_to(root).as_posix()] = full.read_bytes()
    return out


def build_manifest(entries: Entries, source: str, extra: Mapping[str, object] | None = None) -> dict[str, object]:
    """The manifest of `entries`: format, appkit version, source hash, sha256 and size of every file.

    `extra` adds fields (e.g. "models" with inputs, outputs and variable mappings); it cannot
    replace the fields the writer owns.
    """
    owned = {"format", "appkit_version", "source_hash", "files"}
    manifest: dict[str, object] = {k: v for k, v in (extra or {}).items() if k not in owned}
    manifest.update({
        "format": MANIFEST_FORMAT,
        "appkit_version": __version__,
        "source_hash": source,
        "files": {p: {"sha256": digest, "size": len(entries[p])} for p, digest in sorted(_sha256s(entries).items())},
    })
    return manifest


_PARALLEL_HASH = 1 << 22  # entries this large are hashed on all cores (hashlib lets go of the GIL)


def _sha256s(entries: Entries) -> dict[str, str]:
    """sha256 of every entry; large ones in threads, largest first, so model weights hash in parallel."""
    large = sorted((p for p in entries if len(entries[p]) >= _PARALLEL_HASH), key=lambda p: -len(entries[p]))
    out: dict[str, str] = {}
    workers = min(len(large), os.cpu_count() or 1)
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            out.update(zip(large, pool.map(lambda p: sha256_hex(entries[p]), large)))
    for p in entries:
        if p not in out:
            out[p] = sha256_hex(entries[p])
    return out


class BundleEntries(dict):
    """Entries whose manifest.json was computed from these very bytes in this process.

    The store trusts it instead of hashing every file again (large models make that cost seconds);
    do not change the entries after building it.
    """


def bundle_entries(entries: Entries, source: str | None = None,
                   extra: Mapping[str, object] | None = None, reserved: Iterable[str] = ()) -> dict[str, bytes]:
    """`entries` plus their manifest.json, checked: clean paths, no reserved names (AppkitError)."""
    problems = [d for d in (check_entry_path(p) for p in entries) if d is not None]
    for name in {MANIFEST, *reserved}:
        if name in entries:
            problems.append(Diagnostic(AK516, f"bundle entry {name!r} is reserved for appkit's own file",
                                       hint="rename the entry; appkit writes this file itself"))
    if problems:
        raise AppkitError(problems)
    manifest = build_manifest(entries, source if source is not None else source_hash(entries), extra)
    out = {p: entries[p] for p in sorted(entries)}  # no copies: model weights can be large
    out[MANIFEST] = canonical_json(manifest)
    return BundleEntries(sorted(out.items()))


# Already-compact binary formats are stored as they are: deflating float weights costs seconds
# for a few percent. Large text (tensor JSON) is deflated at the fastest level.
_STORED_SUFFIXES = (".npy", ".npz", ".onnx", ".pb", ".bin", ".lz4", ".gz", ".zip", ".index", ".tflite")
_LARGE = 1 << 20


def _zip_method(path: str, size: int) -> tuple[int, int | None]:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(_STORED_SUFFIXES) or ".data-" in name:
        return zipfile.ZIP_STORED, None
    return zipfile.ZIP_DEFLATED, (ZIP_LEVEL if size < _LARGE else 1)


def write_zip(target: BinaryIO, entries: Entries) -> None:
    """Write `entries` as a zip to a binary file: sorted, fixed timestamps and permissions, no extra fields.

    The compression of an entry depends only on its name and size, so the bytes are reproducible.
    """
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(entries):
            data = entries[path]
            method, level = _zip_method(path, len(data))
            info = zipfile.ZipInfo(path, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # unix, so external_attr carries the permission bits
            info.external_attr = (0o100000 | FILE_MODE) << 16
            info.compress_type = method
            archive.writestr(info, data, compress_type=method, compresslevel=level)


def zip_bytes(entries: Entries) -> bytes:
    """The zip of `entries` (see write_zip) as bytes, e.g. for a deploy to a config server."""
    buffer = io.BytesIO()
    write_zip(buffer, entries)
    return buffer.getvalue()


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; nothing more to do there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write one bundle file with the fixed permissions and timestamp."""
    with open(path, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.chmod(path, FILE_MODE)
    os.utime(path, (FIXED_EPOCH, FIXED_EPOCH))


def write_tree(entries: Entries, dest: Path, fsync: bool = False,
               on_file: Callable[[str], None] | None = None) -> None:
    """Write `entries` under the existing directory `dest` (sorted order; dirs fsynced when asked).

    `on_file(path)` is called after each file, for progress and for crash-point tests.
    """
    made: set[Path] = set()
    for rel in sorted(entries):
        target = dest.joinpath(*rel.split("/"))
        parent = target.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            while parent != dest and parent not in made:  # every new ancestor gets fixed metadata
                made.add(parent)
                parent = parent.parent
        write_file(target, entries[rel], fsync)
        if on_file is not None:
            on_file(rel)
    for directory in sorted(made | {dest}, key=lambda p: len(p.parts), reverse=True):
        os.chmod(directory, DIR_MODE)
        os.utime(directory, (FIXED_EPOCH, FIXED_EPOCH))
        if fsync:
            fsync_dir(directory)


def write_bundle(entries: Entries, dest: Path | str) -> Path:
    """Write a bundle as a directory or, for '*.zip', a zip: atomically (see _write_bundle)."""
    try:
        return _write_bundle(entries, Path(dest))
    except OSError as e:
        raise AppkitError(Diagnostic(AK517, f"cannot write the bundle {dest}: {e.strerror or e}",
                                     hint="choose an output path in a writable directory with free space")) from None


def _write_bundle(entries: Entries, dest: Path) -> Path:
    """Write a bundle (entries that include manifest.json) as a directory or, for '*.zip', a zip.

    The write is atomic: into a temporary sibling, then renamed into place. An existing
    destination is replaced only when it is itself a bundle (a zip, or a directory with a manifest).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix == ".zip":
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                write_zip(f, entries)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest
    if dest.exists() and not (dest.is_dir() and ((dest / MANIFEST).is_file() or not any(dest.iterdir()))):
        raise AppkitError(Diagnostic(AK516, f"{dest} exists and is not a bundle; refusing to replace it",
                                     hint="choose a new output directory, or remove this one first"))
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        write_tree(entries, tmp_dir)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.rename(dest, old)
            os.rename(tmp_dir, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp_dir, dest)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return dest


def read_bundle(path: Path | str, ignore: Iterable[str] = ()) -> dict[str, bytes]:
    """The entries of a bundle directory or zip (manifest included), skipping `ignore` names."""
    path = Path(path)
    if path.is_file():
        with zipfile.ZipFile(path) as archive:
            return {n: archive.read(n) for n in sorted(archive.namelist()) if not n.endswith("/") and n not in ignore}
    return {p: b for p, b in directory_entries(path, skip=()).items() if p not in set(ignore)}


def load_manifest(path: Path | str) -> tuple[dict[str, object] | None, list[Diagnostic]]:
    """The manifest of a bundle directory, or None and why it cannot be read."""
    where = Path(path) / MANIFEST
    try:
        manifest = json.loads(where.read_bytes())
    except FileNotFoundError:
        return None, [Diagnostic(AK511, f"{where} is missing", hint="publish the bundle again")]
    except (OSError, ValueError) as e:
        return None, [Diagnostic(AK515, f"{where} cannot be read: {e}", hint="publish the bundle again")]
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None, [Diagnostic(AK515, f"{where} has no 'files' table", hint="publish the bundle again")]
    return manifest, []


def verify_bundle(path: Path | str, ignore: Iterable[str] = (), check_hashes: bool = True) -> list[Diagnostic]:
    """Problems of a bundle directory against its manifest (empty list: it verifies).

    With `check_hashes=False` only presence and sizes are checked: cheap enough for a listing.
    """
    root = Path(path)
    manifest, problems = load_manifest(root)
    if manifest is None:
        return problems
    files = manifest["files"]
    assert isinstance(files, dict)
    for rel in sorted(files):
        meta = files[rel]
        target = root.joinpath(*str(rel).split("/"))
        if check_entry_path(str(rel)) is not None or not target.is_file():
            problems.append(Diagnostic(AK513, f"{root}: {rel} is listed in the manifest but missing"))
            continue
        expected_size = meta.get("size") if isinstance(meta, dict) else None
        expected_sha = meta.get("sha256") if isinstance(meta, dict) else None
        if expected_size is not None and target.stat().st_size != expected_size:
            problems.append(Diagnostic(AK512, f"{root}: {rel} has {target.stat().st_size} bytes, "
                                       f"the manifest says {expected_size}"))
        elif check_hashes and _file_sha256(target) != expected_sha:
            problems.append(Diagnostic(AK512, f"{root}: {rel} does not match its sha256 in the manifest"))
    listed = set(files) | {MANIFEST, *ignore}
    for rel in sorted(set(_relative_files(root)) - listed):
        problems.append(Diagnostic(AK514, f"{root}: {rel} is not listed in the manifest"))
    return problems


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative_files(root: Path) -> list[str]:
    out = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return out
