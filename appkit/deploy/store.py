"""The local versioned store: numbered bundle versions, an ACTIVE pointer, rollback and retention.

TensorFlow Serving style, made crash safe: a process killed at any point leaves the active version
active and intact. Layout of a store root (default `<package>/.appkit/deployments/`):

    ACTIVE                 the active version number, as text ("3\\n"); absent: nothing active
    .lock                  flock(2) lock file; holds "<pid> <what>" of the process holding it
    1/ 2/ 3/ ...           a bundle each (files + manifest.json) plus version.json
    .publish-<pid>-<tok>/  a publish in progress (or killed: removed by the next publish)
    .trash-<n>-<pid>-<tok>/  a version being removed by retention (renamed first, then deleted)

Why a file and not a symlink for ACTIVE: os.replace of a small file is atomic on every platform
and filesystem appkit runs on (symlinks need privileges on Windows and are lost by some copies and
archives), and a reader resolves the number once and then reads an immutable version directory,
instead of following a link that may be swapped between two of its reads.

Retention (`prune(keep)`) keeps the `keep` newest versions, the active one, and the version
`rollback()` would go to, so that a rollback is always possible right after a deploy with --keep.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Mapping

from appkit import __version__
from appkit.bundle.write import (BundleEntries,
    AK512,
    AK515,
    AK516,
    MANIFEST,
    fsync_dir,
    bundle_entries,
    canonical_json,
    read_bundle,
    sha256_hex,
    verify_bundle,
    write_tree,
)
from appkit.diagnostics import AppkitError, Diagnostic, Severity, rule

try:  # POSIX; elsewhere publishing works but is not protected against a concurrent publish
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ACTIVE = "ACTIVE"
VERSION_JSON = "version.json"
LOCK = ".lock"
PUBLISH_PREFIX, TRASH_PREFIX, ACTIVE_TMP_PREFIX = ".publish-", ".trash-", ".ACTIVE-"
DEFAULT_LOCK_TIMEOUT = 30.0

AK500 = rule("AK500", "deployment store cannot be used", example="--target points at a regular file",
             fix="point --target at a directory appkit may create and write")
AK501 = rule("AK501", "another process holds the deployment store lock",
             example="two `appkit deploy` runs into the same store at once; the second gave up waiting",
             fix="wait for the other deploy to finish (its pid is named), or raise --lock-timeout")
AK502 = rule("AK502", "version does not exist", example="`appkit activate 9` in a store holding 1..3",
             fix="pick a version listed by `appkit versions`")
AK503 = rule("AK503", "version is corrupt and cannot be activated",
             example="a version whose model file no longer matches the sha256 in its manifest",
             fix="activate another version (`appkit versions` lists them), or deploy again")
AK504 = rule("AK504", "version is incomplete and cannot be activated",
             example="a version directory copied by hand, without version.json",
             fix="publish with `appkit deploy`, which writes versions atomically")
AK505 = rule("AK505", "nothing to roll back to",
             example="`appkit rollback` when the active version is the oldest good one",
             fix="activate a specific version with `appkit activate N`, or deploy the old package again")
AK506 = rule("AK506", "no version is active", example="`appkit rollback` in a store where nothing was activated",
             fix="activate a version with `appkit activate N`")
AK507 = rule("AK507", "the ACTIVE file is not a version number", example="ACTIVE holding 'latest'",
             fix="run `appkit activate N` to rewrite it")
AK508 = rule("AK508", "leftover of an interrupted publish", Severity.WARNING,
             example="a .publish-1234-ab12 directory left by a deploy that was killed",
             fix="nothing to do: the next deploy removes it (it never becomes a version)")
AK509 = rule("AK509", "directory in the store is not a version and is ignored", Severity.WARNING,
             example="a directory named 'v2' or '007' beside the numbered versions",
             fix="versions are directories named by a plain integer (1, 2, 3); rename or remove it")

Progress = Callable[[str, int, int], None]  # (path just written, bytes done, bytes in all)

# Test seam: called with a step name at every point where a publish/activate could be killed;
# the crash-safety test sets it in a child process to SIGKILL itself at step k.
CHECKPOINT_HOOK: Callable[[str], None] | None = None


def _checkpoint(step: str) -> None:
    if CHECKPOINT_HOOK is not None:
        CHECKPOINT_HOOK(step)


class StoreError(AppkitError):
    """A store operation refused or failed; `.code` is the first diagnostic's code."""

    @property
    def code(self) -> str:
        return self.diagnostics[0].code


