"""Deployment: the local versioned store of bundles and the Vespa config-server client."""

from appkit.deploy.store import StoreError, VersionInfo, VersionStore, default_store_root, publish_bundle

__all__ = ["StoreError", "VersionInfo", "VersionStore", "default_store_root", "publish_bundle"]
