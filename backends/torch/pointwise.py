"""The torch lowering of the ops of ``ir/ops_pointwise.py``: source text of
each layer's module, and the helper classes written into generated modules
(``source.py``).  Activations are torch's own modules (PyTorch's definitions
are the IR's).  This module imports nothing from torch."""

from __future__ import annotations

__all__ = ["POINTWISE_HELPERS", "POINTWISE_LOWERING", "flat_return", "helpers_used"]

POINTWISE_HELPERS = '''

class Clip(nn.Module):
    """min(max(x, low), high); a bound of None is left open."""

    def __init__(self, low: float | None, high: float | None):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, self.low, self.high)


class Div(nn.Module):
    """x / a constant."""

    def __init__(self, by: float):
        super().__init__()
        self.by = by

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.by


class Mul(nn.Module):
    """Element-wise product of two tensors; an [N, C, 1, 1] one is broadcast over H and W."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] * xs[1]


class Sub(nn.Module):
    """Element-wise difference of two tensors."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return xs[0] - xs[1]


class Mean(nn.Module):
    """Mean over height and width, kept as [N, C, 1, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)
'''

POINTWISE_LOWERING = {
    "hardsigmoid": lambda g, n: "nn.Hardsigmoid()",
    "hardswish": lambda g, n: "nn.Hardswish()",
    "silu": lambda g, n: "nn.SiLU()",
    "leakyrelu": lambda g, n: f"nn.LeakyReLU({n.attrs['slope']!r})",
    "tanh": lambda g, n: "nn.Tanh()",
    "clip": lambda g, n: f"Clip({n.attrs['min']!r}, {n.attrs['max']!r})",
    "div": lambda g, n: f"Div({n.attrs['by']!r})",
    "softmax": lambda g, n: "nn.Softmax(dim=1)",
    "mul": lambda g, n: "Mul()",
    "sub": lambda g, n: "Sub()",
    "mean": lambda g, n: "Mean()",
}

LIST_OPERAND_OPS = ("mul", "sub")
_HELPER_CLASS = {"clip": "Clip", "div": "Div", "mul": "Mul", "sub": "Sub", "mean": "Mean"}


def helpers_used(ops: set[str]) -> str:
    """The helper classes of POINTWISE_HELPERS that layers of ``ops`` need, in its order."""
    wanted = {_HELPER_CLASS[op] for op in ops if op in _HELPER_CLASS}
    blocks = [block.strip("\n") for block in POINTWISE_HELPERS.split("\nclass ") if block.strip()]
    return "".join(f"\n\n\nclass {block}" for block in blocks if block.split("(")[0] in wanted)


def flat_return(variable: str, flat: bool) -> str:
    """A returned value: an [N, F] matrix (``is_flat``) leaves as such."""
    return f"{variable}.flatten(1)" if flat else variable
