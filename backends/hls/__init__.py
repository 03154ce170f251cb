"""HLS C++: lowering of each layer to calls of the kernel library (``lib/``),
fixed-point formats, the memory plan, rendering of the project, the PipeCNN-
style layer table, and the C simulation.
"""
