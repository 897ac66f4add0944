"""Adam and SGD on lists of NumPy arrays; all state is in the optimizer object and can be saved/restored."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.optim import adam_update, sgd_update


def _checked_step(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr_scales: Sequence[float] | None,
                  state: dict[str, list | None]) -> tuple[list, list, list]:
    """Validate one optimizer step before anything is updated: params are C-contiguous, writable float64 arrays
    (updated in place), grads finite and of their shapes, one finite lr scale per array, and every existing state
    array (moments, velocity: possibly loaded from a checkpoint) float64 of its parameter's shape."""
    if isinstance(params, np.ndarray) or isinstance(grads, np.ndarray):
        raise TypeError("params and grads must be lists of arrays (one per parameter array), got an array")
    params, grads = list(params), list(grads)
    if len(grads) != len(params):
        raise ValueError(f"grads must hold one array per parameter array ({len(params)}), got {len(grads)}")
    for k, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype != np.float64 or not p.flags.c_contiguous or not p.flags.writeable:
            raise TypeError(f"params[{k}] must be a writable C-contiguous float64 array (updated in place), got "
                            f"{type(p).__name__}{' ' + str(p.dtype) if isinstance(p, np.ndarray) else ''}")
    checked = [check.float_array(f"grads[{k}]", g, shape=p.shape) for k, (g, p) in enumerate(zip(grads, params))]
    if lr_scales is None:
        scales = [1.0] * len(params)
    else:
        scales = [check.finite(f"lr_scales[{k}]", x) for k, x in enumerate(lr_scales)]
        if len(scales) != len(params):
            raise ValueError(f"lr_scales must hold one factor per parameter array ({len(params)}), got {len(scales)}")
    for name, arrays in state.items():
        if arrays is None:
            continue
        if len(arrays) != len(params):
            raise ValueError(f"optimizer state {name} holds {len(arrays)} arrays but there are {len(params)} "
                             "parameter arrays; was it loaded from another model?")
        for k, (a, p) in enumerate(zip(arrays, params)):
            check.kernel_array(f"optimizer state {name}_{k}", a, np.float64, p.shape)
            if not a.flags.writeable:  # updated in place: found read-only after an earlier array's update, too late
                raise ValueError(f"optimizer state {name}_{k} must be a writable array (it is updated in place), got "
                                 "a read-only one")
    return params, checked, scales


