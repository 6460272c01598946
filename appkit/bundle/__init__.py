"""Bundles: the compiled, deployable form of an application package (see write.py for the format)."""

from appkit.bundle.write import (
    MANIFEST,
    bundle_entries,
    canonical_json,
    read_bundle,
    source_hash,
    verify_bundle,
    write_bundle,
    zip_bytes,
)

__all__ = ["MANIFEST", "bundle_entries", "canonical_json", "read_bundle", "source_hash", "verify_bundle",
           "write_bundle", "zip_bytes"]
