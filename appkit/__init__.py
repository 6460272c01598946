"""appkit: parse, validate, import models into, compile and deploy Vespa application packages."""

__version__ = "0.1.0"