class SGD:
    """Plain (optionally momentum) gradient descent: p -= lr * (momentum buffer)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = check.positive_finite("lr", lr)
        self.momentum = check.nonnegative_finite("momentum", momentum)
        self.velocity: list[np.ndarray] | None = None

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             lr_scales: Sequence[float] | None = None) -> None:
        """Update ``params`` in place; ``lr_scales`` (one factor per array, default 1) multiplies lr per array.

        Raises ValueError/TypeError, before updating anything, if the arrays do not match (see :class:`Adam`).
        """
        self.lr = check.positive_finite("lr", self.lr)  # public attributes: a checkpoint may have set them
        self.momentum = check.nonnegative_finite("momentum", self.momentum)
        params, grads, scales = _checked_step(params, grads, lr_scales, {"velocity": self.velocity})
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        for p, g, v, scale in zip(params, grads, self.velocity, scales):
            sgd_update(p.reshape(-1), g.reshape(-1), v.reshape(-1), self.momentum, self.lr * scale)

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity_{k}": v for k, v in enumerate(self.velocity or [])}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` (shapes are checked against the parameters at the next step)."""
        _check_state_type(state)
        n = _count_indexed(state, ("velocity",))
        self.velocity = [check.float_array(f"optimizer state velocity_{k}", state[f"velocity_{k}"]).copy()
                         for k in range(n)] or None


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = check.positive_finite("lr", lr)
        self.beta1, self.beta2, self.eps = _checked_adam_settings(beta1, beta2, eps)
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             lr_scales: Sequence[float] | None = None) -> None:
        """Update ``params`` in place; ``lr_scales`` (one factor per array, default 1) multiplies lr per array
        (Adam's step is invariant to the gradient's scale, so parameters in other units need their own lr).

        Raises
        ------
        TypeError, ValueError
            Before updating anything: a parameter that is not a writable C-contiguous float64 array, a gradient of
            another shape or with a non-finite value, lr_scales of the wrong length, moments (e.g. from
            :meth:`load_state`) that do not match the parameters or are read-only, or settings (``lr``,
            ``beta1``, ``beta2``, ``eps``: public attributes) out of the ranges the constructor accepts.

        Examples
        --------
        >>> import numpy as np
        >>> from eventsnn.optim import Adam
        >>> p = [np.zeros(2)]
        >>> Adam(lr=0.1).step(p, [np.array([1.0, -1.0])])
        >>> p[0].round(6).tolist()
        [-0.1, 0.1]
        """
        self.lr = check.positive_finite("lr", self.lr)  # public attributes: a checkpoint may have set them
        self.t = check.integer("t", self.t, minimum=0)
        # public too: beta1 = 1 would divide by a zero bias correction, eps = 0 give 0 / 0 for a zero gradient
        self.beta1, self.beta2, self.eps = _checked_adam_settings(self.beta1, self.beta2, self.eps)
        params, grads, scales = _checked_step(params, grads, lr_scales, {"m": self.m, "v": self.v})
        if (self.m is None) != (self.v is None):
            raise ValueError("optimizer state must hold both moments m and v, or neither")
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        correction1 = 1.0 - self.beta1 ** self.t
        correction2 = 1.0 - self.beta2 ** self.t
        for p, g, m, v, scale in zip(params, grads, self.m, self.v, scales):
            adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), self.beta1, self.beta2,
                        self.lr * scale, correction1, correction2, self.eps)

    def state(self) -> dict[str, np.ndarray]:
        state = {"t": np.int64(self.t)}
        for k, (m, v) in enumerate(zip(self.m or [], self.v or [])):
            state[f"m_{k}"], state[f"v_{k}"] = m, v
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state`: ``t`` an int >= 0, moments ``m_k``, ``v_k`` finite float arrays (v >= 0) in pairs.
        Shapes are checked against the parameters at the next step. Raises ValueError/TypeError naming the entry."""
        _check_state_type(state)
        if "t" not in state:
            raise ValueError("optimizer state has no entry 't' (the step count)")
        t = np.asarray(state["t"])
        if t.shape != () or t.dtype.kind not in "iu" or int(t) < 0:
            raise ValueError(f"optimizer state t must be an int >= 0, got {t.tolist()!r}")
        n = _count_indexed(state, ("m", "v"), others=("t",))
        m = [check.float_array(f"optimizer state m_{k}", state[f"m_{k}"]).copy() for k in range(n)]
        v = [check.float_array(f"optimizer state v_{k}", state[f"v_{k}"]).copy() for k in range(n)]
        for k, (a, b) in enumerate(zip(m, v)):
            if a.shape != b.shape:
                raise ValueError(f"optimizer state m_{k} has shape {a.shape} but v_{k} has {b.shape}")
            if b.size and b.min() < 0.0:
                raise ValueError(f"optimizer state v_{k} (second moment) must be >= 0, got {float(b.min())!r}")
        self.t, self.m, self.v = int(t), m or None, v or None


def _checked_adam_settings(beta1: float, beta2: float, eps: float) -> tuple[float, float, float]:
    """(beta1, beta2, eps) as floats if 0 <= beta1, beta2 < 1 and eps > 0 (finite), else ValueError/TypeError."""
    beta1 = check.nonnegative_finite("beta1", beta1)
    beta2 = check.nonnegative_finite("beta2", beta2)
    if not (beta1 < 1.0 and beta2 < 1.0):
        raise ValueError(f"beta1 and beta2 must be < 1, got {beta1!r}, {beta2!r}")
    return beta1, beta2, check.positive_finite("eps", eps)


def _check_state_type(state: object) -> None:
    if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
        raise TypeError(f"optimizer state must be a dict of str to arrays (as state() returns), got "
                        f"{type(state).__name__}")


def _count_indexed(state: dict, prefixes: tuple[str, ...], others: tuple[str, ...] = ()) -> int:
    """Number n of arrays ``<prefix>_0 .. <prefix>_{n-1}`` (the same for every prefix); a gap, an unpaired entry or
    any entry that is neither one of these nor one of ``others`` raises ValueError naming it: another optimizer's
    state (Adam's m_k given to SGD) is refused rather than ignored, and so is an index written otherwise (m_01)."""
    expected = ", ".join([*others, *(f"{prefix}_k" for prefix in prefixes)])
    for key in state:
        head, _, tail = str(key).rpartition("_")
        if key not in others and (head not in prefixes or not (tail.isascii() and tail.isdigit())
                                  or str(int(tail)) != tail):
            raise ValueError(f"optimizer state has an unknown entry {key!r} (expected {expected})")
    counts = []
    for prefix in prefixes:
        indices = {int(key.rpartition("_")[2]) for key in state if key not in others
                   and key.rpartition("_")[0] == prefix}
        if indices != set(range(len(indices))):
            missing = min(set(range(max(indices) + 1)) - indices)
            raise ValueError(f"optimizer state has no entry '{prefix}_{missing}'")
        counts.append(len(indices))
    if len(set(counts)) > 1:
        raise ValueError(f"optimizer state holds {', '.join(f'{c} {p}_k' for p, c in zip(prefixes, counts))}: they "
                         "must come in pairs")
    return counts[0]


#: The optimizers by name (``TrainConfig.optimizer``, ``--set optimizer=...``), each built from the learning rate.
OPTIMIZERS: dict[str, type] = {"adam": Adam, "sgd": SGD}


def make_optimizer(name: str, lr: float) -> Adam | SGD:
    """A fresh optimizer by name: a key of :data:`OPTIMIZERS` (``"adam"``: :class:`Adam`, ``"sgd"``:
    :class:`SGD`), learning rate ``lr``."""
    check.one_of("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](lr)
