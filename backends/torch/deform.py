"""Deformable 2-D convolution in pure torch, with CoDeNet's hardware-friendly variants.

The math (Dai et al., "Deformable Convolutional Networks", ICCV 2017, eq. 2;
the layout of ``torchvision.ops.deform_conv2d``).  For output pixel (oy, ox),
kernel tap (i, j) (k = i·kw + j) and offset group g, the sampling point is

    y = oy·sh − ph + i·dh + Δy[g, k, oy, ox]
    x = ox·sw − pw + j·dw + Δx[g, k, oy, ox]

where ``offset`` has shape [N, 2·kh·kw·G, Ho, Wo], ordered per offset group, per
tap (row-major over kh, kw), as (Δy, Δx) pairs.  Input channel c belongs to
offset group c // (C/G).  The sample is the bilinear interpolation

    X(y, x) = Σ_{yy ∈ {⌊y⌋, ⌊y⌋+1}, xx ∈ {⌊x⌋, ⌊x⌋+1}} (1 − |y − yy|)(1 − |x − xx|) · X[yy, xx]

with X = 0 outside the image (as torchvision and DCN), and the output is an
ordinary (grouped) convolution of the sampled columns:

    out[o, oy, ox] = b[o] + Σ_{c, i, j} W[o, c, i, j] · X_c(y, x).

With ``interpolate=False`` the offsets are integers (they are rounded, to be safe
against float error) and X[y, x] is read directly, still 0 outside.  Zero
offsets give ``F.conv2d`` exactly up to float summation order.

How it is computed, and why (channels-last row tables gathered with
``embedding_bag``, tap-weighted tables for depthwise, the traced path,
chunking, why not ``grid_sample``), and CoDeNet's variants (bound, square,
rounded) with their sources: docs/deformable.md, "The torch implementation".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .deform_fused import CHUNK_ELEMENTS, WEIGHTED_TABLE_ELEMENTS, forward_fused
from .deform_kernels import KERNELS, Geometry, Pair, geometry, pair, tracing
from .deform_traced import forward_traced

__all__ = ["CHUNK_ELEMENTS", "WEIGHTED_TABLE_ELEMENTS", "DeformConv2d", "deform_conv2d", "round_ste",
           "square_offsets"]


def round_ste(t: Tensor) -> Tensor:
    """Round to integers; the gradient passes through unchanged (straight-through estimator)."""
    return t + (torch.round(t) - t).detach()


def deform_conv2d(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: int | Pair = (1, 1), padding: int | Pair = (0, 0), dilation: int | Pair = (1, 1),
                  groups: int = 1, offset_groups: int = 1, interpolate: bool = True,
                  kernel: str | None = None) -> Tensor:
    """Deformable convolution with torchvision's offset layout (see the module docstring).

    ``x`` [N, C, H, W]; ``offset`` [N, 2·kh·kw·offset_groups, Ho, Wo] as (Δy, Δx) pairs per
    offset group and tap; ``weight`` [O, C/groups, kh, kw]; ``bias`` [O] or None.
    ``interpolate=False``: the offsets are integers and samples are read without interpolation.
    Differentiable in x, offset, weight and bias (and traceable for ONNX export).
    ``kernel``: "torch", "compiled" or "auto" (None: ``$SEGC_DEFORM_KERNEL``, else "torch"); the compiled
    kernel (``deform_compiled.py``) serves inference on CPU, the pure-torch one everything else.
    """
    geo = geometry(x, offset, weight, pair(stride), pair(padding), pair(dilation), groups, offset_groups)
    offset = offset.to(x.dtype)
    out = None if tracing() else _compiled(kernel, x, offset, weight, geo, groups, interpolate)
    if out is None:
        forward = forward_traced if tracing() else forward_fused
        out = forward(x, offset, weight, geo, groups, interpolate)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _compiled(kernel: str | None, x: Tensor, offset: Tensor, weight: Tensor, geo: Geometry, groups: int,
              interpolate: bool) -> Tensor | None:
    """The compiled kernel's output, or None: not chosen, not applicable (autograd, not CPU), not built."""
    if kernel == "torch":
        return None
    try:
        from .deform_compiled import compiled_forward, kernel_choice
    except ImportError:  # inlined into a generated module, which has the pure-torch kernel only
        return None
    return compiled_forward(kernel_choice(kernel), x, offset, weight, geo, groups, interpolate)


def square_offsets(scale: Tensor, kernel_size: int | Pair, dilation: int | Pair = 1, rounded: bool = False) -> Tensor:
    """Offsets of CoDeNet's square shape from scales [N, G, Ho, Wo]: [N, 2·kh·kw·G, Ho, Wo].

    Tap (i, j) moves by ((i − (kh−1)/2)·(s − 1)·dh, (j − (kw−1)/2)·(s − 1)·dw): a square grid of
    spacing s·d.  ``rounded``: the step (s − 1)·d is rounded first (straight-through), so the
    grid stays square with integer spacing, then the offsets (integers for odd kernels).
    """
    (kh, kw), (dh, dw) = pair(kernel_size), pair(dilation)
    n, groups, out_h, out_w = scale.shape
    step_y, step_x = (scale - 1) * dh, (scale - 1) * dw
    if rounded:
        step_y, step_x = round_ste(step_y), round_ste(step_x)
    rows = torch.arange(kh, dtype=scale.dtype, device=scale.device) - (kh - 1) / 2
    cols = torch.arange(kw, dtype=scale.dtype, device=scale.device) - (kw - 1) / 2
    tap_y = rows.view(kh, 1).expand(kh, kw).reshape(1, 1, kh * kw, 1, 1)
    tap_x = cols.view(1, kw).expand(kh, kw).reshape(1, 1, kh * kw, 1, 1)
    pairs = torch.stack((tap_y * step_y.unsqueeze(2), tap_x * step_x.unsqueeze(2)), dim=3)
    if rounded:
        pairs = round_ste(pairs)
    return pairs.reshape(n, groups * kh * kw * 2, out_h, out_w)


