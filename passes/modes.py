"""Names shared by the passes and the command line (kept apart so that the
command line can list them without importing numpy)."""

TILING_MODES = ("paper", "dilation-aware", "none", "static")

# Hardware costs the pruning search can minimise (``segc search --objective``).
SEARCH_OBJECTIVES = ("latency", "ops", "dsp-latency")
