"""Adam and SGD on lists of NumPy arrays; all state is in the optimizer object and can be saved/restored."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.optim import adam_update


class SGD:
    """Plain (optionally momentum) gradient descent: p -= lr * (momentum buffer)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = check.positive_finite("lr", lr)
        self.momentum = check.nonnegative_finite("momentum", momentum)
        self.velocity: list[np.ndarray] | None = None

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             lr_scales: Sequence[float] | None = None) -> None:
        """Update ``params`` in place; ``lr_scales`` (one factor per array, default 1) multiplies lr per array."""
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        scales = [1.0] * len(params) if lr_scales is None else lr_scales
        for p, g, v, scale in zip(params, grads, self.velocity, scales):
            v *= self.momentum
            v += g
            p -= (self.lr * scale) * v

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity_{k}": v for k, v in enumerate(self.velocity or [])}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        keys = sorted((k for k in state if k.startswith("velocity_")), key=lambda k: int(k.split("_")[1]))
        self.velocity = [np.array(state[k]) for k in keys] or None


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = check.positive_finite("lr", lr)
        self.beta1 = check.nonnegative_finite("beta1", beta1)
        self.beta2 = check.nonnegative_finite("beta2", beta2)
        if not (self.beta1 < 1.0 and self.beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must be < 1, got {beta1!r}, {beta2!r}")
        self.eps = check.positive_finite("eps", eps)
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             lr_scales: Sequence[float] | None = None) -> None:
        """Update ``params`` in place; ``lr_scales`` (one factor per array, default 1) multiplies lr per array
        (Adam's step is invariant to the gradient's scale, so parameters in other units need their own lr)."""
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        correction1 = 1.0 - self.beta1 ** self.t
        correction2 = 1.0 - self.beta2 ** self.t
        scales = [1.0] * len(params) if lr_scales is None else lr_scales
        for p, g, m, v, scale in zip(params, grads, self.m, self.v, scales):
            if p.dtype != np.float64 or not p.flags.c_contiguous:
                raise TypeError("Adam updates C-contiguous float64 arrays in place")
            adam_update(p.reshape(-1), np.ascontiguousarray(g, dtype=np.float64).reshape(-1), m.reshape(-1),
                        v.reshape(-1), self.beta1, self.beta2, self.lr * scale, correction1, correction2, self.eps)

    def state(self) -> dict[str, np.ndarray]:
        state = {"t": np.int64(self.t)}
        for k, (m, v) in enumerate(zip(self.m or [], self.v or [])):
            state[f"m_{k}"], state[f"v_{k}"] = m, v
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        n = sum(1 for k in state if k.startswith("m_"))
        self.m = [np.array(state[f"m_{k}"]) for k in range(n)] or None
        self.v = [np.array(state[f"v_{k}"]) for k in range(n)] or None


def make_optimizer(name: str, lr: float):
    check.one_of("optimizer", name, ("adam", "sgd"))
    return Adam(lr) if name == "adam" else SGD(lr)
