"""Reports: latency tables (terminal, JSON, Markdown, CSV), plots, the self-
contained HTML page, graph pictures and DOT.
"""
