"""Backends: render decisions already in the IR as artifacts."""
