"""The application package: loading its files into one typed model (schemas, services.xml, profiles...).

`parse_schema` and `parse_profile` are importable from here; they load lazily so that importing this
package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["parse_schema", "parse_profile"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from appkit.package import sdparse

        return getattr(sdparse, name)
    raise AttributeError(f"module 'appkit.package' has no attribute {name!r}")
