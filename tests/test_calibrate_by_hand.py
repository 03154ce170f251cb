"""The physical calibration (passes/calibrate.py) by hand: the normalised
parameters and their bounds, the features of cost annotations, the time of a
measurement (smooth and not), the Jacobian, the moved and unused parameters,
the fit's self-diagnosis (bounds, warnings, rms, confounded groups), and fits
on data generated here from known parameters."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.optimize

from segc.ir import ElementwiseUnit, SegError, Target, Unroll
from segc.passes import calibrate
from segc.passes.calibrate import Features, bounds, features, fit
from segc.passes.cost import Calibration

# clock 1 kHz: a cycle is a millisecond; peak 1 GB/s
TARGET = Target(name="t", clock_hz=1e3, bandwidth=1e9, dsp=64, bram=64, bram_block_bits=1024,
                input_buffer_bits=1024, word_bits=16, unroll=Unroll(1, 1, 1), macs_per_dsp=1)
UNIT = dataclasses.replace(TARGET, elementwise=ElementwiseUnit(4.0))


def one_layer(target: Target = TARGET, cycles=0.0, bits=0.0, invocations=0.0, stream_work=0.0) -> Features:
    zero = np.zeros(1)
    return Features(target, np.array([cycles]), np.array([stream_work]), np.array([bits]), zero, zero,
                    np.array([invocations]))


# ---- parameters: normalised values and bounds -------------------------------------------------------------

@pytest.mark.parametrize(("u", "expected"), [(0.0, 2.0), (0.25, 3.0), (0.5, 4.0), (1.0, 6.0)])
def test_linear_parameters_run_from_low_to_high(u, expected):
    assert calibrate._to_value("overlap", u, 2.0, 6.0) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("name", ["effective_bandwidth", "elementwise_width"])
@pytest.mark.parametrize(("u", "expected"), [(0.0, 1e6), (0.5, 1e7), (0.25, 10 ** 6.5), (1.0, 1e8)])
def test_rates_and_widths_run_on_a_log_scale(name, u, expected):
    assert calibrate._to_value(name, u, 1e6, 1e8) == pytest.approx(expected, rel=1e-12)


def test_bandwidth_lies_between_a_hundredth_of_the_peak_and_the_peak():
    assert bounds("effective_bandwidth", TARGET) == pytest.approx((1e7, 1e9), rel=1e-15)
    slower = dataclasses.replace(TARGET, effective_bandwidth=2e8)  # the peak, not the target's own figure
    assert bounds("effective_bandwidth", slower) == pytest.approx((1e7, 1e9), rel=1e-15)
    ported = dataclasses.replace(TARGET, port_bits=64, clock_hz=1e6)  # 8 B · 1 MHz caps the peak
    assert bounds("effective_bandwidth", ported) == pytest.approx((8e4, 8e6), rel=1e-15)
    built = "".join(["effective", "_bandwidth"])  # a name equal to, not the same object as, the literal
    assert bounds(built, TARGET) == pytest.approx((1e7, 1e9), rel=1e-15)


def test_other_bounds_are_the_physical_ranges():
    assert bounds("access_latency", TARGET) == (0.0, 1e-4)
    assert bounds("overlap", TARGET) == (0.0, 1.0)
    assert bounds("layer_overhead", TARGET) == (0.0, 0.1)
    assert bounds("elementwise_width", TARGET) == (1 / 64, 4096.0)


def test_features_and_fits_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        one_layer().cycles = np.zeros(1)
    result = calibrate.Fit(Calibration(), {}, (), (), (), 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.residual = 1.0


# ---- features of cost annotations ---------------------------------------------------------------------------

def test_a_layer_of_parts_counts_as_its_parts_each_one_convolution_invocation():
    layer = {"rule": "stream", "invocations": 5, "cycles_compute": 100, "stream_work": 9,
             "parts": {"offsets": {"cycles_compute": 3, "dram_bits": 16, "invocations": 7},
                       "sampling": {"cycles_compute": 4, "gather_bits": 8, "gather_bursts": 2, "stream_work": 6}}}
    got = features(TARGET, [layer])
    assert got.cycles.tolist() == [3.0, 4.0]
    assert got.invocations.tolist() == [1.0, 1.0]
    assert got.stream_work.tolist() == [0.0, 0.0]  # parts are convolutions: no streamed work
    assert got.bits.tolist() == [16.0, 0.0] and got.gather.tolist() == [0.0, 8.0]
    assert got.bursts.tolist() == [0.0, 2.0]


def test_streamed_work_is_kept_for_stream_rows_only_and_missing_keys_are_zero():
    rows = [{"rule": rule, "stream_work": 10, "cycles_compute": 2, "invocations": 1}
            for rule in ("conv", "free", "fused", "residual", "stream", "upsample")]
    rows[4]["rule"] = "".join(["str", "eam"])  # equal to "stream", not the same object
    got = features(TARGET, rows)
    assert got.stream_work.tolist() == [0.0, 0.0, 0.0, 0.0, 10.0, 0.0]
    assert got.bits.tolist() == [0.0] * 6 and got.gather.tolist() == [0.0] * 6


# ---- the time of a measurement ------------------------------------------------------------------------------

def test_the_elementwise_unit_takes_whole_cycles_unless_smooth():
    # a stream row of 10 taps on a 4-wide unit and a convolution of 100 cycles, at 1 ms a cycle
    row = Features(UNIT, np.array([7.0, 100.0]), np.array([10.0, 0.0]), *[np.zeros(2)] * 4)
    assert row.seconds(Calibration()) == pytest.approx((3 + 100) / 1e3, rel=1e-15)  # ⌈10 / 4⌉
    assert row.seconds(Calibration(), smooth=True) == pytest.approx((2.5 + 100) / 1e3, rel=1e-15)
    assert calibrate.predict(row, Calibration()) == pytest.approx(0.103, rel=1e-15)
    one_tap = Features(UNIT, np.array([7.0]), np.array([1.0]), *[np.zeros(1)] * 4)
    assert one_tap.seconds(Calibration()) == pytest.approx(1 / 1e3, rel=1e-15)  # ⌈1 / 4⌉, not the 7 cycles


def test_without_the_unit_streamed_layers_take_their_cycles():
    row = Features(TARGET, np.array([7.0, 100.0]), np.array([10.0, 0.0]), *[np.zeros(2)] * 4)
    assert row.seconds(Calibration()) == pytest.approx(0.107, rel=1e-15)
    assert row.seconds(Calibration(), smooth=True) == pytest.approx(0.107, rel=1e-15)


# ---- Jacobian -----------------------------------------------------------------------------------------------

def test_central_differences_are_exact_on_a_quadratic():
    def residuals(u):
        return np.array([u[0] ** 2, u[0] * u[1], 3 * u[1]])

    jac = calibrate._jacobian(residuals, np.array([0.5, 2.0]), step=0.1)
    assert jac == pytest.approx(np.array([[1.0, 0.0], [2.0, 0.5], [0.0, 3.0]]), rel=1e-12, abs=1e-12)


def test_the_default_step_is_a_ten_thousandth():
    # (u + h)³ − (u − h)³ over 2h is 3u² + h²: 0.75 + 1e-8 at u = 0.5, h = 1e-4
    jac = calibrate._jacobian(lambda u: u ** 3, np.array([0.5]))
    assert jac[0, 0] == pytest.approx(0.75 + 1e-8, abs=1e-12)


# ---- parameters that move a prediction ----------------------------------------------------------------------

def overhead(u) -> Calibration:
    return Calibration({"layer_overhead": 0.1 * u[0]})


@pytest.mark.parametrize(("seconds", "invocations", "moves"), [
    (50.0, 1, True),  # 50 s → 50.1 s: 0.2 %
    (125.0, 1, False),  # 125 s → 125.1 s: 0.08 %
    (999.0, 10, False),  # 999 s → 1000 s: exactly 0.1 % of the larger, not more
])
def test_a_parameter_moves_when_some_prediction_changes_by_more_than_a_thousandth(seconds, invocations, moves):
    row = one_layer(cycles=seconds * 1e3, invocations=invocations)
    assert calibrate._moves([(row, 1.0)], overhead, np.array([0.5]), 0) is moves


def test_the_thousandth_is_of_the_larger_end_also_when_the_time_falls():
    # φ from 0 to 1 on c = 999 s, m = 1 s: 1000 s → 999 s, exactly 0.1 % of 1000 s
    row = one_layer(cycles=999e3, bits=8e9)
    assert calibrate._moves([(row, 1.0)], lambda u: Calibration({"overlap": u[0]}), np.array([0.5]), 0) is False


def test_moves_looks_at_the_smooth_elementwise_time():
    # one tap: 1 cycle at width 1, ½ at width 2 — whole cycles would not change
    row = one_layer(UNIT, stream_work=1.0)
    assert math.ceil(1 / 1.0) == math.ceil(1 / 2.0) == 1
    assert calibrate._moves([(row, 1.0)], lambda u: Calibration({"elementwise_width": 1.0 + u[0]}),
                            np.array([0.0, 0.5]), 0) is True


# ---- the fit's self-diagnosis -------------------------------------------------------------------------------

def diagnose(x, points=10, fun=(0.0,)):
    names = tuple("abcdefg"[:len(x)])
    result = SimpleNamespace(x=np.array(x), fun=np.array(fun))
    return calibrate._diagnose(result, names, points, Calibration(), (), [])


def test_parameters_within_a_millionth_of_a_bound_are_at_it():
    # the largest float below 1 that is within 1e-6 of 1, and the one beyond it
    edge = np.nextafter(1 - 1e-6, 1.0)
    assert 1 - edge <= 1e-6 < 1 - np.nextafter(edge, 0.0)
    got = diagnose([1e-6, 5e-7, edge, 1 - 5e-7, 2e-6, np.nextafter(edge, 0.0), 0.5])
    assert got.at_bound == {"a": "lower", "b": "lower", "c": "upper", "d": "upper"}


def test_as_many_parameters_as_points_warns():
    message = ("{} parameters fitted to {} points: the fit can pass through every point; "
               "only held-out errors mean anything")
    assert diagnose([0.5, 0.5], points=2).warnings == (message.format(2, 2),)
    assert diagnose([0.5, 0.5, 0.5], points=2).warnings == (message.format(3, 2),)
    assert diagnose([0.5, 0.5], points=3).warnings == ()


def test_the_residual_is_the_root_mean_square_of_the_relative_errors():
    assert diagnose([0.5], fun=(0.3, -0.4)).residual == pytest.approx(math.sqrt((0.09 + 0.16) / 2), rel=1e-15)


# ---- confounded parameters ----------------------------------------------------------------------------------

def confounded(jac, names="abc", unused=()):
    jac = np.array(jac, dtype=float)
    return calibrate._confounded(jac, tuple(names[:jac.shape[1]]), unused)


def test_proportional_columns_are_confounded_orthogonal_ones_are_not():
    assert confounded([[1, 2], [2, 4], [3, 6]]) == (("a", "b"),)
    assert confounded([[1, 0], [0, 1], [0, 0]]) == ()
    assert confounded([[1, 0.5], [0, math.sqrt(3) / 2]]) == ()  # 60° apart


def test_unused_parameters_are_left_out():
    assert confounded([[1, 2, 3], [2, 4, 6]], unused=("c",)) == (("a", "b"),)
    assert confounded([[1, 2], [2, 4]], unused=("b",)) == ()
    assert confounded([[1, 2], [2, 4]], unused=("a", "b")) == ()


def test_a_zero_column_gives_nothing():
    assert confounded([[1, 0], [2, 0]]) == ()


def test_fewer_rows_than_parameters_leave_null_directions():
    assert confounded([[1, 1]]) == (("a", "b"),)  # one row, two parameters: (1, −1)/√2
    assert confounded([[1, 0, 0], [0, 1, 1]]) == (("b", "c"),)
    # five parameters, three rows: a ∥ b and c ∥ d, two null directions
    jac = [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]]
    assert len(calibrate._confounded(np.array(jac, dtype=float), tuple("abcde"), ())) == 2


@pytest.mark.parametrize(("smallest", "grouped"), [(1.2e-6, True), (1.6e-6, False)])
def test_near_proportional_columns_within_a_millionth_of_the_largest_singular_value(smallest, grouped):
    # unit columns (1, 0) and (cos t, sin t): singular values √2·cos(t/2) and √2·sin(t/2)
    t = 2 * math.asin(smallest / math.sqrt(2))
    largest = math.sqrt(2) * math.cos(t / 2)
    assert (smallest <= 1e-6 * largest) is grouped
    assert confounded([[1, math.cos(t)], [0, math.sin(t)]]) == ((("a", "b"),) if grouped else ())


def test_thresholds_of_a_group_exactly(monkeypatch):
    """A direction at exactly 1e-6 of the largest singular value is near-null; a member has a component
    above 0.1 (0.1 itself is not); a group has more than one member."""
    vt = np.array([[0.6, 0.8, 0.0], [1.0, 0.0, 0.0], [0.1, 0.6, 0.8]])
    monkeypatch.setattr(np.linalg, "svd", lambda m, full_matrices: (None, np.array([1.0, 1e-6, 1e-6]), vt))
    assert confounded(np.eye(3)) == (("b", "c"),)


# ---- fits ---------------------------------------------------------------------------------------------------

FIT_TARGET = dataclasses.replace(TARGET, clock_hz=1e9, bandwidth=1e10)
ROWS = [(2e6, 1.6e7, 1), (1e6, 6.4e7, 2), (4e6, 3.2e7, 1), (5e5, 1.6e6, 3), (3e6, 4.8e7, 1), (1e6, 1.6e7, 4)]
THREE = ("overlap", "effective_bandwidth", "layer_overhead")


def measured(truth: dict, rows=ROWS, target=FIT_TARGET) -> list[tuple[Features, float]]:
    """One-layer measurements (cycles, DRAM bits, invocations) timed by hand:
    max(c, m) + (1 − φ)·min(c, m) + invocations · overhead."""
    data = []
    for cycles, bits, invocations in rows:
        c, m = cycles / target.clock_hz, bits / 8 / truth["effective_bandwidth"]
        seconds = max(c, m) + (1 - truth["overlap"]) * min(c, m) + invocations * truth["layer_overhead"]
        data.append((one_layer(target, cycles, bits, invocations), seconds))
    return data


def test_a_fit_recovers_the_parameters_the_data_were_made_with():
    truth = {"overlap": 0.5, "effective_bandwidth": 2e9, "layer_overhead": 1e-3}
    got = fit(measured(truth), THREE, "test")
    assert got.calibration.values == pytest.approx(truth, rel=1e-5)
    assert got.calibration.source == "test"
    assert got.at_bound == {} and got.unused == () and got.warnings == () and got.residual < 1e-8


@pytest.mark.parametrize(("overlap", "overhead", "at_bound"), [
    (0.5, 0.0, {"layer_overhead": "lower"}),  # on the bound
    (0.5, -1e-5, {"layer_overhead": "lower"}),  # beyond it: the data ask for a negative overhead
    (1.2, 1e-3, {"overlap": "upper"}),  # the data ask for φ > 1
])
def test_parameters_on_or_beyond_a_bound_end_exactly_on_it(overlap, overhead, at_bound):
    got = fit(measured({"overlap": overlap, "effective_bandwidth": 2e9, "layer_overhead": overhead}), THREE, "t")
    assert got.at_bound == at_bound
    ends = {"layer_overhead": 0.0, "overlap": 1.0}
    assert {name: got.calibration.values[name] for name in at_bound} == {name: ends[name] for name in at_bound}
    # the residual is that of the calibration on the bound, not of one beyond it
    data = measured({"overlap": overlap, "effective_bandwidth": 2e9, "layer_overhead": overhead})
    predicted = measured(got.calibration.values)
    errors = [p / y - 1 for (_, p), (_, y) in zip(predicted, data)]
    assert got.residual == pytest.approx(math.sqrt(sum(e * e for e in errors) / len(errors)), rel=1e-3, abs=1e-4)


def test_the_first_rows_target_gives_the_bounds():
    slow, fast = dataclasses.replace(FIT_TARGET, bandwidth=1e9), dataclasses.replace(FIT_TARGET, bandwidth=4e9)
    truth = {"overlap": 1.0, "effective_bandwidth": 2e9, "layer_overhead": 0.0}
    data = measured(truth, ROWS[:3], slow) + measured(truth, ROWS[3:], fast)
    got = fit(data, ("effective_bandwidth",), "t")
    assert got.calibration.values["effective_bandwidth"] == pytest.approx(1e9, rel=1e-12)
    assert got.at_bound == {"effective_bandwidth": "upper"}


def fake_least_squares(monkeypatch, outcome):
    """least_squares answering outcome(start) -> (x, cost, status)."""
    def solve(residuals, start, **options):
        x, cost, status = outcome(tuple(start))
        return SimpleNamespace(x=np.array(x, dtype=float), cost=cost, status=status, jac=np.zeros((2, len(start))),
                               fun=np.zeros(2))
    monkeypatch.setattr(scipy.optimize, "least_squares", solve)


@pytest.mark.parametrize(("x", "expected"), [(1e-6, 0.0), (5e-7, 0.0), (2e-6, 2e-6),
                                             (1 - 1e-6, 1.0), (1 - 5e-7, 1.0), (1 - 2e-6, 1 - 2e-6)])
def test_the_fit_snaps_within_a_millionth_of_a_bound(monkeypatch, x, expected):
    fake_least_squares(monkeypatch, lambda start: ([x], 0.0, 1))
    got = fit(measured({"overlap": 0.5, "effective_bandwidth": 2e9, "layer_overhead": 0.0}, ROWS[:2]),
              ("overlap",), "t")
    assert got.calibration.values["overlap"] == expected


def test_the_best_start_wins_and_the_first_of_a_tie(monkeypatch):
    costs = {(0.2, 0.2): 1.0, (0.2, 0.8): 0.5, (0.8, 0.2): 0.75, (0.8, 0.8): 0.5 - 1e-15}
    fake_least_squares(monkeypatch, lambda start: (start, costs[start], 1))
    got = fit(measured({"overlap": 0.5, "effective_bandwidth": 2e9, "layer_overhead": 0.0}, ROWS[:2]),
              ("overlap", "layer_overhead"), "t")
    assert got.calibration.values == pytest.approx({"overlap": 0.2, "layer_overhead": 0.08}, rel=1e-12)


def test_a_failed_start_does_not_count(monkeypatch):
    fake_least_squares(monkeypatch, lambda start: (start, 0.0, -1))  # MINPACK: improper input
    with pytest.raises(SegError, match="the calibration fit of overlap did not converge"):
        fit(measured({"overlap": 0.5, "effective_bandwidth": 2e9, "layer_overhead": 0.0}, ROWS[:2]),
            ("overlap",), "t")


def test_confounding_is_also_looked_for_at_the_middle_of_the_bounds(monkeypatch):
    seen = []
    jacobian = calibrate._jacobian
    monkeypatch.setattr(calibrate, "_jacobian", lambda residuals, u: seen.append(u.tolist()) or jacobian(residuals, u))
    fit(measured({"overlap": 0.5, "effective_bandwidth": 2e9, "layer_overhead": 1e-3}), THREE, "t")
    assert seen == [[0.5, 0.5, 0.5]]
