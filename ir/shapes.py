"""Shape arithmetic for sliding-window ops (convolution, pooling).

Tensors are ``[C, H, W]`` (no batch).  For one spatial axis with input size
``n``, kernel ``k``, stride ``s``, dilation ``d`` and padding ``p`` on each
side, the output size is (PyTorch's and ONNX's rule)

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1

``padding="same"`` pads ``d(k - 1) / 2`` on each side (which keeps the size
at stride 1 and gives ``ceil(n / s)`` otherwise); it needs an odd dilated
kernel so both sides get the same padding.  ``"valid"`` pads nothing.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Shape", "ShapeError", "conv_padding", "pool_output", "window_output"]


class Shape(NamedTuple):
    """Output shape of a layer: channels, height, width."""

    c: int
    h: int
    w: int

    def __str__(self) -> str:
        return f"[{self.c}, {self.h}, {self.w}]"


class ShapeError(ValueError):
    """The shapes or attributes of a layer do not fit together."""


def conv_padding(padding: str | tuple[int, int], k: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """Per-side (height, width) padding of a convolution."""
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        return padding  # type: ignore[return-value]
    pads = []
    for axis, (kk, dd) in enumerate(zip(k, dilation)):
        reach = dd * (kk - 1)
        if reach % 2:
            name = "height" if axis == 0 else "width"
            raise ShapeError(
                f"padding \"same\" needs an odd kernel, but the {name} kernel spans {reach + 1}; "
                "give padding explicitly"
            )
        pads.append(reach // 2)
    return (pads[0], pads[1])


def window_output(n: int, k: int, stride: int, dilation: int, pad: int) -> int:
    """Output size along one axis (may be <= 0 when the window does not fit)."""
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def pool_output(n: int, k: int, stride: int, pad: int, ceil: bool) -> int:
    """Pooling output size along one axis, PyTorch's ceil_mode rule included:
    with ceil the last window must start inside the input or left padding."""
    span = n + 2 * pad - k
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def spatial(shape: Shape) -> str:
    return f"{shape.h}×{shape.w}"


def check_window(
    op: str, x: Shape, k: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
    pads: tuple[int, int],
) -> tuple[int, int]:
    """Output (height, width) of a convolution window, or a ShapeError."""
    ho = window_output(x.h, k[0], stride[0], dilation[0], pads[0])
    wo = window_output(x.w, k[1], stride[1], dilation[1], pads[1])
    if ho < 1 or wo < 1:
        reach = (dilation[0] * (k[0] - 1) + 1, dilation[1] * (k[1] - 1) + 1)
        raise ShapeError(
            f"{op} output would be empty: the {spatial(x)} input (padded by {pads[0]}×{pads[1]}) "
            f"is smaller than the {reach[0]}×{reach[1]} kernel"
        )
    return ho, wo
