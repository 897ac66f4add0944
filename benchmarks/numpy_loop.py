"""Plain NumPy time-stepped reference peer for the forward benchmarks (``benchmarks/forward.py``).

Two-layer feed-forward current-based LIF network on a time grid with the exact propagators of the model
(the grid convention of ../shared/docs/WORKLOADS.md, "numpy loop")::

    per step n:  I += inputs of bin n
                 V  = e^{-dt/tau_mem} V + k (e^{-dt/tau_syn} - e^{-dt/tau_mem}) I,   k = tau_syn / (tau_syn - tau_mem)
                 I *= e^{-dt/tau_syn}
                 spike if V >= theta (reported at (n + 1) dt), then V -= theta ("subtract") or V = 0 ("zero")

An input spike at t goes to step floor(t / dt); a hidden spike reported at (n + 1) dt is an input of the output
layer at step n + 1. The loop runs over time steps in Python and is vectorised over the neurons of a layer.
"""

from __future__ import annotations

import math

import numpy as np


def simulate_numpy_loop(times: np.ndarray, neurons: np.ndarray, weights: list[np.ndarray], dt: float,
                        t_max: float, tau_mem: float = 10.0, tau_syn: float = 5.0, threshold: float = 1.0,
                        reset: str = "subtract") -> list[tuple[np.ndarray, np.ndarray]]:
    """Simulate one sample; returns ``[(times, neurons), ...]`` per layer (hidden, output), sorted by time.

    ``times``/``neurons``: input spikes of the sample; ``weights[k]`` has shape (n_pre, n_post) (``W[pre, post]``).
    """
    if tau_mem == tau_syn:
        raise ValueError("the propagator below needs tau_mem != tau_syn")
    n_steps = int(round(t_max / dt))
    a_mem, a_syn = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    gain = tau_syn / (tau_syn - tau_mem) * (a_syn - a_mem)
    subtract = reset == "subtract"

    # Input spikes -> step index (floor(t / dt)); spikes on or after the last step edge are outside the window.
    steps = np.floor(np.asarray(times) / dt).astype(np.int64)
    keep = (steps >= 0) & (steps < n_steps)
    steps, pre = steps[keep], np.asarray(neurons)[keep]
    order = np.argsort(steps, kind="stable")
    steps, pre = steps[order], pre[order]
    bounds = np.searchsorted(steps, np.arange(n_steps + 1))
    active_steps = np.unique(steps)

    n_layers = len(weights)
    V = [np.zeros(w.shape[1]) for w in weights]
    I = [np.zeros(w.shape[1]) for w in weights]
    out_steps: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
    out_neurons: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
    pending: list[np.ndarray | None] = [None] * n_layers  # spikes of layer k-1 from the previous step
    first_weights = weights[0]
    is_active = np.zeros(n_steps, dtype=bool)
    is_active[active_steps] = True

    for n in range(n_steps):
        for k in range(n_layers - 1, -1, -1):  # deeper layers first: they consume the previous step's spikes
            if k == 0:
                if is_active[n]:
                    lo, hi = bounds[n], bounds[n + 1]
                    if hi - lo == 1:
                        I[0] += first_weights[pre[lo]]
                    else:
                        I[0] += first_weights[pre[lo:hi]].sum(axis=0)
            else:
                src = pending[k]
                if src is not None:
                    if src.size == 1:
                        I[k] += weights[k][src[0]]
                    else:
                        I[k] += weights[k][src].sum(axis=0)
                    pending[k] = None
            v, i = V[k], I[k]
            v *= a_mem
            v += gain * i
            i *= a_syn
            fired = np.flatnonzero(v >= threshold)
            if fired.size:
                if subtract:
                    v[fired] -= threshold
                else:
                    v[fired] = 0.0
                out_steps[k].append(np.full(fired.size, n + 1, dtype=np.int64))
                out_neurons[k].append(fired)
                if k + 1 < n_layers:
                    pending[k + 1] = fired
    result = []
    for k in range(n_layers):
        if out_steps[k]:
            s, idx = np.concatenate(out_steps[k]), np.concatenate(out_neurons[k])
        else:
            s, idx = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        result.append((s * dt, idx))
    return result
