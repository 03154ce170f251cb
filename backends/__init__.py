"""Backends: render decisions already in the IR as artifacts.

- ``torch``: generated PyTorch source, the live module, deformable kernels,
  offset statistics of a trained model;
- ``onnx``: export, import and the import op table;
- ``hls``: lowering to the C++ kernel library (``hls/lib``), rendering, the
  memory plan, fixed-point formats, the PipeCNN-style layer table and the C
  simulation;
- ``report``: latency tables, plots, the HTML page, graph pictures and DOT.
"""
