"""The deterministic bundle writer: byte-identical output, fixed metadata, manifest verification."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from appkit import __version__
from appkit.bundle.write import (
    FIXED_EPOCH,
    MANIFEST,
    bundle_entries,
    canonical_json,
    check_entry_path,
    read_bundle,
    source_hash,
    verify_bundle,
    write_bundle,
    zip_bytes,
)
from appkit.diagnostics import AppkitError, Severity

ENTRIES = {
    "schemas/music.sd": b"schema music { document music { field year type int { indexing: attribute } } }\n",
    "constants/w.json": b'{"cells": [{"address": {"x": "0"}, "value": 1.5}]}',
    "constants/w.npy": bytes(range(256)) * 7,
    "services.xml": b"<services version='1.0'/>\n",
    "models/mnist/model.onnx": b"\x08\x07" * 1000,
}


def _tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.stat()
        out[path.relative_to(root).as_posix()] = (path.read_bytes() if path.is_file() else b"",
                                                  stat.S_IMODE(st.st_mode), int(st.st_mtime))
    return out


def test_zip_is_byte_identical_whatever_the_insertion_order():
    one = zip_bytes(bundle_entries(ENTRIES, "sha256:abc"))
    reordered = dict(reversed(list(ENTRIES.items())))
    two = zip_bytes(bundle_entries(reordered, "sha256:abc"))
    assert one == two
    assert hashlib.sha256(one).hexdigest() == hashlib.sha256(two).hexdigest()


def test_zip_has_sorted_entries_fixed_times_permissions_and_no_extra_fields(tmp_path):
    data = zip_bytes(bundle_entries(ENTRIES, "sha256:abc"))
    (tmp_path / "b.zip").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(list(ENTRIES) + [MANIFEST])
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert info.extra == b""
            # compact binary formats are stored, text is deflated
            stored = info.filename.endswith((".npy", ".onnx"))
            assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED), info.filename
        assert archive.testzip() is None
    assert read_bundle(tmp_path / "b.zip") == bundle_entries(ENTRIES, "sha256:abc")


def test_content_change_changes_the_zip():
    changed = dict(ENTRIES, **{"services.xml": b"<services version='1.0'> </services>\n"})
    assert zip_bytes(bundle_entries(ENTRIES, "s")) != zip_bytes(bundle_entries(changed, "s"))


def test_directories_written_twice_are_identical_with_fixed_metadata(tmp_path):
    a = write_bundle(bundle_entries(ENTRIES, "sha256:abc"), tmp_path / "a")
    b = write_bundle(bundle_entries(dict(reversed(list(ENTRIES.items()))), "sha256:abc"), tmp_path / "b")
    tree_a, tree_b = _tree(a), _tree(b)
    assert tree_a == tree_b
    for rel, (_, mode, mtime) in tree_a.items():
        assert mtime == FIXED_EPOCH, rel
        assert mode == (0o755 if (a / rel).is_dir() else 0o644), rel
    assert verify_bundle(a) == []


def test_manifest_lists_version_source_hash_and_every_sha256(tmp_path):
    entries = bundle_entries(ENTRIES, None, extra={"models": {"mnist": {"inputs": ["x"]}}, "files": "ignored"})
    manifest = json.loads(entries[MANIFEST])
    assert manifest["appkit_version"] == __version__
    assert manifest["source_hash"] == source_hash(ENTRIES)
    assert manifest["models"] == {"mnist": {"inputs": ["x"]}}
    assert set(manifest["files"]) == set(ENTRIES)
    for path, data in ENTRIES.items():
        assert manifest["files"][path] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert entries[MANIFEST] == canonical_json(manifest)  # canonical: re-serialising gives the same bytes


def test_large_entries_hashed_in_parallel_have_their_own_sha256():
    # several entries above the threshold at which the manifest hashes on every core
    large = {f"constants/w{i}.npy": bytes([i]) * ((4 << 20) + i * 4099) for i in range(5)}
    entries = {**ENTRIES, **large}
    manifest = json.loads(bundle_entries(entries)[MANIFEST])
    assert list(manifest["files"]) == sorted(entries)
    for path, data in entries.items():
        assert manifest["files"][path] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})


def test_source_hash_depends_on_paths_and_contents():
    assert source_hash({"a": b"1", "b": b"2"}) == source_hash({"b": b"2", "a": b"1"})
    assert source_hash({"a": b"1"}) != source_hash({"b": b"1"})
    assert source_hash({"a": b"1"}) != source_hash({"a": b"2"})


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a\\b", "a//b", "./a", "a/", "", "a/../b"])
def test_unclean_entry_paths_are_refused(bad):
    assert check_entry_path(bad) is not None
    with pytest.raises(AppkitError) as info:
        bundle_entries({bad: b"x"})
    assert info.value.diagnostics[0].code == "AK510"


def test_reserved_manifest_name_is_refused():
    with pytest.raises(AppkitError) as info:
        bundle_entries({MANIFEST: b"{}"})
    assert info.value.diagnostics[0].code == "AK516"


def test_verify_reports_tampering_missing_extra_and_broken_manifest(tmp_path):
    root = write_bundle(bundle_entries(ENTRIES), tmp_path / "b")
    (root / "constants/w.npy").write_bytes(b"\0" * (256 * 7))  # same size, other bytes
    (root / "services.xml").unlink()
    (root / "schemas/music.sd~").write_bytes(b"backup")
    problems = {d.code: d for d in verify_bundle(root)}
    assert set(problems) == {"AK512", "AK513", "AK514"}
    assert problems["AK514"].level is Severity.WARNING
    assert "w.npy" in problems["AK512"].message and "services.xml" in problems["AK513"].message
    (root / "constants/w.json").write_bytes(b"{}")  # size differs: caught even without hashing
    assert any("w.json" in d.message for d in verify_bundle(root, check_hashes=False))
    (root / MANIFEST).write_bytes(b'{"files": ')
    assert [d.code for d in verify_bundle(root)] == ["AK515"]
    (root / MANIFEST).unlink()
    assert [d.code for d in verify_bundle(root)] == ["AK511"]


def test_write_bundle_replaces_a_bundle_but_never_a_foreign_directory(tmp_path):
    dest = write_bundle(bundle_entries({"a": b"1"}), tmp_path / "out")
    write_bundle(bundle_entries({"b": b"2"}), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["b", MANIFEST]
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(AppkitError):
        write_bundle(bundle_entries({"a": b"1"}), foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    z = write_bundle(bundle_entries({"a": b"1"}), tmp_path / "out.zip")
    assert z.read_bytes() == zip_bytes(bundle_entries({"a": b"1"}))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


_DIGEST_SCRIPT = """
import hashlib, sys, pathlib
from appkit.bundle.write import bundle_entries, zip_bytes, write_bundle
entries = {f"schemas/s{i}.sd": f"schema s{i} {{}}".encode() for i in range(20)} | {"models/m.onnx": bytes(range(256))}
bundle = bundle_entries(entries, None, {"models": {"m": {"inputs": {"x": "tensor<float>(d0[1])"}}}})
out = pathlib.Path(sys.argv[1])
write_bundle(bundle, out / "b")
tree = hashlib.sha256()
for p in sorted((out / "b").rglob("*")):
    st = p.stat()
    tree.update(f"{p.relative_to(out)} {st.st_mode} {int(st.st_mtime)}".encode() + (p.read_bytes() if p.is_file() else b""))
print(hashlib.sha256(zip_bytes(bundle)).hexdigest(), tree.hexdigest())
"""


def test_separate_processes_with_different_hash_seeds_write_identical_bytes(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(repo))
        run = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT, str(tmp_path / seed)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout)
    assert len(digests) == 1


def test_an_unwritable_destination_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AppkitError) as info:
        write_bundle(bundle_entries({"a": b"1"}), tmp_path / "file" / "out")
    assert info.value.diagnostics[0].code == "AK517" and "out" in info.value.diagnostics[0].message
