"""What the public API's verbs return: plain data with a few conveniences.

- :class:`Report` — the latency report (``segc.report`` JSON) as rows a
  ``pandas.DataFrame`` takes (``pd.DataFrame(report.rows)``), totals, and
  its renderings (JSON, Markdown, CSV, the HTML page);
- :class:`Pruned` — a pruned network with its weights, the rate and kept
  channels of every channel group, MACs and parameters before and after;
- :class:`Front` — the Pareto front of a pruning search as points, the
  unpruned baseline, and the search's whole ``segc.pareto`` document.

In a notebook a report and a front display themselves (``_repr_html_``).
Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: the network module builds on this one
    from .network import Network

__all__ = ["Front", "Pruned", "Report"]


@dataclass(frozen=True)
class Report:
    """A latency report.  ``data`` is the ``segc.report`` document; ``rows``
    one plain dict per layer; ``totals`` the network's sums."""

    data: dict[str, Any]
    network: Network | None = field(default=None, repr=False, compare=False)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["layers"]

    @property
    def totals(self) -> dict[str, Any]:
        return self.data["totals"]

    @property
    def latency_s(self) -> float:
        return self.data["totals"]["latency_s"]

    def __repr__(self) -> str:
        return (f"<Report {self.data['network']} on {self.data['target']['name']}: {len(self.rows)} layers, "
                f"{self.latency_s * 1e3:.4g} ms>")

    def to_json(self) -> str:
        from .backends.report.tables import to_json

        return to_json(self.data)

    def to_markdown(self) -> str:
        from .backends.report.tables import to_markdown

        return to_markdown(self.data)

    def to_csv(self) -> str:
        from .backends.report.tables import to_csv

        return to_csv(self.data)

    def to_html(self) -> str:
        """The self-contained page of ``segc report --format html``."""
        from .backends.report.html import report_page

        picture = self.network.picture("svg").decode() if self.network is not None else None
        return report_page(self.data, picture)

    def _repr_html_(self) -> str:
        from .backends.report.html import report_fragment

        picture = self.network.picture("svg").decode() if self.network is not None else None
        return report_fragment(self.data, picture)


@dataclass(frozen=True)
class Pruned:
    """A pruned network (with its pruned weights in ``network.weights``)."""

    network: Network
    rates: dict[str, float]  # channel group → rate
    kept: dict[str, int]  # channel group → channels kept
    channels: dict[str, int]  # channel group → channels before
    before: dict[str, int]  # {"macs", "params"} of the network pruned
    after: dict[str, int]

    def __repr__(self) -> str:
        return (f"<Pruned {self.network.name}: MACs {self.before['macs']:,} → {self.after['macs']:,}, "
                f"parameters {self.before['params']:,} → {self.after['params']:,}>")

    @property
    def weights(self) -> dict:
        return self.network.weights or {}


@dataclass(frozen=True)
class Front:
    """The Pareto front of a pruning search.  ``points``: one dict per front
    point (accuracy, latency_s, ops, cost, speedup, group_rates,
    layer_rates); ``baseline``: the unpruned network's figures (or None,
    when rate 0 was not searched); ``baseline_latency_s``: its latency,
    which every point's ``speedup`` divides by the point's."""

    document: dict[str, Any]
    network: Network = field(repr=False, compare=False)
    calibration: Any = field(default=None, repr=False, compare=False)  # the search's passes.cost.Calibration

    @property
    def points(self) -> list[dict[str, Any]]:
        return self.document["front"]

    @property
    def baseline(self) -> dict[str, Any] | None:
        return self.document["baseline"]

    @property
    def baseline_latency_s(self) -> float:
        return self.document["baseline_latency_s"]

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        doc = self.document
        return f"<Front of {doc['network']}: {len(doc['front'])} points, objective {doc['objective']}>"

    def export(self, index: int) -> Network:
        """Front point ``index`` as a pruned network with its weights."""
        from .api import loads, weight_arrays
        from .pruning_search import export_point

        arrays = self.network.weights or weight_arrays(self.network, None, self.document["seed"])
        text, weights = export_point(self.network, arrays, self.document, index)
        pruned = loads(text, f"<front point {index}>")
        return type(self.network).of(pruned, weights, self.network.source)

    def to_json(self) -> str:
        return json.dumps(self.document, indent=1, allow_nan=False) + "\n"

    def to_html(self) -> str:
        """The self-contained page ``segc search -o DIR`` writes as ``search.html``."""
        from .pruning_search import search_html

        return search_html(self.network, self.document, self.calibration)

    def _repr_html_(self) -> str:
        from .backends.report.html import front_fragment

        return front_fragment(self.document)
