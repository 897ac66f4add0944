"""Neuron model: the current-based leaky integrate-and-fire neuron (``LIF``).

Model (times in ms, dimensionless voltage)::

    tau_mem dV/dt = -V + I + bias          (eq. 1 of docs/theory.md)
    tau_syn dI/dt = -I                     (eq. 2)
    presynaptic spike of weight w, arriving after its delay:  I += w

A spike is emitted when V reaches ``threshold`` from below (V >= threshold, a touch counts). Then V is
reset ("zero": V := 0, "subtract": V := V - threshold), I is kept (or zeroed with ``reset_current=True``,
the variant ANTLR's model uses), and V is held at its reset value for ``refractory`` ms while I keeps
decaying and integrating inputs.

Because tau_syn > 0, V(t) is continuous: an exactly located crossing has V = threshold, so "zero" and
"subtract" give the same post-spike potential (0). They differ only where V can jump above threshold
(time-stepped simulators that overshoot, which is why the option exists: the grid-based activation
gradients of eventsnn use it). eventsnn always starts from V(0) = I(0) = 0.

What a neuron model must provide to the engine: :meth:`LIF.kernel_parameters`, the flat float64 vector the
kernels read (layout in the private module ``eventsnn._kernels.lif``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels import lif as _lif

RESET_MODES = ("zero", "subtract")


@dataclass(frozen=True)
class LIF:
    """Current-based leaky integrate-and-fire neuron with exponential synaptic current.

    Parameters
    ----------
    tau_mem : float
        Membrane time constant (ms), > 0.
    tau_syn : float
        Synaptic current time constant (ms), > 0. Any ratio to ``tau_mem`` is allowed, including equality.
    threshold : float
        Firing threshold (dimensionless voltage), > 0 and <= 1e100. Default 1.0.
    reset : {"zero", "subtract"}
        Membrane reset at a spike. Identical in exact simulation (see module docstring). Default "zero".
    refractory : float
        Absolute refractory period (ms), >= 0: V is held at its reset value, I keeps evolving. Default 0.
    bias : float
        Constant input added to the membrane equation (same units as I), |bias| <= 1e100 (the range in which the
        exact solver is exact, as for weights). Default 0.
    reset_current : bool
        If True, a spike also sets I := 0 (ANTLR's model). Default False.

    Examples
    --------
    >>> import eventsnn as es
    >>> neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    >>> neuron.threshold, neuron.reset
    (1.0, 'zero')
    """

    tau_mem: float = 10.0
    tau_syn: float = 5.0
    threshold: float = 1.0
    reset: str = "zero"
    refractory: float = 0.0
    bias: float = 0.0
    reset_current: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau_mem", check.positive_finite("tau_mem", self.tau_mem))
        object.__setattr__(self, "tau_syn", check.positive_finite("tau_syn", self.tau_syn))
        object.__setattr__(self, "threshold", check.bounded("threshold", check.positive_finite("threshold",
                                                                                               self.threshold)))
        check.one_of("reset", self.reset, RESET_MODES)
        object.__setattr__(self, "refractory", check.nonnegative_finite("refractory", self.refractory))
        object.__setattr__(self, "bias", check.bounded("bias", check.finite("bias", self.bias)))
        if not isinstance(self.reset_current, (bool, np.bool_)):
            raise TypeError(f"reset_current must be a bool, got {self.reset_current!r}")

    def kernel_parameters(self) -> np.ndarray:
        """Flat float64 parameter vector read by the kernels (layout: ``eventsnn._kernels.lif.P_*``)."""
        return _lif.make_parameters(self.tau_mem, self.tau_syn, self.threshold, self.bias,
                                    self.refractory, bool(self.reset_current))

    def psp_peak(self) -> float:
        """Peak of the membrane response to a unit current step ``I += 1`` from rest (no bias)."""
        return float(self.kernel_parameters()[_lif.P_KERNEL_PEAK])
