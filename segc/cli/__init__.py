"""The ``segc`` command line: ``main`` (in ``app``) parses and dispatches; one module per
command group (``hardware``, ``train``, ``prune``, ``search``, ``hls``,
``deform``), shared options in ``common``, terminal tables in ``table``."""

from .app import main

__all__ = ["main"]
