"""ir/record.py: the read-only mapping the ``cost`` annotation is kept in."""

import json
import pickle

import pytest

from segc.ir.record import Record, plain


def test_reads_like_the_dict_it_was_made_from():
    record = Record({"rule": "conv", "macs": 7, "tile": [2, 3]})
    assert record["rule"] == "conv" and record["macs"] == 7 and record["tile"] == [2, 3]
    assert record.get("tile") == [2, 3] and record.get("parts") is None and record.get("parts", 0) == 0
    assert "macs" in record and "parts" not in record
    assert list(record) == ["rule", "macs", "tile"]
    assert list(record.items()) == [("rule", "conv"), ("macs", 7), ("tile", [2, 3])]
    assert len(record) == 3
    assert {**record, "x": 1} == {"rule": "conv", "macs": 7, "tile": [2, 3], "x": 1}
    with pytest.raises(KeyError):
        record["parts"]


def test_equal_to_a_dict_of_the_same_items_in_any_order():
    assert Record({"a": 1, "b": 2}) == {"b": 2, "a": 1}
    assert Record({"a": 1, "b": 2}) != {"a": 1, "b": 3}
    assert Record({"a": 1}) != {"a": 1, "b": 2}


def test_keys_in_order_per_record():
    first, second = Record({"a": 1, "b": 2}), Record({"b": 3, "a": 4})
    assert list(first) == ["a", "b"] and list(second) == ["b", "a"]
    assert second["a"] == 4 and second["b"] == 3


def test_read_only():
    record = Record({"a": 1})
    with pytest.raises(TypeError):
        record["a"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        record.extra = 1  # type: ignore[attr-defined]


def test_json_through_plain_keeps_the_key_order():
    record = Record({"z": 1, "a": [1, 2], "m": {"dsp": 3}})
    assert json.dumps(plain(record)) == '{"z": 1, "a": [1, 2], "m": {"dsp": 3}}'
    assert plain(5) == 5 and plain({"a": 1}) == {"a": 1}


def test_pickles():
    record = Record({"rule": "stream", "latency_s": 1.5e-6})
    again = pickle.loads(pickle.dumps(record))
    assert again == record and list(again) == ["rule", "latency_s"] and isinstance(again, Record)
