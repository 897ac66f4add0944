"""Closed-form free evolution of the current-based LIF neuron (times in ms), written from the model equations.

    tau_mem dV/dt = -V + I + bias,     tau_syn dI/dt = -I

From (V0, I0), after s ms without events: I(s) = I0 e^{-s/tau_syn} and
V(s) = bias + (V0 - bias) e^{-s/tau_mem} + I0 K(s), with the response to a unit current step
K(s) = tau_syn/(tau_mem - tau_syn) (e^{-s/tau_mem} - e^{-s/tau_syn}), or (s/tau) e^{-s/tau} when both time constants
are equal. The difference is written with ``expm1``, so no cancellation occurs for nearby time constants.
"""

from __future__ import annotations

import math


def psp(s: float, tau_mem: float, tau_syn: float) -> float:
    """K(s): V at s >= 0 ms after a unit current step at 0 (V0 = 0, no bias)."""
    if tau_mem == tau_syn:
        return (s / tau_mem) * math.exp(-s / tau_mem)
    return tau_syn / (tau_mem - tau_syn) * math.exp(-s / tau_mem) * -math.expm1(-s * (tau_mem - tau_syn)
                                                                                / (tau_mem * tau_syn))


def free_step(v: float, i: float, s: float, lif) -> tuple[float, float]:
    """(V, I) after s ms of free evolution from (v, i); ``lif`` is an ``eventsnn.LIF``."""
    return (lif.bias + (v - lif.bias) * math.exp(-s / lif.tau_mem) + i * psp(s, lif.tau_mem, lif.tau_syn),
            i * math.exp(-s / lif.tau_syn))
