"""Hostile and careless option values: out-of-range numbers, NaN and
infinity (which ``float()`` parses), extreme seeds and scheduler addresses
are command-line mistakes (exit 2); NaN or infinite measurements are input
mistakes at file:line:column (exit 1); no JSON segc writes holds NaN or
Infinity; a fine-tuning run that diverges stops with the last good weights
(exit 1)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc import search_workers
from segc.cli import main
from segc.cli.common import json_text
from segc.ir import SegError

TINY = str(EXAMPLES / "tiny_seg.seg")
SMALL_SEG = """network seg {
    input x: [3, 16, 16]
    output y = x -> conv(8, k=3) -> bn -> relu -> conv(4, k=1, bias=true)
}
"""

# (command line before FILE, the option's values that must be refused)
REFUSED = [
    (["export", "--to", "onnx", "-o", "x.onnx"], "--seed", ["-1", "4294967296", str(2**63), str(2**64), "1" * 40,
                                                           "1.5", "nan"]),
    (["prune", "-o", "x.seg"], "--seed", ["-1", "4294967296"]),
    (["search", "-o", "out"], "--seed", ["-1", str(2**63)]),
    (["finetune", "--data", "synthetic", "-o", "w.safetensors"], "--seed", ["-1", "4294967296"]),
    (["hls-sim"], "--seed", ["-5", "4294967296"]),
    (["offsets"], "--seed", ["-1", "4294967296"]),
    (["search", "-o", "out"], "--pop", ["1", "0", "-3", "nan"]),
    (["search", "-o", "out"], "--gen", ["0", "-1"]),
    (["search", "-o", "out"], "--samples", ["0"]),
    (["search", "-o", "out"], "--workers", ["-1"]),
    (["search", "-o", "out"], "--export", ["-1"]),
    (["search", "-o", "out"], "--scheduler", ["nonsense", "tcp://host", "tcp://host:0", "tcp://host:65536",
                                              "tcp://a b:80", "tcp://host:80/path", "ftp://host:21"]),
    (["finetune", "--data", "synthetic", "-o", "w.safetensors"], "--epochs", ["0", "-2"]),
    (["finetune", "--data", "synthetic", "-o", "w.safetensors"], "--lr", ["0", "-0.1", "nan", "inf", "-inf", "x"]),
    (["finetune", "--data", "synthetic", "-o", "w.safetensors"], "--batch-size", ["0"]),
    (["evaluate", "--data", "synthetic", "--weights", "w.pt"], "--batch-size", ["0", "-1"]),
    (["offsets"], "--percentile", ["0", "-1", "100.5", "120", "nan", "inf"]),
    (["export", "--to", "hls", "-o", "out"], "--headroom", ["-1", "16"]),
    (["hls-sim"], "--headroom", ["99"]),
]
CASES = [(command, option, value) for command, option, values in REFUSED for value in values]


@pytest.mark.parametrize("command, option, value", CASES, ids=[f"{c[0]} {o} {v}" for c, o, v in CASES])
def test_out_of_range_option_is_a_usage_error(command, option, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([command[0], TINY, *command[1:], f"{option}={value}"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"error: argument {option}: expected" in err or "scheduler address" in err, err
    assert f"'{value}'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, option, value, expected", [
    (["search", "-o", "out"], "--scheduler", "tcp://10.0.0.1:8786", "tcp://10.0.0.1:8786"),
    (["search", "-o", "out"], "--scheduler", "[::1]:8786", "[::1]:8786"),
    (["search", "-o", "out"], "--pop", "2", 2),
    (["search", "-o", "out"], "--workers", "0", 0),
    (["offsets"], "--percentile", "100", 100.0),
    (["offsets"], "--percentile", "0.001", 0.001),
    (["offsets"], "--seed", "4294967295", 4294967295),
    (["export", "--to", "hls", "-o", "out"], "--headroom", "15", 15),
    (["finetune", "--data", "synthetic", "-o", "w.safetensors"], "--lr", "1e-9", 1e-9),
])
def test_range_limits_themselves_parse(command, option, value, expected):
    """The edges of each range are accepted (the parser is all that runs)."""
    from segc.cli.app import _parser

    args = _parser().parse_args([command[0], TINY, *command[1:], f"{option}={value}"])
    assert getattr(args, option.lstrip("-")) == expected


def test_largest_seed_runs(tmp_path):
    """2^32 - 1 is the largest seed, and every generator takes it."""
    out = tmp_path / "m.onnx"
    assert main(["export", TINY, "--to", "onnx", "--seed", str(2**32 - 1), "-o", str(out)]) == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64, 1.0, True, "3"])
def test_api_refuses_seeds_out_of_range(seed):
    net = segc.load(TINY)
    for verb in (lambda: net.to_onnx(seed=seed), lambda: net.prune(0.5, seed=seed),
                 lambda: net.search(pop=2, gen=1, seed=seed)):
        with pytest.raises(SegError, match="a seed must be an integer from 0 to 4294967295"):
            verb()


def test_api_accepts_numpy_integer_seeds():
    assert segc.load(TINY).prune(0.5, seed=np.int64(7)).network is not None


# ---------------------------------------------------------------- calibrate
@pytest.fixture
def measured(tmp_path: Path):
    """Write a measurements CSV (one row per latency) next to a copy of tiny.seg."""
    (tmp_path / "targets").mkdir()
    (tmp_path / "tiny.seg").write_text((EXAMPLES / "tiny.seg").read_text())
    (tmp_path / "targets" / "ultra96.seg").write_text((EXAMPLES / "targets" / "ultra96.seg").read_text())

    def write(*latencies: str) -> Path:
        rows = "".join(f"tiny.seg,{4 * (i + 1)},4,1,{latency}\n" for i, latency in enumerate(latencies))
        path = tmp_path / "m.csv"
        path.write_text("network,pif,pof,pkx,latency_s\n" + rows)
        return path

    return write


@pytest.mark.parametrize("latency", ["nan", "NaN", "inf", "-inf", "1e999", "0", "-0.5"])
def test_calibrate_refuses_non_finite_and_non_positive_latency(latency, measured, capsys):
    path = measured("0.01", latency)
    assert main(["calibrate", str(path), "-o", str(path.with_suffix(".json"))]) == 1
    err = capsys.readouterr().err
    # line 3 is "tiny.seg,8,4,1,LATENCY": the latency starts at character 16
    assert err.startswith(f"{path}:3:16: error: column 'latency_s': expected a positive finite number, "
                          f"got '{latency}'"), err
    assert "^" * len(latency) in err and "Traceback" not in err
    assert not path.with_suffix(".json").exists()


def test_calibration_file_is_standard_json(measured, capsys):
    path = measured("0.01", "0.005")
    out = path.with_suffix(".json")
    assert main(["calibrate", str(path), "-o", str(out)]) == 0

    def refuse(constant: str):
        raise AssertionError(f"non-standard JSON constant {constant}")

    json.loads(out.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_of_a_non_finite_figure_is_a_clear_error(value):
    with pytest.raises(SegError, match="not a finite number"):
        json_text({"figures": [1.0, value]})


def test_library_json_writers_refuse_non_finite_numbers():
    """The graph and report writers never write NaN (json's allow_nan=False)."""
    from segc.backends.report.tables import to_json as report_json

    with pytest.raises(ValueError, match="JSON compliant"):
        report_json({"latency_s": float("nan")})


# ---------------------------------------------------------------- finetune
def test_finetune_that_diverges_stops_with_the_last_good_weights(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    out = tmp_path / "w.safetensors"  # with this learning rate, the weights blow up before the loss does
    code = main(["finetune", TINY, "--data", "synthetic:8", "--batch-size", "2", "--lr", "1e9", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "fine-tuning diverged" in err and "epoch 1, step " in err and "--lr" in err and "1e+09" in err
    assert f"are in {out}" in err
    weights = load_file(str(out))
    assert weights and all(np.isfinite(v).all() for v in weights.values())
    net = segc.load(TINY)
    module = net.to_torch(str(out))
    with torch.no_grad():
        assert torch.isfinite(module(torch.randn(2, *net.inputs[0].shape))).all()


def test_finetune_api_raises_diverged_and_keeps_finite_weights():
    torch = pytest.importorskip("torch")
    from segc.train.data import open_dataset
    from segc.train.finetune import Diverged, finetune

    net = segc.loads(SMALL_SEG)
    module = net.to_torch()
    dataset = open_dataset("synthetic:8", "train", "segmentation", 4, net.inputs[0].shape)
    with pytest.raises(Diverged) as diverged:
        finetune(module, dataset, epochs=2, lr=1e9, batch_size=2)
    assert isinstance(diverged.value, SegError) and "fine-tuning diverged" in diverged.value.message
    assert all(torch.isfinite(v).all() for v in module.state_dict().values() if v.is_floating_point())


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), 0.0, -1.0])
def test_finetune_api_refuses_non_finite_learning_rates(lr):
    pytest.importorskip("torch")
    from segc.train.finetune import finetune

    with pytest.raises(SegError, match="positive finite learning rate"):
        finetune(segc.loads(SMALL_SEG).to_torch(), [], epochs=1, lr=lr)


# ---------------------------------------------------------------- Dask scheduler
@pytest.fixture
def server():
    """A local TCP server that answers each connection with ``reply`` bytes
    (None: reads and never answers); yields its tcp:// address."""
    def start(reply: bytes | None) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        opened.append(listener)

        def serve() -> None:
            try:
                while True:
                    conn, _ = listener.accept()
                    opened.append(conn)
                    if reply is not None:
                        conn.sendall(reply)
            except OSError:
                return

        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{listener.getsockname()[1]}"

    opened: list[socket.socket] = []
    yield start
    for item in opened:
        item.close()


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4, "answered, but not as a Dask scheduler"),
    (None, "cannot reach the Dask scheduler at 'tcp://127.0.0.1:"),
])
def test_scheduler_that_is_not_dask_is_a_clear_error(server, reply, message, monkeypatch):
    monkeypatch.setattr(search_workers, "CONNECT_SECONDS", 1)
    with pytest.raises(SegError, match=message):
        search_workers._dask_client(server(reply))


def test_api_checks_the_scheduler_address_before_connecting():
    with pytest.raises(SegError, match=r"scheduler address is .*HOST:PORT"):
        search_workers._dask_client("nonsense")
