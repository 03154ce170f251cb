"""ONNX: export (checked, names = layer names), import of models made
elsewhere, and the table of ONNX ops import understands.
"""