@dataclass(frozen=True)
class VersionInfo:
    """One numbered version: its status (ok / corrupt / incomplete), metadata and problems."""

    version: int
    path: Path
    status: str
    active: bool = False
    created: str | None = None
    source_hash: str | None = None
    models: tuple[str, ...] = ()
    appkit_version: str | None = None
    problems: tuple[Diagnostic, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "path": str(self.path), "status": self.status, "active": self.active,
                "created": self.created, "source_hash": self.source_hash, "models": list(self.models),
                "appkit_version": self.appkit_version, "problems": [d.message for d in self.problems]}


@dataclass(frozen=True)
class Leftover:
    """A temporary directory of a publish or a removal: in progress, or left by a killed process."""

    path: Path
    kind: str  # "publish" | "trash"
    pid: int | None
    in_progress: bool

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "kind": self.kind, "pid": self.pid, "in_progress": self.in_progress,
                "status": "in progress" if self.in_progress else "incomplete"}


def default_store_root(package_dir: Path | str) -> Path:
    return Path(package_dir) / ".appkit" / "deployments"


def _version_number(name: str) -> int | None:
    """The version a directory name stands for: plain integers only ('7', not '007' or 'v7')."""
    if name.isascii() and name.isdigit() and str(int(name)) == name:
        return int(name)
    return None


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class VersionStore:
    """Numbered bundle versions under `root`; see the module docstring for the layout."""

    def __init__(self, root: Path | str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.root = Path(root)
        self.lock_timeout = lock_timeout

    # -- reading -------------------------------------------------------------------------------

    def version_path(self, version: int) -> Path:
        return self.root / str(int(version))

    def active(self) -> int | None:
        """The active version number, or None when nothing is active (or ACTIVE is unreadable)."""
        try:
            text = (self.root / ACTIVE).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise self._unusable(f"cannot read {self.root / ACTIVE}: {e.strerror or e}")
        return _version_number(text)

    def _numbered(self) -> dict[int, Path]:
        if not self.root.is_dir():
            return {}
        out = {}
        for entry in self.root.iterdir():
            number = _version_number(entry.name)
            if number is not None and entry.is_dir():
                out[number] = entry
        return dict(sorted(out.items()))

    def list_versions(self, verify: bool = True) -> list[VersionInfo]:
        """Every numbered version, oldest first, with its status and whether it is active.

        `verify=False` checks presence and sizes against the manifest instead of hashing every
        file: a cheap listing for a server polling the store.
        """
        self._check_root()
        active = self.active()
        return [self._inspect(n, path, active, verify) for n, path in self._numbered().items()]

    def info(self, version: int, verify: bool = True) -> VersionInfo | None:
        path = self.version_path(version)
        if not path.is_dir():
            return None
        return self._inspect(version, path, self.active(), verify)

    def _inspect(self, version: int, path: Path, active: int | None, verify: bool) -> VersionInfo:
        problems = [d for d in verify_bundle(path, ignore=(VERSION_JSON,), check_hashes=verify)]
        meta: dict[str, object] = {}
        try:
            loaded = json.loads((path / VERSION_JSON).read_bytes())
            meta = loaded if isinstance(loaded, dict) else {}
            if not meta:
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            problems.append(Diagnostic(AK504, f"version {version}: {VERSION_JSON} is missing"))
        except (OSError, ValueError) as e:
            problems.append(Diagnostic(AK504, f"version {version}: {VERSION_JSON} cannot be read: {e}"))
        errors = [d for d in problems if d.level is Severity.ERROR]
        if any(d.code != AK504 for d in errors):
            status = "corrupt"
        elif errors:
            status = "incomplete"
        else:
            status = "ok"
        models = meta.get("models") or []
        return VersionInfo(
            version=version, path=path, status=status, active=version == active,
            created=_str_or_none(meta.get("created")), source_hash=_str_or_none(meta.get("source_hash")),
            models=tuple(str(m) for m in models) if isinstance(models, list) else (),
            appkit_version=_str_or_none(meta.get("appkit_version")), problems=tuple(problems))

    def leftovers(self) -> list[Leftover]:
        """Temporary directories: publishes or removals in progress, or left by a killed process."""
        if not self.root.is_dir():
            return []
        out = []
        for entry in sorted(self.root.iterdir()):
            for prefix, kind in ((PUBLISH_PREFIX, "publish"), (TRASH_PREFIX, "trash")):
                if entry.name.startswith(prefix):
                    pid = _pid_in(entry.name[len(prefix):], skip=1 if kind == "trash" else 0)
                    out.append(Leftover(entry, kind, pid, _pid_alive(pid) and pid != os.getpid()))
        return out

    def problems(self) -> list[Diagnostic]:
        """What `appkit versions` should warn about beside the versions themselves."""
        out: list[Diagnostic] = []
        if not self.root.is_dir():
            return out
        try:
            text = (self.root / ACTIVE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = None
        if text is not None and _version_number(text) is None:
            out.append(Diagnostic(AK507, f"{self.root / ACTIVE} holds {text[:40]!r}, not a version number",
                                  hint="run `appkit activate N` to rewrite it"))
        elif text is not None and not self.version_path(int(text)).is_dir():
            out.append(Diagnostic(AK502, f"the active version {text} does not exist in {self.root}",
                                  hint="activate an existing version with `appkit activate N`"))
        for leftover in self.leftovers():
            if not leftover.in_progress:
                out.append(Diagnostic(AK508, f"{leftover.path.name}: left by an interrupted "
                                      f"{'publish' if leftover.kind == 'publish' else 'version removal'}"
                                      f"{f' (pid {leftover.pid})' if leftover.pid else ''}; it is not a version",
                                      hint="the next `appkit deploy` removes it"))
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and not entry.name.startswith(".") and _version_number(entry.name) is None:
                out.append(Diagnostic(AK509, f"{entry} is not a version directory and is ignored",
                                      hint="version directories are named by a plain integer: 1, 2, 3"))
        return out

    def rollback_target(self, verify: bool = True) -> int | None:
        """The newest good version older than the active one (None: there is none); `verify=False`
        judges "good" by presence and sizes, without hashing every file."""
        active = self.active()
        if active is None:
            return None
        for number, path in reversed(self._numbered().items()):
            if number < active and self._inspect(number, path, active, verify=verify).ok:
                return number
        return None

    # -- writing -------------------------------------------------------------------------------

    def publish(self, bundle: Mapping[str, bytes] | Path | str, metadata: Mapping[str, object] | None = None,
                activate: bool = True, keep: int | None = None, progress: Progress | None = None) -> int:
        """Write `bundle` as the next version, atomically; activate it unless told not to; prune.

        `bundle` is entries (relative path -> bytes; manifest.json is made if absent) or a bundle
        directory/zip on disk. `metadata` may give "source_hash" and "models"; anything else is
        kept in version.json as is. `progress(path, bytes_done, bytes_total)` follows the writing.
        Returns the new version number.
        """
        entries = _bundle_to_entries(bundle, metadata or {})
        if keep is not None and keep < 1:
            raise StoreError(Diagnostic(AK500, f"--keep {keep}: at least the newest version must be kept",
                                        hint="use --keep 1 or more"))
        with self._locked("publishing"):
            _checkpoint("locked")
            tmp: Path | None = None
            try:
                self._remove_leftovers()
                _checkpoint("cleaned")
                numbers = self._numbered()
                version = (max(numbers) if numbers else 0) + 1
                entries[VERSION_JSON] = canonical_json(_version_json(version, entries, metadata or {}))
                tmp = self.root / f"{PUBLISH_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
                self._write_version(entries, tmp, version, progress)
                tmp = None
                if activate:
                    self._write_active(version)
                if keep is not None:
                    self._prune(keep)
            except OSError as e:  # disk full, permissions: the active version is untouched
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                raise self._unusable(f"cannot write a new version in {self.root}: {e.strerror or e}") from None
        return version

    def _write_version(self, entries: dict[str, bytes], tmp: Path, version: int, progress: Progress | None) -> None:
        """Write every file into `tmp`, fsync them and their directories, then rename it to `version`."""
        tmp.mkdir()
        _checkpoint("made temporary directory")
        total, done = sum(len(b) for b in entries.values()), 0

        def wrote(rel: str) -> None:
            nonlocal done
            done += len(entries[rel])
            if progress is not None:
                progress(rel, done, total)
            _checkpoint(f"wrote {rel}")

        write_tree(entries, tmp, fsync=True, on_file=wrote)
        _checkpoint("synced temporary directory")
        os.rename(tmp, self.version_path(version))
        _checkpoint("renamed into place")
        fsync_dir(self.root)
        _checkpoint("synced store directory")

    def activate(self, version: int) -> VersionInfo:
        """Make `version` the active one; refuses a missing, corrupt or incomplete version."""
        with self._locked(f"activating {version}"):
            info = self.info(version, verify=True)
            if info is None:
                known = ", ".join(str(n) for n in self._numbered()) or "none"
                raise StoreError(Diagnostic(AK502, f"version {version} does not exist in {self.root} "
                                            f"(versions: {known})", hint="pick one listed by `appkit versions`"))
            if not info.ok:
                code = AK503 if info.status == "corrupt" else AK504
                why = "; ".join(d.message for d in info.problems if d.level is Severity.ERROR)
                raise StoreError(Diagnostic(code, f"version {version} is {info.status} and was not activated: {why}",
                                            hint="activate another version, or deploy again"))
            self._write_active(version)
        return info

    def rollback(self) -> tuple[int, int]:
        """Activate the newest good version older than the active one; returns (from, to)."""
        with self._locked("rolling back"):
            active = self.active()
            if active is None:
                raise StoreError(Diagnostic(AK506, f"no version is active in {self.root}, so there is "
                                            "nothing to roll back from", hint="activate one with `appkit activate N`"))
            target = self.rollback_target()
            if target is None:
                raise StoreError(Diagnostic(AK505, f"version {active} is active and there is no good version "
                                            "before it to roll back to",
                                            hint="activate a specific version with `appkit activate N`"))
            self._write_active(target)
        return active, target

    def prune(self, keep: int) -> list[int]:
        """Remove the oldest versions beyond `keep`, never the active one nor the rollback target."""
        if keep < 1:
            raise StoreError(Diagnostic(AK500, f"--keep {keep}: at least one version must be kept"))
        with self._locked("pruning"):
            return self._prune(keep)

    def _prune(self, keep: int) -> list[int]:
        numbers = list(self._numbered())
        kept = set(numbers[-keep:]) | {self.active()}
        if not kept.issuperset(numbers):
            # Spare the version a rollback returns to. Judged without hashing: hashing it on every
            # deploy cost as much as writing the new version's constants; `rollback` hashes.
            kept.add(self.rollback_target(verify=False))
        removed = []
        for number in numbers:
            if number in kept:
                continue
            # Renamed first (atomic), so a kill mid-delete leaves trash, never a half-deleted version.
            trash = self.root / f"{TRASH_PREFIX}{number}-{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(self.version_path(number), trash)
            _checkpoint(f"moved version {number} to trash")
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(number)
        return removed

    def _write_active(self, version: int) -> None:
        tmp = self.root / f"{ACTIVE_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        # Not write_file: ACTIVE keeps its real mtime (the activation time), which pollers may watch.
        with open(tmp, "wb") as f:
            f.write(f"{version}\n".encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        _checkpoint("wrote ACTIVE temporary file")
        os.replace(tmp, self.root / ACTIVE)
        _checkpoint("replaced ACTIVE")
        fsync_dir(self.root)
        _checkpoint("synced ACTIVE")

    def _remove_leftovers(self) -> None:
        # Only called under the lock: every temporary entry belongs to a process that died.
        for entry in self.root.iterdir():
            if entry.name.startswith((PUBLISH_PREFIX, TRASH_PREFIX)):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(ACTIVE_TMP_PREFIX):
                entry.unlink(missing_ok=True)

    # -- the lock ------------------------------------------------------------------------------

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise self._unusable(f"{self.root} is not a directory")

    def _unusable(self, message: str) -> StoreError:
        return StoreError(Diagnostic(AK500, message, hint="point --target at a directory appkit can write"))

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """Hold the store's flock; wait up to lock_timeout, then fail naming the holder's pid."""
        self._check_root()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise self._unusable(f"cannot create the store {self.root}: {e.strerror or e}") from None
        try:
            self._acquire(fd)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()} {what}\n".encode("utf-8"))
            yield
            os.ftruncate(fd, 0)  # released: nobody should be named as holder any more
        finally:
            os.close(fd)  # closing releases the flock, and so does the death of the process

    def _acquire(self, fd: int) -> None:
        if fcntl is None:
            return
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(Diagnostic(
                        AK501, f"{self.root} is locked by {self._holder()}; gave up after waiting "
                        f"{self.lock_timeout:g} s",
                        hint="wait for that process to finish, or raise --lock-timeout")) from None
                time.sleep(0.05)

    def _holder(self) -> str:
        try:
            text = (self.root / LOCK).read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        pid, _, what = text.partition(" ")
        if pid.isdigit():
            return f"another appkit process (pid {pid}, {what or 'busy'})"
        return "another appkit process (pid unknown)"


def publish_bundle(store_root: Path | str, entries: Mapping[str, bytes] | Path | str,
                   metadata: Mapping[str, object] | None = None, keep: int | None = None,
                   lock_timeout: float = DEFAULT_LOCK_TIMEOUT, activate: bool = True,
                   progress: Progress | None = None) -> int:
    """Publish `entries` as a new version of the store at `store_root` (see VersionStore.publish)."""
    return VersionStore(store_root, lock_timeout).publish(entries, metadata, activate=activate, keep=keep,
                                                          progress=progress)


def _bundle_to_entries(bundle: Mapping[str, bytes] | Path | str, metadata: Mapping[str, object]) -> dict[str, bytes]:
    """Entries with a manifest that matches them; a bundle read from disk must verify first."""
    if isinstance(bundle, (str, Path)):
        path = Path(bundle)
        if not path.exists():
            raise StoreError(Diagnostic(AK500, f"bundle {path} does not exist"))
        if path.is_dir():
            problems = [d for d in verify_bundle(path, ignore=(VERSION_JSON,)) if d.level is Severity.ERROR]
            if problems:
                raise StoreError(problems)
        try:
            entries = read_bundle(path, ignore=(VERSION_JSON,))
        except (OSError, zipfile.BadZipFile) as e:
            raise StoreError(Diagnostic(AK500, f"cannot read the bundle {path}: {e}",
                                        hint="give a bundle directory or zip written by appkit")) from None
    else:
        entries = dict(bundle)
    if MANIFEST not in entries:
        extra = {"models": metadata["models"]} if "models" in metadata else None
        try:
            return bundle_entries(entries, _str_or_none(metadata.get("source_hash")), extra, reserved=(VERSION_JSON,))
        except AppkitError as e:  # one error type for callers of the store
            raise StoreError(e.diagnostics) from None
    if VERSION_JSON in entries:
        raise StoreError(Diagnostic(AK516, f"bundle entry {VERSION_JSON!r} is reserved for the store"))
    if isinstance(bundle, BundleEntries):
        return entries  # its manifest was computed from these bytes just now
    try:
        manifest = json.loads(entries[MANIFEST])
    except ValueError as e:
        raise StoreError(Diagnostic(AK515, f"the bundle's manifest.json is not valid JSON: {e}",
                                    hint="rebuild the bundle")) from None
    files = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    listed = {p: (m or {}).get("sha256") for p, m in files.items()} if isinstance(files, dict) else {}
    actual = {p: sha256_hex(b) for p, b in entries.items() if p != MANIFEST}
    if listed != actual:
        wrong = sorted(set(listed.items()) ^ set(actual.items()))[:3]
        raise StoreError(Diagnostic(AK512, f"the bundle does not match its manifest (first differences: "
                                    f"{', '.join(p for p, _ in wrong)})", hint="rebuild the bundle"))
    return entries


def _version_json(version: int, entries: Mapping[str, bytes], metadata: Mapping[str, object]) -> dict[str, object]:
    manifest = json.loads(entries[MANIFEST])
    models = metadata.get("models", manifest.get("models", []))
    if isinstance(models, dict):
        names = sorted(models)
    elif isinstance(models, list):
        names = [m.get("name", "?") if isinstance(m, dict) else str(m) for m in models]
    else:
        names = []
    out = {k: v for k, v in metadata.items() if k not in ("models",)}
    out.update({
        "version": version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source_hash": metadata.get("source_hash", manifest.get("source_hash")),
        "models": names,
        "appkit_version": __version__,
    })
    return out


def _pid_in(rest: str, skip: int = 0) -> int | None:
    parts = rest.split("-")
    if len(parts) > skip and parts[skip].isdigit():
        return int(parts[skip])
    return None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


__all__ = ["VersionStore", "VersionInfo", "Leftover", "StoreError", "publish_bundle", "default_store_root",
           "ACTIVE", "VERSION_JSON"]
