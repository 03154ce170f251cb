"""Cross-validation of the latency-model fit (segc/calibration_cv.py): the
folds, the held-out errors (by hand, with a fit made up for the test), the
warning when the fit has as many parameters as points, determinism, and
``segc calibrate --cv`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES

from segc.calibration_cv import cross_validate, cv_table, folds
from segc.cli import main
from segc.ir import SegError, Unroll
from segc.measurements import Measurement

TABLE1 = EXAMPLES / "measurements" / "mori2022_table1.csv"


def measured(network: str, pif: int, latency: float, pof: int = 1) -> Measurement:
    return Measurement(network, Unroll(pif, pof, 1), latency, None, 0)


# latency = slope·P_if, more or less, on two networks; P_if 1 is measured on both
ROWS = [measured("/m/a.seg", 1, 2.0), measured("/m/a.seg", 2, 4.0),
        measured("/m/b.seg", 1, 3.0), measured("/m/b.seg", 4, 8.0)]


def line_through_origin(rows: list[Measurement], trained: list[list[int]] | None = None):
    """fit_predict of latency = slope·P_if by least squares: slope = Σxy / Σx²."""

    def fit_predict(train: list[int]) -> tuple[dict[str, float], list[float]]:
        if trained is not None:
            trained.append(train)
        slope = (sum(rows[i].unroll.pif * rows[i].latency_s for i in train)
                 / sum(rows[i].unroll.pif ** 2 for i in train))
        return {"slope": slope}, [slope * r.unroll.pif for r in rows]

    return fit_predict


def test_folds_by_configuration_and_by_network_in_order_of_appearance() -> None:
    assert folds(ROWS, "config") == [("1,1,1", [0, 2]), ("2,1,1", [1]), ("4,1,1", [3])]
    assert folds(ROWS, "network") == [("a.seg", [0, 1]), ("b.seg", [2, 3])]
    with pytest.raises(SegError, match="cross-validation holds out one of: config, network; got 'layer'"):
        folds(ROWS, "layer")


def test_folds_tell_pky_and_networks_of_the_same_file_name_apart() -> None:
    rows = [Measurement("/x/net.seg", Unroll(8, 8, 3, 3), 1.0, None, 2),
            Measurement("/y/net.seg", Unroll(8, 8, 3), 1.0, None, 3),
            Measurement("/x/net.seg:other", Unroll(8, 8, 3, 3), 1.0, None, 4)]
    assert folds(rows, "config") == [("8,8,3,3", [0, 2]), ("8,8,3", [1])]
    assert folds(rows, "network") == [("/x/net.seg", [0]), ("/y/net.seg", [1]), ("net.seg:other", [2])]


def test_held_out_errors_by_hand() -> None:
    trained: list[list[int]] = []
    result = cross_validate(ROWS, "config", line_through_origin(ROWS, trained), parameter_count=1)
    # fold 1,1,1: trained on rows 1, 3: slope (2·4 + 4·8) / (4 + 16) = 2; predicts 2 for rows 0 and 2
    # fold 2,1,1: trained on rows 0, 2, 3: slope (2 + 3 + 32) / 18 = 37/18; predicts 37/9 for row 1
    # fold 4,1,1: trained on rows 0, 1, 2: slope (2 + 8 + 3) / 6 = 13/6; predicts 26/3 for row 3
    assert trained == [[1, 3], [0, 2, 3], [0, 1, 2]]
    assert [f["held_out"] for f in result["folds"]] == ["1,1,1", "2,1,1", "4,1,1"]
    assert [f["train_rows"] for f in result["folds"]] == [2, 3, 3]
    assert [f["parameters"]["slope"] for f in result["folds"]] == pytest.approx([2, 37 / 18, 13 / 6])
    held = [r for f in result["folds"] for r in f["rows"]]
    assert [r["index"] for r in held] == [0, 2, 1, 3]
    assert [r["predicted_s"] for r in held] == pytest.approx([2, 2, 37 / 9, 26 / 3])
    assert [r["error"] for r in held] == pytest.approx([0, 2 / 3 - 1, 1 / 36, 1 / 12])
    assert result["per_network"] == pytest.approx({"a.seg": (0 + 1 / 36) / 2, "b.seg": (1 / 3 + 1 / 12) / 2})
    assert result["mean_abs_error"] == pytest.approx((0 + 1 / 3 + 1 / 36 + 1 / 12) / 4) == pytest.approx(1 / 9)
    first = result["folds"][0]["rows"][0]
    assert first == {"index": 0, "line": 0, "network": "a.seg", "layer": None, "unroll": [1, 1, 1, 1],
                     "measured_s": 2.0, "predicted_s": pytest.approx(2.0), "error": pytest.approx(0.0)}


def test_held_out_rows_are_never_trained_on() -> None:
    trained: list[list[int]] = []
    for mode in ("config", "network"):
        result = cross_validate(ROWS, mode, line_through_origin(ROWS, trained), 1)
        for fold, train in zip(result["folds"], trained[-len(result["folds"]):]):
            held = {r["index"] for r in fold["rows"]}
            assert held.isdisjoint(train) and sorted(held | set(train)) == [0, 1, 2, 3]


def test_a_fit_with_as_many_parameters_as_points_is_flagged() -> None:
    result = cross_validate(ROWS, "config", line_through_origin(ROWS), parameter_count=2)
    assert [f["warning"] for f in result["folds"]] == [
        "2 parameters fitted to 2 points: the fit can pass through every training point; its held-out error is "
        "the only figure to trust", None, None]
    assert cross_validate(ROWS, "config", line_through_origin(ROWS), 3)["folds"][1]["warning"].startswith(
        "3 parameters fitted to 3 points")


def test_a_fold_with_nothing_to_train_on_is_not_possible() -> None:
    rows = ROWS[:2]
    result = cross_validate(rows, "network", line_through_origin(rows), 1)
    assert result["folds"] == [{"held_out": "a.seg", "train_rows": 0, "possible": False, "parameters": None,
                                "rows": [], "warning": "not possible: holding out a.seg leaves no rows to fit on"}]
    assert result["per_network"] == {} and result["mean_abs_error"] is None
    _, _, table, notes = cv_table(result)
    assert table == [["a.seg", "", "", "0 rows", "", "", "n/a"]]
    assert notes[-1] == ("cross-validation by network is not possible here: every fold leaves no rows to fit on "
                         "(it needs at least two of what it holds out)")


def test_the_result_and_its_table_are_deterministic() -> None:
    runs = [cross_validate(ROWS, "network", line_through_origin(ROWS), 1) for _ in range(2)]
    assert json.dumps(runs[0]) == json.dumps(runs[1])
    title, headers, table, notes = cv_table(runs[0])
    assert title == "cross-validation: each network held out in turn, fitted on the other rows (2 folds)"
    assert headers == ["held out", "network", "unroll", "trained on", "measured", "predicted", "error"]
    # held out a.seg: slope (3 + 32) / 17 = 35/17 predicts 35/17 (+2.9 %) and 70/17 (+2.9 %)
    assert table[0] == ["a.seg", "a.seg", "1,1,1", "2 rows", "2", "2.059", "+2.9%"]
    assert len(table) == 4 and notes[0] == "held out a.seg: fitted slope 2.059"
    assert notes[-1].startswith("mean absolute held-out error, all folds: ")


# ---------------------------------------------------------------- the command
def test_calibrate_cross_validates_table_1_by_configuration(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(TABLE1), "--cv", "config", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cross-validation: each unroll configuration held out in turn, fitted on the other rows (4 folds)" in printed
    assert "mean absolute held-out error, resnet18.seg: " in printed
    assert "mean absolute held-out error, deeplabv3plus_r18.seg: " in printed
    cv = json.loads(out.read_text())["cv"]
    assert [f["held_out"] for f in cv["folds"]] == ["16,16,1", "16,32,1", "16,16,4", "16,32,4"]
    held = [r["index"] for f in cv["folds"] for r in f["rows"]]
    assert sorted(held) == list(range(8))  # every row held out exactly once
    for fold in cv["folds"]:  # trained on the six rows of the other configurations
        assert fold["possible"] and fold["train_rows"] == 6 and len(fold["rows"]) == 2
        assert {",".join(str(v) for v in r["unroll"][:3]) for r in fold["rows"]} == {fold["held_out"]}
    assert list(cv["per_network"]) == ["resnet18.seg", "deeplabv3plus_r18.seg"]
    assert cv["mean_abs_error"] >= 0


def test_calibrate_cross_validates_by_network_with_one_network_only(tmp_path: Path, capsys) -> None:
    (tmp_path / "m.csv").write_text(f"network,pif,pof,pkx,latency_s\n{EXAMPLES / 'tiny.seg'},4,4,1,0.01\n"
                                    f"{EXAMPLES / 'tiny.seg'},8,4,1,0.005\n")
    assert main(["calibrate", str(tmp_path / "m.csv"), "--cv", "network"]) == 0
    assert "cross-validation by network is not possible here" in capsys.readouterr().out
