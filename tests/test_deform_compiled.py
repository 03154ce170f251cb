"""Tests of the compiled deformable kernel (``backends/torch/deform_compiled.py``,
``csrc/deform.cpp``): every layer of the deformable tests against the independent
loop reference (``deform_reference.py``) and against the pure-torch kernel, bilinear
and rounded, float32 and float64; zero offsets equal ``F.conv2d``; the choice of
kernel (argument, environment variable, module) and its fallbacks: autograd runs
the pure-torch kernel, an impossible build gives one notice and the torch result.

The tests that run the extension build it once when it is not in the cache (about
a minute; ``ninja`` is a test dependency); they skip, with the reason, when it
cannot be built (no compiler), or when SEGC_BUILD_EXTENSION=0 asks not to build it.
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from deform_reference import CONFIGS, assert_close, layer, one_thread, random_offsets, reference  # noqa: F401

from segc.backends.torch import deform as deform_module
from segc.backends.torch import deform_compiled
from segc.backends.torch.deform import DeformConv2d, deform_conv2d
from segc.ir import SegError


@pytest.fixture(scope="module")
def extension():
    if not deform_compiled.extension_cached() and os.environ.get("SEGC_BUILD_EXTENSION") == "0":
        pytest.skip("the compiled deformable kernel is not built, and SEGC_BUILD_EXTENSION=0 asks not to build it")
    built = deform_compiled.compiled_extension()
    if built is None:
        pytest.skip(f"the compiled deformable kernel cannot be built: {deform_compiled.build_failure[0]}")
    return built


def refuse(*args, **kwargs):
    raise AssertionError("the pure-torch kernel ran")


@pytest.fixture
def torch_path_forbidden(monkeypatch):
    """Fails a test whose call reaches the pure-torch kernel."""
    monkeypatch.setattr(deform_module, "forward_fused", refuse)


def compiled(*args, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return deform_conv2d(*args, **kwargs, kernel="compiled")


@pytest.mark.parametrize("interpolate", [True, False], ids=["bilinear", "rounded"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_matches_reference_and_torch_kernel(name, interpolate, extension, monkeypatch):
    x, weight, bias, offset_shape, options, gen = layer(name)
    offset = random_offsets(offset_shape, gen)
    offset = offset if interpolate else torch.round(offset)
    with torch.no_grad():
        pure = deform_conv2d(x, offset, weight, bias, **options, interpolate=interpolate, kernel="torch")
    monkeypatch.setattr(deform_module, "forward_fused", refuse)
    actual = compiled(x, offset, weight, bias, **options, interpolate=interpolate)
    assert_close(actual, reference(x, offset, weight, bias, **options, interpolate=interpolate))
    assert_close(actual, pure)


@pytest.mark.parametrize("name", ["3x3 padding 1", "depthwise, offset groups 2, stride 2", "grouped"])
def test_compiled_float64_matches_reference_closely(name, extension, torch_path_forbidden):
    x, weight, bias, offset_shape, options, gen = layer(name, dtype=torch.float64)
    offset = random_offsets(offset_shape, gen, dtype=torch.float64)
    actual = compiled(x, offset, weight, bias, **options)
    assert actual.dtype == torch.float64
    torch.testing.assert_close(actual, reference(x, offset, weight, bias, **options), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_zero_offsets_equal_conv2d(name, extension, torch_path_forbidden):
    x, weight, bias, offset_shape, options, _ = layer(name, dtype=torch.float64)
    offset = torch.zeros(offset_shape, dtype=torch.float64)
    expected = F.conv2d(x, weight, bias, **{k: v for k, v in options.items() if k != "offset_groups"})
    for interpolate in (True, False):
        torch.testing.assert_close(compiled(x, offset, weight, bias, **options, interpolate=interpolate), expected,
                                   rtol=1e-12, atol=1e-12)


def test_compiled_chunks_and_strided_inputs(extension, torch_path_forbidden, monkeypatch):
    """Chunks of 3 pixels (the last one shorter), a non-contiguous input and float64 offsets for float32 data."""
    monkeypatch.setattr(deform_compiled, "COMPILED_CHUNK_ELEMENTS", 3 * 9 * 3)
    x, weight, bias, offset_shape, options, gen = layer("3x3 padding 1")
    offset = random_offsets(offset_shape, gen, dtype=torch.float64)
    strided = x.transpose(2, 3).contiguous().transpose(2, 3)
    actual = compiled(strided, offset, weight, bias, **options)
    assert_close(actual, reference(x, offset.float(), weight, bias, **options))


def test_environment_variable_and_module_choose_the_compiled_kernel(extension, monkeypatch):
    x, weight, _, offset_shape, options, gen = layer("depthwise")
    offset = random_offsets(offset_shape, gen)
    module = DeformConv2d(4, 4, 3, padding=1, groups=4, kernel="compiled").eval()  # zero offsets: a depthwise conv
    monkeypatch.setattr(deform_module, "forward_fused", refuse)
    monkeypatch.setenv("SEGC_DEFORM_KERNEL", "compiled")
    with torch.no_grad():
        by_default = deform_conv2d(x, offset, weight, **options)
    monkeypatch.delenv("SEGC_DEFORM_KERNEL")
    with torch.no_grad():
        by_module = module(x)
    assert_close(by_default, reference(x, offset, weight, **options))
    assert_close(by_module, F.conv2d(x, module.weight, padding=1, groups=4))


def test_autograd_runs_the_torch_kernel_with_gradients():
    """The extension has no backward: with autograd the pure-torch kernel runs (gradcheck in float64)."""
    x, weight, bias, offset_shape, options, gen = layer("offset groups 2", dtype=torch.float64)
    x, weight = x[:1].requires_grad_(), weight.requires_grad_()
    offset = (random_offsets(offset_shape, gen, dtype=torch.float64)[:1] * 0.3).requires_grad_()

    def run(x, offset, weight):
        return deform_conv2d(x, offset, weight, bias, **options, kernel="compiled")

    assert torch.autograd.gradcheck(run, (x, offset, weight))


def test_impossible_build_gives_one_notice_and_the_torch_result(monkeypatch):
    monkeypatch.setattr(deform_compiled, "compiled_extension", lambda: None)
    monkeypatch.setattr(deform_compiled, "build_failure", ["no C++ compiler"])
    monkeypatch.setattr(deform_compiled, "_noticed", set())
    x, weight, bias, offset_shape, options, gen = layer("grouped")
    offset = random_offsets(offset_shape, gen)
    with torch.no_grad(), pytest.warns(RuntimeWarning, match=r"no C\+\+ compiler.*pure-torch") as notices:
        first = deform_conv2d(x, offset, weight, bias, **options, kernel="compiled")
        deform_conv2d(x, offset, weight, bias, **options, kernel="compiled")
    assert len(notices) == 1
    assert_close(first, reference(x, offset, weight, bias, **options))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error")  # "auto" falls back silently
        assert_close(deform_conv2d(x, offset, weight, bias, **options, kernel="auto"), first)


def test_unknown_kernel_names_the_choices(monkeypatch):
    x, weight, _, offset_shape, options, gen = layer("3x3 padding 1")
    offset = random_offsets(offset_shape, gen)
    with pytest.raises(ValueError, match=r"kernel='fast': .* one of torch, compiled, auto"):
        deform_conv2d(x, offset, weight, **options, kernel="fast")
    monkeypatch.setenv("SEGC_DEFORM_KERNEL", "gpu")
    with pytest.raises(SegError, match=r"SEGC_DEFORM_KERNEL must be one of torch, compiled, auto, got 'gpu'"):
        deform_conv2d(x, offset, weight, **options)
    with pytest.raises(ValueError, match="kernel='fast' must be one of torch, compiled, auto"):
        DeformConv2d(3, 4, 3, kernel="fast")


def test_build_folder_is_under_the_user_cache_and_keyed_by_source(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first, second = deform_compiled.cache_directory("a"), deform_compiled.cache_directory("b")
    assert first.parent == tmp_path / "segc" / "extensions"
    assert first != second and first == deform_compiled.cache_directory("a")


@pytest.mark.parametrize("interpolate", [True, False], ids=["bilinear", "rounded"])
def test_compiled_non_finite_and_far_offsets_sample_zero(interpolate, extension):
    """NaN, infinite and huge offsets put every sample outside the image: the output is the bias."""
    x, weight, bias, offset_shape, options, _ = layer("offset groups 2")
    for value in (float("nan"), float("inf"), -1e30, 1e30):
        offset = torch.full(offset_shape, value)
        assert torch.equal(compiled(x, offset, weight, bias, **options, interpolate=interpolate),
                           bias.view(1, -1, 1, 1).expand(2, -1, *offset_shape[2:]))


def test_compiled_infinite_pixel_reaches_only_the_samples_that_read_it(extension):
    """Samples outside the image read zeros, not a pixel times weight 0 (inf · 0 would be NaN)."""
    x, weight, _, offset_shape, options, _ = layer("depthwise", dtype=torch.float64)
    x[:, :, 0, 0] = float("inf")
    offset = torch.full(offset_shape, 2.25, dtype=torch.float64)  # every sample right of and below (0, 0)
    for groups, w in ((options["groups"], weight), (1, torch.randn(3, 4, 3, 3, dtype=torch.float64))):
        settings = {**options, "groups": groups}
        actual = compiled(x, offset, w, **settings)
        assert torch.isfinite(actual).all()
        torch.testing.assert_close(actual, reference(x.nan_to_num(posinf=0.0), offset, w, **settings),
                                   rtol=1e-12, atol=1e-12)
