"""The padded form of spike batches shared by the torch and JAX bridges, and simulate / vjp on it (NumPy only).

A batch of spike trains of one population is two arrays of shape (batch, n_slots): ``times`` (ms, ``+inf`` in
padded slots) and ``neurons`` (``-1`` in padded slots). A slot is padding exactly when its time is ``+inf``.
Inputs may hold their spikes in any slot order; outputs hold each sample's spikes in the canonical (time,
neuron) order of :class:`~eventsnn.SpikeTrains`, then padding. The bridges convert their own tensors to NumPy
run :func:`eventsnn.simulate` on :func:`trains_of_row`'s trains and call :func:`backward` here, so both
differentiate exactly the same computation.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from eventsnn.adjoint import Gradients, vjp
from eventsnn.network import Connection, Network
from eventsnn.record import Record
from eventsnn.spikes import SpikeTrains


def padded_arrays(times: Sequence[np.ndarray], neurons: Sequence[np.ndarray],
                  n_slots: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pack per-sample arrays into (batch, n_slots) arrays; n_slots defaults to the longest sample."""
    longest = max((t.size for t in times), default=0)
    slots = longest if n_slots is None else n_slots
    out_times = np.full((len(times), slots), np.inf)
    out_neurons = np.full((len(times), slots), -1, dtype=np.int64)
    for b, (t, n) in enumerate(zip(times, neurons)):
        out_times[b, :t.size] = t
        out_neurons[b, :n.size] = n
    return out_times, out_neurons


def trains_of_row(times: np.ndarray, neurons: np.ndarray, n_neurons: int,
                  where: str) -> tuple[SpikeTrains, np.ndarray]:
    """The spikes of one padded row as SpikeTrains, and the slot of each of its spikes (to scatter gradients back).

    Every slot whose time is not ``+inf`` must be a valid spike: finite time >= 0 and neuron in [0, n_neurons).
    """
    t = np.asarray(times, dtype=np.float64)
    n = np.asarray(neurons).astype(np.int64, copy=False)
    real = np.flatnonzero(t != np.inf)
    t, n = t[real], n[real]
    if t.size:
        if not np.isfinite(t).all():
            raise ValueError(f"{where}: spike times must be finite or +inf (padding), got "
                             f"{float(t[~np.isfinite(t)][0])!r}")
        if t.min() < 0.0:
            raise ValueError(f"{where}: spike times must be >= 0 ms, got {float(t.min())!r}")
        if n.min() < 0 or n.max() >= n_neurons:
            bad = int(n.min() if n.min() < 0 else n.max())
            raise ValueError(f"{where}: a spike with a finite time has neuron index {bad}, outside "
                             f"[0, {n_neurons - 1}] (a padded slot needs the time +inf)")
    # the canonical (time, neuron) order of SpikeTrains, so that gradient i of the record belongs to slot slots[i]
    order = np.lexsort((n, t))
    return SpikeTrains._trusted(np.ascontiguousarray(t[order]), np.ascontiguousarray(n[order]), n_neurons), \
        real[order]


def checked_parameters(net: Network, values: Sequence[np.ndarray]) -> tuple[list, list, list]:
    """(weights, biases, delays) from float64 arrays in that order, checked against ``net``'s shapes, finite, delays
    >= 0. A NaN or infinite parameter (a diverged step) is named here instead of reaching the kernels."""
    n_conn, n_layers = len(net.connections), len(net.layer_names)
    if len(values) != 2 * n_conn + n_layers:
        raise ValueError(f"expected {n_conn} weight, {n_layers} bias and {n_conn} delay arrays, got {len(values)} "
                         f"arrays in all")
    expected = ([("weights", k, c.weights.shape) for k, c in enumerate(net.connections)]
                + [("biases", k, ()) for k in range(n_layers)]
                + [("delays", k, np.shape(c.delays)) for k, c in enumerate(net.connections)])
    for value, (kind, k, shape) in zip(values, expected):
        if value.shape != shape:
            raise ValueError(f"{kind}[{k}] must have shape {shape}, got {value.shape}")
        # one pass instead of isfinite's mask; the sum of large finite values can overflow, so a non-finite sum
        # is only a hint that the mask then confirms (and locates)
        if not np.isfinite(value.sum()) and not np.isfinite(value).all():
            bad = np.argwhere(~np.isfinite(value))
            raise ValueError(f"{kind}[{k}] is not finite (at index {tuple(bad[0].tolist())}): did a training step "
                             f"diverge?")
        if kind == "delays" and value.size and value.min() < 0.0:
            raise ValueError(f"delays[{k}] must be >= 0 ms, got {float(value.min())!r}")
    values = list(values)
    return values[:n_conn], [float(b) for b in values[n_conn:n_conn + n_layers]], values[n_conn + n_layers:]


def network_with(net: Network, weights: Sequence[np.ndarray], biases: Sequence[float],
                 delays: Sequence[np.ndarray]) -> Network:
    """``net`` with the given weights, biases and delays (float64 arrays / floats), sharing the arrays it is
    given: only the structure is copied (:func:`eventsnn.simulate` snapshots the network it runs, so records
    never alias them)."""
    out = Network()
    for name, population in net.populations.items():
        out.populations[name] = dataclasses.replace(population)
    for name, b in zip(out.layer_names, biases):
        out.populations[name].neuron = dataclasses.replace(out.populations[name].neuron, bias=float(b))
    out.connections = [Connection(c.pre, c.post, w, float(d) if np.ndim(d) == 0 else d)
                       for c, w, d in zip(net.connections, weights, delays)]
    return out


def backward(records: list[Record], time_cotangents: list[np.ndarray | None], input_slots: list[np.ndarray] | None,
             input_shape: tuple[int, int], n_threads: int | None) -> tuple[Gradients, np.ndarray | None]:
    """Exact gradients of a batch from dL/d(output times) in the padded form.

    Parameters
    ----------
    time_cotangents : list of (batch, n_slots) arrays or None
        One per layer (None: the loss does not look at that layer). Padded slots are ignored.
    input_slots : list of int arrays, or None
        Slot of each input spike per sample (from :func:`trains_of_row`); None if dL/d(input times) is not needed.

    Returns
    -------
    Gradients summed over samples (in sample order, so the thread count changes nothing), and dL/d(input times)
    in the padded input form (None if ``input_slots`` is None).
    """
    n_layers = len(records[0].layers)
    cotangents = [[np.zeros(len(r.layers[k])) if time_cotangents[k] is None
                   else np.ascontiguousarray(time_cotangents[k][b, :len(r.layers[k])], dtype=np.float64)
                   for k in range(n_layers)] for b, r in enumerate(records)]
    if input_slots is None:
        return vjp(records[0].network, records, cotangents, n_threads=n_threads), None
    # a batched vjp does not return dL/d(input times): one vjp per sample, then the sum in sample order
    parts = _per_sample(records, cotangents, n_threads)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    d_inputs = np.zeros(input_shape)
    name = records[0].network.input_names[0]
    for b, (part, slots) in enumerate(zip(parts, input_slots)):
        d_inputs[b, slots] = part.input_times[name]
    return total, d_inputs


def _per_sample(records: list[Record], cotangents: list, n_threads: int | None) -> list[Gradients]:
    n_threads = n_threads or os.cpu_count() or 1

    def one(b: int) -> Gradients:
        return vjp(records[b].network, records[b], cotangents[b], n_threads=1)

    if n_threads == 1 or len(records) == 1:
        return [one(b) for b in range(len(records))]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(one, range(len(records))))
