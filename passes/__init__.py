"""Compiler passes over the graph IR."""