class DeformConv2d(nn.Module):
    """Deformable convolution with its offset branch ``self.offset`` (an ``nn.Conv2d``).

    ``shape="full"``: the branch predicts 2·kh·kw·offset_groups offsets with the main conv's
    window (zero-initialised: a fresh module is a plain conv).  ``shape="square"``: a 1×1 conv
    (with the main stride) predicts one scale per offset group (weight 0, bias 1: scale 1 is a
    plain conv); needs kh == kw and "same" padding (padding = dilation·(k − 1)/2) so the scale
    map matches the output.  ``bound``: full offsets clamped to [−bound, bound], square scales to
    [1 − bound, bound].  ``round``: offsets rounded (straight-through), no interpolation.
    ``kernel``: which kernel computes it, as in ``deform_conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Pair, stride: int | Pair = 1,
                 padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1, bias: bool = False,
                 offset_groups: int = 1, shape: str = "full", bound: float | None = None, round: bool = False,
                 kernel: str | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation = pair(padding), pair(dilation)
        self.offset_groups, self.shape, self.bound, self.round = offset_groups, shape, bound, round
        self.kernel = kernel
        self._check()
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels)) if bias else None)
        if shape == "full":
            self.offset = nn.Conv2d(in_channels, 2 * kh * kw * offset_groups, self.kernel_size, self.stride,
                                    self.padding, self.dilation, bias=True)
        else:
            self.offset = nn.Conv2d(in_channels, offset_groups, 1, self.stride, bias=True)
        self.reset_parameters()

    def _check(self) -> None:
        problems = []
        if self.shape not in ("full", "square"):
            problems.append(f'shape must be "full" or "square", got {self.shape!r}')
        if self.shape == "square" and self.kernel_size[0] != self.kernel_size[1]:
            problems.append(f'shape="square" needs a square kernel, got {self.kernel_size}')
        if self.in_channels % self.groups or self.out_channels % self.groups:
            problems.append(f"groups={self.groups} must divide {self.in_channels} and {self.out_channels} channels")
        if self.in_channels % self.offset_groups:
            problems.append(f"offset_groups={self.offset_groups} must divide {self.in_channels} input channels")
        if self.bound is not None and (self.bound < 0 or (self.shape == "square" and self.bound < 0.5)):
            problems.append(f"bound={self.bound} leaves no admissible offsets (needs >= 0, square >= 0.5)")
        if self.kernel is not None and self.kernel not in KERNELS:
            problems.append(f"kernel={self.kernel!r} must be one of {', '.join(KERNELS)} (or None)")
        if problems:
            raise ValueError("DeformConv2d: " + "; ".join(problems))

    def reset_parameters(self) -> None:
        """Main weight and bias as ``nn.Conv2d``; offset branch: zeros (square: bias 1)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        nn.init.zeros_(self.offset.weight)
        nn.init.constant_(self.offset.bias, 1.0 if self.shape == "square" else 0.0)

    def offsets(self, x: Tensor) -> Tensor:
        """The offsets [N, 2·kh·kw·G, Ho, Wo] this module samples with for input ``x``."""
        predicted = self.offset(x)
        if self.shape == "square":
            if self.bound is not None:
                predicted = predicted.clamp(1 - self.bound, self.bound)
            return square_offsets(predicted, self.kernel_size, self.dilation, rounded=self.round)
        if self.bound is not None:
            predicted = predicted.clamp(-self.bound, self.bound)
        return round_ste(predicted) if self.round else predicted

    def forward(self, x: Tensor) -> Tensor:
        offset = self.offsets(x)
        if self.shape == "square":
            self._check_scale_map(x, offset)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation,
                             self.groups, self.offset_groups, interpolate=not self.round, kernel=self.kernel)

    def _check_scale_map(self, x: Tensor, offset: Tensor) -> None:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        out_h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if tuple(offset.shape[2:]) != (out_h, out_w):
            raise ValueError(
                f'shape="square": the 1×1 scale conv gives a {offset.shape[2]}×{offset.shape[3]} map but the '
                f"convolution output is {out_h}×{out_w}; use padding = dilation·(k − 1)/2"
            )

    def __prepare_scriptable__(self) -> DeformConv2d:
        """Called by ``torch.jit.script``, which cannot compile this module: say so plainly."""
        raise RuntimeError(
            "DeformConv2d cannot be compiled by torch.jit.script: it chooses its kernels in Python and runs "
            "them image by image, in chunks sized at run time; for a deformable "
            "network use torch.jit.trace(module, example_input) or ONNX export (segc export --to onnx)"
        )

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"offset_groups={self.offset_groups}, shape={self.shape!r}")
        text += f", bound={self.bound}" if self.bound is not None else ""
        text += ", round=True" if self.round else ""
        text += f", kernel={self.kernel!r}" if self.kernel is not None else ""
        return text + (", bias=True" if self.bias is not None else "")
