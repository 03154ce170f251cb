"""The ``.seg`` front end: parsing, imports, elaboration into the graph IR,
and printing back to ``.seg``."""

from .elaborate import choose_network, elaborate, named_target
from .loader import Program, load_file, load_text
from .parser import parse_text

__all__ = ["Program", "choose_network", "elaborate", "load_file", "load_text", "named_target", "parse_text"]
