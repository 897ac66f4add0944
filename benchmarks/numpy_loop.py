"""Plain NumPy time-stepped reference peer for the forward benchmarks (``benchmarks/forward.py``).

Two-layer feed-forward current-based LIF network on a time grid with the exact propagators of the model
(the grid convention of ../shared/docs/WORKLOADS.md, "numpy loop")::

    per step n:  I += inputs of bin n
                 V  = e^{-dt/tau_mem} V + k (e^{-dt/tau_syn} - e^{-dt/tau_mem}) I,   k = tau_syn / (tau_syn - tau_mem)
                 I *= e^{-dt/tau_syn}
                 spike if V >= theta (reported at (n + 1) dt), then V -= theta ("subtract") or V = 0 ("zero")

An input spike at t goes to step floor(t / dt); a hidden spike reported at (n + 1) dt is an input of the output
layer at step n + 1.

Two forms: ``simulate_numpy_loop`` runs one sample, its Python loop over time steps vectorised over the neurons
of a layer; ``simulate_numpy_batch`` is the form a user who wants speed writes, the same loop vectorised over the
samples too (state arrays of shape (batch, neurons), inputs binned once into a dense (steps, batch, inputs) array
by ``bin_inputs``, each step's input current one matrix product). Both follow the same equations; the batch form
adds a step's inputs by a matrix product instead of a sum of weight rows, so rounding can differ in the last bits.
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


def bin_inputs(times: np.ndarray, neurons: np.ndarray, offsets: np.ndarray, n_inputs: int, dt: float,
               t_max: float) -> np.ndarray:
    """Dense input counts of shape (steps, batch, n_inputs): the spike of sample b at t goes to step floor(t / dt)
    (spikes at or after the last step edge are outside the window). Samples are ``[offsets[b], offsets[b + 1])``."""
    n_steps = int(round(t_max / dt))
    batch = offsets.size - 1
    dense = np.zeros((n_steps, batch, n_inputs))
    steps = np.floor(np.asarray(times) / dt).astype(np.int64)
    sample = np.repeat(np.arange(batch), np.diff(offsets))
    keep = (steps >= 0) & (steps < n_steps)
    np.add.at(dense, (steps[keep], sample[keep], np.asarray(neurons)[keep]), 1.0)
    return dense


def simulate_numpy_batch(inputs: np.ndarray, weights: list[np.ndarray], dt: float, tau_mem: float = 10.0,
                         tau_syn: float = 5.0, threshold: float = 1.0,
                         reset: str = "subtract") -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Simulate a batch at once; ``inputs`` from :func:`bin_inputs`. Returns, per sample, ``[(times, neurons), ...]``
    per layer (hidden, output), sorted by time."""
    if tau_mem == tau_syn:
        raise ValueError("the propagator below needs tau_mem != tau_syn")
    n_steps, batch, _ = inputs.shape
    a_mem, a_syn = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    gain = tau_syn / (tau_syn - tau_mem) * (a_syn - a_mem)
    n_layers = len(weights)
    V = [np.zeros((batch, w.shape[1])) for w in weights]
    I = [np.zeros((batch, w.shape[1])) for w in weights]
    previous = [None] * n_layers  # spikes (batch, neurons) of layer k - 1 at the previous step, as float
    fired_steps: list[list[np.ndarray]] = [[] for _ in range(n_layers)]
    fired_where: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_layers)]
    for n in range(n_steps):
        for k in range(n_layers - 1, -1, -1):  # deeper layers first: they consume the previous step's spikes
            v, i = V[k], I[k]
            if k == 0:
                i += inputs[n] @ weights[0]
            elif previous[k] is not None:
                i += previous[k] @ weights[k]
                previous[k] = None
            v *= a_mem
            v += gain * i
            i *= a_syn
            spiking = v >= threshold
            if spiking.any():
                b, j = np.nonzero(spiking)
                if reset == "subtract":
                    v[b, j] -= threshold
                else:
                    v[b, j] = 0.0
                fired_steps[k].append(np.full(b.size, n + 1, dtype=np.int64))
                fired_where[k].append((b, j))
                if k + 1 < n_layers:
                    previous[k + 1] = spiking.astype(np.float64)
    result = [[] for _ in range(batch)]
    for k in range(n_layers):
        if fired_steps[k]:
            steps = np.concatenate(fired_steps[k])
            b = np.concatenate([w[0] for w in fired_where[k]])
            j = np.concatenate([w[1] for w in fired_where[k]])
        else:
            steps = b = j = np.zeros(0, dtype=np.int64)
        order = np.lexsort((j, steps, b))  # by sample, then (time, neuron)
        steps, b, j = steps[order], b[order], j[order]
        bounds = np.searchsorted(b, np.arange(batch + 1))
        for s in range(batch):
            lo, hi = bounds[s], bounds[s + 1]
            result[s].append((steps[lo:hi] * dt, j[lo:hi]))
    return result
