"""Hypothesis strategies that edit a segc JSON graph with knowledge of its
structure: keys deleted, list items duplicated, values retyped, numbers
made huge, negative or NaN-like, strings swapped for hostile names or other
layers' names; and the serialized bytes truncated or corrupted.

Not a test module: imported by ``test_fuzz_json`` and the fuzz campaign.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from conftest import EXAMPLES
from fuzz_checks import run_cli
from hostile_names import HOSTILE
from hypothesis import note
from hypothesis import strategies as st

Where = tuple  # keys and indices from the document's root to a value

ODD_VALUES = (None, True, False, [], {}, "", "x", 0, 1.5, [1, 2], {"a": 1}, "stem.conv")
EXTREME_NUMBERS = (0, -1, -0.0, 1e-300, 2**31, 2**62 + 1, 2**63, 10**30, -(10**30), 10**400, 1e308,
                   float("nan"), float("inf"), float("-inf"), "NaN", "1e999", "-1", "Infinity", "0x10")
NUMBER_TOKENS = ("9" * 5000, "1e999", "-1e999", "NaN", "-Infinity", "00", "1.", ".5", "1e")


def value_paths(data: Any, path: Where = ()) -> list[Where]:
    """Every value's path, the root's excepted, in document order."""
    found = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found.append((*path, key))
        found.extend(value_paths(value, (*path, key)))
    return found


def _parent(data: Any, path: Where) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def _pick(draw, data: Any, keep=lambda value: True) -> Where | None:
    paths = [p for p in value_paths(data) if keep(_parent(data, p)[p[-1]])]
    return draw(st.sampled_from(paths)) if paths else None


def delete_value(draw, data: Any) -> None:
    path = _pick(draw, data)
    if path is not None:
        del _parent(data, path)[path[-1]]


def duplicate_item(draw, data: Any) -> None:
    path = _pick(draw, data)
    if path is not None and isinstance(_parent(data, path), list):
        parent = _parent(data, path)
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))


def retype_value(draw, data: Any) -> None:
    path = _pick(draw, data)
    if path is not None:
        _parent(data, path)[path[-1]] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


def extreme_number(draw, data: Any) -> None:
    path = _pick(draw, data, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    if path is not None:
        _parent(data, path)[path[-1]] = draw(st.sampled_from(EXTREME_NUMBERS))


def hostile_string(draw, data: Any) -> None:
    """A string (a name, an op, a padding mode ...) made hostile or another's."""
    strings = [s for s in (_parent(data, p)[p[-1]] for p in value_paths(data)) if isinstance(s, str)]
    path = _pick(draw, data, lambda v: isinstance(v, str))
    if path is not None:
        _parent(data, path)[path[-1]] = draw(st.sampled_from(HOSTILE + tuple(strings)))


MUTATIONS = (delete_value, duplicate_item, retype_value, extreme_number, hostile_string)


def _corrupt_bytes(draw, data: bytes) -> bytes:
    """The text truncated, a byte overwritten, or a number token replaced."""
    at = draw(st.integers(0, len(data)))
    choice = draw(st.sampled_from(["truncate", "byte", "number"]))
    if choice == "truncate":
        return data[:at]
    if choice == "byte":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    digit = data.find(b": ", at)
    if digit < 0:
        return data
    end = min((i for i in (data.find(b",", digit), data.find(b"\n", digit)) if i >= 0), default=len(data))
    return data[:digit + 2] + draw(st.sampled_from(NUMBER_TOKENS)).encode() + data[end:]


@st.composite
def mutated_json(draw, data: dict) -> bytes:
    """The document after one to three structural edits, serialized (NaN
    and Infinity as JavaScript writes them), its bytes sometimes corrupted."""
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from(MUTATIONS))(draw, data)
    text = json.dumps(data, indent=1).encode()
    if draw(st.integers(0, 3)) == 0:
        text = _corrupt_bytes(draw, text)
    note(f"mutated JSON:\n{text[:4000]!r}")
    return text


PRUNED_TINY = (EXAMPLES / "tiny.seg").read_text(encoding="utf-8") + "\nprune tiny {\n    stem.conv: 0.5\n}\n"
# name: (file, --network): graphs with a target, prune directives, deform directives.
SOURCES = {"tiny": ("tiny.seg", None), "pruned_tiny": ("pruned_tiny.seg", None),
           "tiny_seg": ("tiny_seg.seg", None), "codenet_square": ("codenet_layer.seg", "full_square")}


def source_graphs(folder: Path) -> dict[str, dict]:
    """The JSON graphs to mutate: ``segc export --to json`` of SOURCES, written in ``folder``."""
    (folder / "pruned_tiny.seg").write_text(PRUNED_TINY.replace('"targets/', f'"{EXAMPLES}/targets/'), "utf-8")
    graphs = {}
    for key, (name, network) in SOURCES.items():
        output = folder / f"{key}.json"
        source = folder / name if key == "pruned_tiny" else EXAMPLES / name
        code, _, err = run_cli(["export", str(source), *(["--network", network] if network else []),
                                "--to", "json", "-o", str(output)])
        assert code == 0, err
        graphs[key] = json.loads(output.read_text(encoding="utf-8"))
    return graphs
