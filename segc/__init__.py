"""segc: a compiler for accelerator-aware convolutional networks."""

__version__ = "0.1.0"
