"""Losses on spike trains: each returns the value and its cotangents on spike times (and counts).

Every loss takes one :class:`~eventsnn.Record` and returns a :class:`LossResult` whose ``cotangents`` list is
aligned with ``rec.layers`` (dL/dt of every recorded spike; zeros where the loss does not look), ready for
:func:`eventsnn.vjp`. Losses that depend on spike *counts* also return ``count_cotangents`` (dL/dN per neuron).
The classification losses of a training step also have batch forms (``first_spike_cross_entropy_batch``,
``vmax_cross_entropy_batch``): the per-sample losses of a whole batch, bit for bit, in a few compiled calls.
Counts are piecewise constant in the parameters, so exact timing gradients cannot use them; the spike
creation/removal gradient methods can.

Silent neurons: a neuron that never fires has no spike time to differentiate, so timing losses give it no
gradient. ``first_spike_cross_entropy`` treats a silent output as firing at ``silent_time`` (default t_max) for
the *value*, and reports which outputs were silent (``LossResult.silent``) so the trainer can apply its
documented remedy (see :mod:`eventsnn.training`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels import classify as kernels
from eventsnn.record import Record
from eventsnn.spikes import SpikeTrains, _flat_trains


@dataclass
class LossResult:
    """Value of a loss and its cotangents.

    Attributes
    ----------
    value : float
    cotangents : list of ndarray
        dL/dt (1/ms units of L) for every spike of every layer, aligned with ``rec.layers[k].times``.
    count_cotangents : list of ndarray
        dL/dN for every neuron of every layer (zeros if the loss does not depend on counts).
    silent : ndarray of bool, optional
        For output losses: which output neurons had no spike.
    creation_terms : list, optional
        Per layer, None or a callable ``term(times, neurons=None)`` giving the time-dependent part of the change
        of the loss if a spike were added at each time (ms; see :meth:`creation_cotangent`). ``times`` is a 1-D
        float64 array. Without ``neurons`` it returns shape (len(times), n_neurons): every neuron at every time.
        With ``neurons`` (int64, one index in [0, n_neurons) per time, already checked by
        :meth:`creation_cotangent`) it returns shape (len(times),): neuron ``neurons[i]`` at ``times[i]``, which
        must equal the dense result at ``[i, neurons[i]]`` without building the dense matrix.
    readout_gradient : ndarray, optional
        dL/dW of a read-out layer's weights (:func:`vmax_cross_entropy`), which :func:`eventsnn.vjp` does not
        see: it is complete when the loss returns.
    """

    value: float
    cotangents: list
    count_cotangents: list
    silent: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    creation_terms: list | None = None
    readout_gradient: np.ndarray | None = None

    def creation_cotangent(self, layer: int, times: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
        """dL/ds(t): change of the loss if neuron j of ``layer`` fired one more spike at each of ``times`` (ms).

        The count cotangent (a spike anywhere adds one to the count) plus the loss's time-dependent term.
        Used by the creation/removal gradient methods (:mod:`eventsnn.gradient_methods`).

        Parameters
        ----------
        layer : int
            Index of the layer in ``rec.layers``.
        times : array_like of float
            Times (ms) of the added spike.
        neurons : array_like of int, optional
            One neuron of ``layer`` per time. Given, only those (time, neuron) pairs are evaluated, without the
            (len(times), n_neurons) matrix (n_neurons times cheaper for the read-out's term).

        Returns
        -------
        ndarray
            Shape (len(times), n_neurons) without ``neurons``: every neuron at every time. Shape (len(times),)
            with ``neurons``: entry i is the dense result at ``[i, neurons[i]]``.

        Raises
        ------
        ValueError
            If ``times`` is not 1-D when ``neurons`` is given, or ``neurons`` does not hold one index in
            [0, n_neurons) per time.
        """
        layer = check.integer("layer", layer)
        n = len(self.count_cotangents)
        if not -n <= layer < n:
            raise ValueError(f"layer must be in [{-n}, {n - 1}], got {layer}")
        times = check.float_array("times", times)
        counts = self.count_cotangents[layer]
        term = self.creation_terms[layer] if self.creation_terms is not None else None
        if neurons is None:
            out = np.broadcast_to(counts, (times.size, counts.size)).copy()
            if term is not None:
                out += term(times)
            return out
        if times.ndim != 1:
            raise ValueError(f"times must be 1-dimensional when neurons is given, got shape {times.shape}")
        neurons = check.index_array("neurons", neurons, counts.size, size=times.size)
        return self._creation_of(layer, times, neurons)

    def _creation_cotangent_at(self, layer: int, times: np.ndarray, neurons: np.ndarray,
                               n_neurons: int) -> np.ndarray:
        """:meth:`creation_cotangent` ``(layer, times, neurons)`` for the candidates of the gradient methods, whose
        arrays the library built itself (finite float64 ``times``, int64 ``neurons`` in [0, n_neurons) of layer
        ``layer`` >= 0, one per time): the same numbers, without its checks while they cannot fail (a float64 vector
        of count cotangents reaching every neuron of the layer). Otherwise the public method runs, with its
        errors."""
        counts = self.count_cotangents[layer] if layer < len(self.count_cotangents) else None
        if type(counts) is not np.ndarray or counts.dtype != np.float64 or counts.ndim != 1 \
                or counts.size < n_neurons:
            return self.creation_cotangent(layer, times, neurons)
        return self._creation_of(layer, times, neurons)

    def _creation_of(self, layer: int, times: np.ndarray, neurons: np.ndarray) -> np.ndarray:
        """dL/dN of layer ``layer`` at each (time, neuron) candidate, its arrays already checked."""
        out = self.count_cotangents[layer][neurons]  # fancy indexing copies: the term is added in place below
        term = self.creation_terms[layer] if self.creation_terms is not None else None
        if term is not None:
            out += term(times, neurons)
        return out

    def __add__(self, other: "LossResult") -> "LossResult":
        # zip would silently drop the layers one of them lacks: two losses of different networks
        if len(self.cotangents) != len(other.cotangents) \
                or len(self.count_cotangents) != len(other.count_cotangents):
            raise ValueError(f"cannot add losses over {len(self.cotangents)} and {len(other.cotangents)} layers: "
                             "they belong to different networks")
        silent = self.silent if self.silent is not None else other.silent
        return LossResult(self.value + other.value,
                          [a + b for a, b in zip(self.cotangents, other.cotangents)],
                          [a + b for a, b in zip(self.count_cotangents, other.count_cotangents)], silent,
                          {**other.extra, **self.extra},  # e.g. the read-out logits survive adding a regulariser
                          creation_terms=_combine_terms(self.creation_terms, other.creation_terms, 1.0),
                          readout_gradient=_sum_optional(self.readout_gradient, other.readout_gradient))

    def scaled(self, factor: float) -> "LossResult":
        return LossResult(self.value * factor, [c * factor for c in self.cotangents],
                          [c * factor for c in self.count_cotangents], self.silent, self.extra,
                          creation_terms=_combine_terms(self.creation_terms, None, factor),
                          readout_gradient=None if self.readout_gradient is None else self.readout_gradient * factor)


def _sum_optional(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a + b


def _combine_terms(a: list | None, b: list | None, factor: float) -> list | None:
    """Per-layer sum (a + b) * factor of creation terms; None entries are zero."""
    if a is None and b is None:
        return None
    n = len(a if a is not None else b)
    a = a if a is not None else [None] * n
    b = b if b is not None else [None] * n
    scalar = isinstance(factor, float)
    unit = scalar and factor == 1.0

    def combined(fa, fb):
        if fa is None and fb is None:
            return None

        def term(times: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
            total = (fa(times, neurons) if fa is not None else 0.0) + (fb(times, neurons) if fb is not None else 0.0)
            if scalar and type(total) is np.ndarray and total.dtype == np.float64:
                # the sum is this call's own new array: the product in place gives the same numbers, and a sum of
                # two losses (factor 1.0) skips it, 1.0 * x being x bit for bit (NaN and -0.0 included)
                if not unit:
                    total *= factor
                return total
            return factor * total

        return term

    return [combined(fa, fb) for fa, fb in zip(a, b)]


def _zeros(rec: Record) -> tuple[list, list]:
    return [np.zeros(len(layer)) for layer in rec.layers], [np.zeros(layer.n_neurons) for layer in rec.layers]


def _layer_index(rec: Record, layer: int | str) -> int:
    """Index of ``layer`` in ``rec.layers``, whose spikes are re-checked: kernels index with them, and a Record's
    attributes are public."""
    k = _index_only(rec, layer)
    check.spike_arrays(f"rec.layers[{k}]", rec.layers[k])
    return k


def _index_only(rec: Record, layer: int | str) -> int:
    if not isinstance(rec, Record):
        raise TypeError(f"rec must be an eventsnn.Record, got {type(rec).__name__}")
    if not isinstance(rec.layers, list) or len(rec.layers) != len(rec.layer_names):
        raise ValueError(f"rec.layers must be a list of one SpikeTrains per layer {rec.layer_names}")
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (str, int, np.integer)):
        raise TypeError(f"layer must be a layer name or an int index, got {type(layer).__name__} {layer!r}")
    if isinstance(layer, str):
        if layer not in rec.layer_names:
            raise ValueError(f"layer must be one of {rec.layer_names}, got {layer!r}")
        return rec.layer_names.index(layer)
    n = len(rec.layers)
    if not -n <= layer < n:
        raise ValueError(f"layer index {layer} out of range for {n} layers")
    return layer % n


def _label(label: int, n: int) -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or not 0 <= label < n:
        raise ValueError(f"label must be an int in [0, {n - 1}], got {label!r}")
    return int(label)


def softmax_cross_entropy(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """(-log softmax(logits)[label], its gradient softmax(logits) - onehot(label)); the one softmax of every
    classification loss here, shifted by the largest logit so that no exponential overflows.

    Parameters
    ----------
    logits : array_like of float, shape (n_classes,)
        Finite, at least one class.
    label : int
        The correct class, in [0, n_classes).

    Examples
    --------
    >>> from eventsnn import losses
    >>> value, grad = losses.softmax_cross_entropy([0.0, 0.0], 1)
    >>> round(value, 4), grad.tolist()
    (0.6931, [0.5, -0.5])
    """
    logits = check.float_array("logits", logits, ndim=1)
    if not logits.size:
        raise ValueError("logits must hold at least one class, got an empty array")
    return kernels.softmax_cross_entropy(logits, _label(label, logits.size))


def first_spike_indices(spikes: SpikeTrains) -> np.ndarray:
    """Index into ``spikes.times`` of each neuron's first spike, -1 for silent neurons."""
    if not isinstance(spikes, SpikeTrains):
        raise TypeError(f"spikes must be an eventsnn.SpikeTrains, got {type(spikes).__name__}")
    check.spike_arrays("spikes", spikes)
    return kernels.first_spike_index(spikes.neurons, spikes.n_neurons)


def first_spike_cross_entropy(rec: Record, label: int, *, tau: float = 5.0, layer: int | str = -1,
                              silent_time: float | None = None, early_weight: float = 0.0,
                              early_tau: float = 20.0) -> LossResult:
    """Cross-entropy of softmax(-t_first / tau) over the first spike times of a layer (TTFS classification).

    Optionally plus ``early_weight * (exp(t_label / early_tau) - 1)``, which pulls the correct neuron's first
    spike earlier (the regulariser of EventProp's Yin-Yang loss); without it, cross-entropy alone can push
    every output past the window and leave the network silent.

    Parameters
    ----------
    rec : Record
    label : int
        Index of the correct output neuron.
    tau : float
        Softmax temperature (ms), > 0: a 1 ms lead changes the logit by 1/tau.
    layer : int or str
        Output layer (default the last).
    silent_time : float, optional
        Time (ms) assumed for a silent neuron in the value (default ``rec.t_max``); it gets no gradient.
    early_weight, early_tau : float
        Weight (>= 0) and time scale (ms, > 0) of the early-spike term; 0 disables it.

    Returns
    -------
    LossResult
        ``cotangents`` are non-zero only at first spikes; ``silent`` flags silent outputs.
    """
    tau = check.positive_finite("tau", tau)
    k, label = _checked_output(rec, label, layer)
    spikes = rec.layers[k]
    silent_time = rec.t_max if silent_time is None else check.finite("silent_time", silent_time)
    early_weight = check.nonnegative_finite("early_weight", early_weight)
    early_tau = check.positive_finite("early_tau", early_tau)
    value, layer_cotangents, first, t_first = kernels.first_spike_cross_entropy(
        spikes.times, spikes.neurons, spikes.n_neurons, label, tau, silent_time)
    silent = first < 0
    cotangents, counts = _zeros(rec)
    cotangents[k] = layer_cotangents
    if early_weight > 0.0:
        try:
            growth = math.exp(t_first[label] / early_tau)
        except OverflowError:  # beyond float64 (t_first > ~709 early_tau): inf, as the batch kernel's exp gives it
            growth = math.inf
        value += early_weight * (growth - 1.0)
        if not silent[label]:
            layer_cotangents[first[label]] += early_weight * growth / early_tau
    return LossResult(value, cotangents, counts, silent)


def _checked_output(rec: Record, label: int, layer: int | str) -> tuple[int, int]:
    """The index of the output ``layer`` in ``rec.layers`` (its spikes re-checked) and ``label`` as an int in
    range: the checks of a first-spike loss that depend on the record."""
    k = _layer_index(rec, layer)
    return k, _label(label, rec.layers[k].n_neurons)


def first_spike_cross_entropy_batch(records: Sequence[Record], labels: Sequence[int], *, tau: float = 5.0,
                                    layer: int | str = -1, silent_time: float | None = None,
                                    early_weight: float = 0.0, early_tau: float = 20.0) -> list[LossResult]:
    """:func:`first_spike_cross_entropy` of every sample of a batch: ``[first_spike_cross_entropy(r, y, tau=tau,
    layer=layer, silent_time=silent_time, early_weight=early_weight, early_tau=early_tau) for r, y in zip(records,
    labels)]``, bit for bit, in one compiled call instead of one per sample.

    The records of a training step come from one :func:`eventsnn.simulate` call; their output spikes are checked a
    batch at a time (one compiled pass). Anything unusual (records or labels of other types, a check that fails)
    takes the per-sample path, which first checks every sample as the per-sample loss does and raises its error for
    the first bad sample in order, prefixed by the sample's index (``records[b]: ...``), before any loss is
    computed.

    Parameters
    ----------
    records : sequence of Record
    labels : sequence of int
        Index of the correct output neuron of each record.
    tau : float
        Softmax temperature (ms), > 0.
    layer : int or str
        Output layer (default the last).
    silent_time : float, optional
        Time (ms) assumed for a silent neuron in the value (default each record's ``t_max``).
    early_weight, early_tau : float
        Weight (>= 0) and time scale (ms, > 0) of the early-spike term; 0 disables it.

    Returns
    -------
    list of LossResult
        One per record, equal to :func:`first_spike_cross_entropy`'s (the output layer's cotangents and the
        ``silent`` flags of the samples are views of buffers shared by the batch).

    Raises
    ------
    ValueError, TypeError
        For a bad ``tau``, ``silent_time``, ``early_weight`` or ``early_tau`` (before any record is read), for
        records and labels of different lengths, and for a bad record, layer or label (``records[b]:`` and the
        per-sample message).

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.losses import first_spike_cross_entropy, first_spike_cross_entropy_batch
    >>> net = es.Network.feedforward([2, 3], es.LIF(tau_mem=10.0, tau_syn=5.0), [np.full((2, 3), 3.0)])
    >>> records = es.simulate(net, [es.SpikeTrains([1.0], [0], 2), es.SpikeTrains([0.5, 2.0], [1, 0], 2)], 30.0)
    >>> batch = first_spike_cross_entropy_batch(records, [0, 2], tau=5.0)
    >>> [b.value == first_spike_cross_entropy(r, y, tau=5.0).value for b, r, y in zip(batch, records, [0, 2])]
    [True, True]
    """
    records, labels = list(records), list(labels)
    if len(records) != len(labels):
        raise ValueError(f"got {len(records)} records but {len(labels)} labels")
    tau = check.positive_finite("tau", tau)
    silent_time = None if silent_time is None else check.finite("silent_time", silent_time)
    early_weight = check.nonnegative_finite("early_weight", early_weight)
    early_tau = check.positive_finite("early_tau", early_tau)
    k = _batch_layer(records, layer)
    flat = None if k is None else _output_batch(records, k, labels, silent_time)
    if flat is None:
        for b, (rec, label) in enumerate(zip(records, labels)):
            _naming_record(b, _checked_output, rec, label, layer)
        return [first_spike_cross_entropy(rec, label, tau=tau, layer=layer, silent_time=silent_time,
                                          early_weight=early_weight, early_tau=early_tau)
                for rec, label in zip(records, labels)]
    times, neurons, offsets, n_neurons, label_array, silent_times = flat
    values, layer_cotangents, silent = kernels.first_spike_cross_entropy_batch(
        times, neurons, offsets, n_neurons, label_array, tau, silent_times, early_weight, early_tau)
    bounds = offsets.tolist()  # Python ints: cheaper slicing than numpy scalars
    results = []
    for b, (rec, value) in enumerate(zip(records, values.tolist())):
        cotangents, counts = _zeros(rec)
        cotangents[k] = layer_cotangents[bounds[b]:bounds[b + 1]]
        results.append(LossResult(value, cotangents, counts, silent[b]))
    return results


def _output_batch(records: list, k: int, labels: list, silent_time: float | None) -> tuple | None:
    """The spikes of layer ``k`` of every record as flat arrays (times, neurons, offsets), their number of neurons,
    the labels (int64) and each sample's silent time, if the labels are ints in range, every record's ``t_max`` a
    float (when it is the silent time) and the spikes pass :func:`check.spike_trains_valid`; None otherwise (the
    per-sample path then raises the first error)."""
    trains = [r.layers[k] for r in records]
    n_neurons = getattr(trains[0], "n_neurons", None)
    if type(n_neurons) is not int or not _labels_in_range(labels, n_neurons):
        return None
    if silent_time is None:
        t_max = [r.t_max for r in records]
        if not all(type(t) is float for t in t_max):
            return None
        silent_times = np.array(t_max)
    else:
        silent_times = np.full(len(records), silent_time)
    if not check.spike_trains_valid(trains, n_neurons):
        return None
    times, neurons, offsets = _flat_trains(trains)
    return times, neurons, offsets, n_neurons, np.array(labels, dtype=np.int64), silent_times


def _labels_in_range(labels: list, n_classes: int) -> bool:
    """True if every label is a plain int (or int64) in [0, n_classes): what a batch loss takes without the
    per-sample checks."""
    return all(type(y) in (int, np.int64) and 0 <= y < n_classes for y in labels)


def _naming_record(b: int, checks: Callable, *args) -> object:
    """``checks(*args)`` of sample ``b`` of a batch; its ValueError or TypeError says which sample it was about."""
    try:
        return checks(*args)
    except (ValueError, TypeError) as error:
        if type(error) not in (ValueError, TypeError):  # the project's own subclasses keep their type and message
            raise
        raise type(error)(f"records[{b}]: {error}") from error


def latency_cross_entropy(rec: Record, label: int, *, beta: float = 1.0 / 6.0, lambda_nospike: float = 0.1,
                          t_run: float | None = None, layer: int | str = -1) -> LossResult:
    """ANTLR's latency loss (Kim et al. 2020): cross-entropy of softmax(z) with z_k = beta (t_run - t_k).

    A silent output neuron has logit 0 and no timing gradient. If the *label* neuron is silent, the no-spike
    penalty ``lambda_nospike`` is added to the value and its creation cotangent is -lambda_nospike at every
    time (adding a spike anywhere is what the loss asks for); this is the only activation signal of the loss.

    Parameters
    ----------
    rec : Record
    label : int
    beta : float
        Logit slope (1/ms), > 0. ANTLR uses 1/6 per grid step.
    lambda_nospike : float
        No-spike penalty, >= 0.
    t_run : float, optional
        Reference time T (ms) of the logits (default ``rec.t_max``).
    layer : int or str
        Output layer (default the last).

    Returns
    -------
    LossResult
    """
    beta = check.positive_finite("beta", beta)
    lambda_nospike = check.nonnegative_finite("lambda_nospike", lambda_nospike)
    k = _layer_index(rec, layer)
    spikes = rec.layers[k]
    label = _label(label, spikes.n_neurons)
    t_run = rec.t_max if t_run is None else check.finite("t_run", t_run)
    first = kernels.first_spike_index(spikes.neurons, spikes.n_neurons)  # spikes checked by _layer_index
    silent = first < 0
    t_first = spikes.times[np.maximum(first, 0)] if len(spikes) else np.zeros(spikes.n_neurons)
    value, d_logits = softmax_cross_entropy(np.where(silent, 0.0, beta * (t_run - t_first)), label)
    cotangents, counts = _zeros(rec)
    fired = ~silent
    cotangents[k][first[fired]] = -beta * d_logits[fired]
    terms = [None] * len(rec.layers)
    if silent[label] and lambda_nospike > 0.0:
        value += lambda_nospike
        push = np.zeros(spikes.n_neurons)
        push[label] = -lambda_nospike
        terms[k] = _constant_term(push)
    return LossResult(value, cotangents, counts, silent, creation_terms=terms)


def _constant_term(per_neuron: np.ndarray):
    """A creation term that does not depend on the time: ``per_neuron[j]`` for neuron j at any time."""

    def term(times: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
        if neurons is not None:
            return per_neuron[neurons]
        return np.broadcast_to(per_neuron, (np.size(times), per_neuron.size)).copy()

    return term


def spike_count_cross_entropy(rec: Record, label: int, *, scale: float = 1.0, layer: int | str = -1) -> LossResult:
    """Cross-entropy of softmax(scale * N) over output spike counts N (rate coding). Count cotangents only."""
    scale = check.positive_finite("scale", scale)
    k = _layer_index(rec, layer)
    counts = rec.layers[k].counts().astype(np.float64)
    label = _label(label, counts.size)
    value, d_logits = softmax_cross_entropy(scale * counts, label)
    cotangents, count_cot = _zeros(rec)
    count_cot[k] = scale * d_logits
    return LossResult(value, cotangents, count_cot)


def spike_count_mse(rec: Record, targets: np.ndarray, *, layer: int | str = -1) -> LossResult:
    """0.5 * sum_j (N_j - target_j)^2 over a layer's spike counts. Count cotangents only."""
    k = _layer_index(rec, layer)
    counts = rec.layers[k].counts().astype(np.float64)
    targets = check.float_array("targets", targets, shape=counts.shape)
    cotangents, count_cot = _zeros(rec)
    count_cot[k] = counts - targets
    return LossResult(float(0.5 * np.sum((counts - targets) ** 2)), cotangents, count_cot)


def spike_time_mse(rec: Record, targets: SpikeTrains, *, layer: int | str = -1,
                   missing_penalty: float = 1.0) -> LossResult:
    """0.5 * sum (t_k - t*_k)^2 over the k-th spike of each neuron paired with its k-th target spike (ms^2).

    Unpaired spikes (extra or missing) add ``missing_penalty`` each to the value and +/-missing_penalty to
    the count cotangent (no timing gradient exists for them).
    """
    k = _layer_index(rec, layer)
    spikes = rec.layers[k]
    if not isinstance(targets, SpikeTrains) or targets.n_neurons != spikes.n_neurons:
        raise ValueError(f"targets must be a SpikeTrains with n_neurons={spikes.n_neurons}")
    missing_penalty = check.nonnegative_finite("missing_penalty", missing_penalty)
    cotangents, count_cot = _zeros(rec)
    value = 0.0
    got_lists, want_lists = _indices_per_neuron(spikes), targets.to_lists()
    for j in range(spikes.n_neurons):
        got, want = got_lists[j], want_lists[j]
        n = min(got.size, want.size)
        diff = spikes.times[got[:n]] - want[:n]
        value += 0.5 * float(np.sum(diff ** 2))
        cotangents[k][got[:n]] = diff
        unpaired = got.size - want.size
        value += missing_penalty * abs(unpaired)
        count_cot[k][j] = missing_penalty * np.sign(unpaired)
    return LossResult(value, cotangents, count_cot)


def _indices_per_neuron(spikes: SpikeTrains) -> list[np.ndarray]:
    order = np.argsort(spikes.neurons, kind="stable")
    return np.split(order, np.cumsum(spikes.counts())[:-1])


def van_rossum_distance(rec: Record, target: SpikeTrains, *, tau: float = 10.0, layer: int | str = -1) -> LossResult:
    """Van Rossum distance between a layer's spikes and target spike trains (kernel e^{-t/tau}, ms).

    D = (1/tau) sum_j integral_0^inf (f_j(t) - g_j(t))^2 dt with f_j = sum_k e^{-(t - t_k)/tau} H(t - t_k);
    closed form: D = 1/2 sum_j sum_{a,b} s_a s_b e^{-|x_a - x_b|/tau} over the union of output (s = +1) and
    target (s = -1) spikes of neuron j. dD/dt_a = -(s_a/tau) sum_b s_b sign(t_a - x_b) e^{-|t_a - x_b|/tau}.
    """
    tau = check.positive_finite("tau", tau)
    k = _layer_index(rec, layer)
    spikes = rec.layers[k]
    if not isinstance(target, SpikeTrains) or target.n_neurons != spikes.n_neurons:
        raise ValueError(f"target must be a SpikeTrains with n_neurons={spikes.n_neurons}")
    cotangents, count_cot = _zeros(rec)
    value = 0.0
    got_lists, want_lists = _indices_per_neuron(spikes), target.to_lists()
    for j in range(spikes.n_neurons):
        got = got_lists[j]
        x = np.concatenate([spikes.times[got], want_lists[j]])
        s = np.concatenate([np.ones(got.size), -np.ones(want_lists[j].size)])
        if x.size == 0:
            continue
        delta = x[:, None] - x[None, :]
        kernel = np.exp(-np.abs(delta) / tau)
        value += 0.5 * float(s @ kernel @ s)
        grad = -(s[:got.size] / tau) * ((np.sign(delta[:got.size]) * kernel[:got.size]) @ s)
        cotangents[k][got] = grad
    n = spikes.n_neurons
    all_x = [np.concatenate([spikes.times[got_lists[j]], want_lists[j]]) for j in range(n)]
    all_s = [np.concatenate([np.ones(got_lists[j].size), -np.ones(want_lists[j].size)]) for j in range(n)]

    def added_spike_of(j: int, times: np.ndarray) -> np.ndarray:
        # exact change of D when neuron j gets one more spike at t: 1/2 + sum_b s_b e^{-|t - x_b|/tau}
        if not all_x[j].size:
            return np.full(times.size, 0.5)
        return 0.5 + np.exp(-np.abs(times[:, None] - all_x[j][None, :]) / tau) @ all_s[j]

    def added_spike(times: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64).ravel()
        if neurons is None:
            return np.stack([added_spike_of(j, times) for j in range(n)], axis=1)
        # per pair: each neuron's spikes against only the times asked of it
        out = np.empty(times.size)
        for j in np.unique(neurons):
            at = neurons == j
            out[at] = added_spike_of(int(j), times[at])
        return out

    terms = [None] * len(rec.layers)
    terms[k] = added_spike
    return LossResult(value, cotangents, count_cot, creation_terms=terms)


def spike_count_regularizer(rec: Record, *, strength: float, layers: list[int] | None = None) -> LossResult:
    """strength * (total number of spikes in the given layers, default all): a sparsity penalty.

    Its gradient is on counts only (exact timing gradients are blind to it; creation/removal methods see it).
    """
    strength = check.nonnegative_finite("strength", strength)
    layers = list(range(len(rec.layers))) if layers is None else [_layer_index(rec, k) for k in layers]
    cotangents, count_cot = _zeros(rec)
    value = 0.0
    for k in layers:
        value += strength * len(rec.layers[k])
        count_cot[k][:] = strength
    return LossResult(value, cotangents, count_cot)


def vmax_cross_entropy(rec: Record, readout, label: int, *, layer: int | str = -1) -> LossResult:
    """Cross-entropy of softmax(v_max) over the potential maxima of a leaky-integrator read-out
    (:class:`eventsnn.readout.LIReadout`) driven by one recorded layer: EventProp's MNIST loss.

    Parameters
    ----------
    rec : Record
    readout : LIReadout
        Its ``n_inputs`` must equal the size of ``layer``; maxima are taken over [0, ``rec.t_max``] ms.
    label : int
        Correct class.
    layer : int or str
        The recorded layer that drives the read-out (default the last).

    Returns
    -------
    LossResult
        ``cotangents`` on the driving layer's spike times (zeros elsewhere), the read-out's ``creation_terms``
        for that layer, ``readout_gradient`` = dL/dW of the read-out, and ``extra["v_max"]`` (the logits).
        Every class has a logit on every sample, so nothing is ``silent``.
    """
    from eventsnn.readout import LIReadout
    if not isinstance(readout, LIReadout):
        raise TypeError(f"readout must be an eventsnn.readout.LIReadout, got {type(readout).__name__}")
    k = _layer_index(rec, layer)
    spikes = rec.layers[k]
    label = _label(label, readout.n_classes)
    maxima = readout.maxima(spikes, rec.t_max)
    value, d_values = softmax_cross_entropy(maxima.values, label)
    cotangents, counts = _zeros(rec)
    cotangents[k], weight_grad = readout.backward(spikes, maxima, d_values)
    terms = [None] * len(rec.layers)
    terms[k] = readout.creation_term(maxima, d_values)
    return LossResult(value, cotangents, counts, np.zeros(readout.n_classes, dtype=bool),
                      extra={"v_max": maxima.values}, creation_terms=terms, readout_gradient=weight_grad)


def vmax_cross_entropy_batch(records: Sequence[Record], readout, labels: Sequence[int], *,
                             layer: int | str = -1) -> list[LossResult]:
    """:func:`vmax_cross_entropy` of every sample of a batch: ``[vmax_cross_entropy(r, readout, y, layer=layer)
    for r, y in zip(records, labels)]``, bit for bit, with the read-out's maxima and gradients of all samples
    computed in two compiled calls instead of two per sample.

    The records of a training step come from one :func:`eventsnn.simulate` call; they are checked a batch at a time
    (the driving spikes in one compiled pass). Anything unusual (records or labels of other types, a check that
    fails, a non-finite maximum) takes the per-sample path, which raises the error it raises for the first sample
    in order.

    Parameters
    ----------
    records : sequence of Record
    readout : LIReadout
    labels : sequence of int
        Correct class of each record.
    layer : int or str
        The recorded layer that drives the read-out (default the last).

    Returns
    -------
    list of LossResult
        One per record, equal to :func:`vmax_cross_entropy`'s (the samples' arrays may be views of shared
        buffers; the read-out weights of the creation terms are one copy shared by the batch).

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.readout import LIReadout
    >>> from eventsnn.losses import vmax_cross_entropy, vmax_cross_entropy_batch
    >>> net = es.Network.feedforward([2, 3], es.LIF(tau_mem=10.0, tau_syn=5.0), [np.full((2, 3), 3.0)])
    >>> readout = LIReadout(np.array([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.9]]), es.LIF(tau_mem=10.0, tau_syn=5.0))
    >>> records = es.simulate(net, [es.SpikeTrains([1.0], [0], 2), es.SpikeTrains([0.5, 2.0], [1, 0], 2)], 30.0)
    >>> batch = vmax_cross_entropy_batch(records, readout, [0, 1])
    >>> [b.value == vmax_cross_entropy(r, readout, y).value for b, r, y in zip(batch, records, [0, 1])]
    [True, True]
    """
    from eventsnn.readout import LIReadout, _creation_term
    records, labels = list(records), list(labels)
    if len(records) != len(labels):
        raise ValueError(f"got {len(records)} records but {len(labels)} labels")
    k = _batch_layer(records, layer)
    per_sample = k is None or not isinstance(readout, LIReadout) or not _labels_in_range(labels, readout.n_classes)
    trains = [] if per_sample else [r.layers[k] for r in records]
    t_max = [] if per_sample else [r.t_max for r in records]
    if not per_sample and records:
        per_sample = not (check.spike_trains_valid(trains, readout.n_inputs)
                          and all(type(t) is float and 0.0 < t < math.inf for t in t_max))
    if not per_sample and records:
        times, neurons, offsets = _flat_trains(trains)
        v_max, at, kinks = readout._batch_maxima(times, neurons, offsets, np.array(t_max))
        per_sample = not np.isfinite(v_max).all()  # softmax_cross_entropy's error, raised by the per-sample path
    if per_sample or not records:
        return [vmax_cross_entropy(r, readout, y, layer=layer) for r, y in zip(records, labels)]
    # the per-sample softmax, on each row of maxima (checked finite above)
    scored = [kernels.softmax_cross_entropy(v_max[b], int(y)) for b, y in enumerate(labels)]
    d_values = np.stack([d for _, d in scored])
    time_cot, weight_grads = readout._batch_backward(times, neurons, offsets, at, kinks, d_values)
    weights = readout._checked_weights().copy()  # the terms describe this step's network, even if weights change
    results = []
    for b, (rec, (value, d)) in enumerate(zip(records, scored)):
        cotangents, counts = _zeros(rec)
        cotangents[k] = time_cot[offsets[b]:offsets[b + 1]]
        terms = [None] * len(rec.layers)
        terms[k] = _creation_term(readout._params, weights, at[b], d)
        results.append(LossResult(value, cotangents, counts, np.zeros(readout.n_classes, dtype=bool),
                                  extra={"v_max": v_max[b]}, creation_terms=terms, readout_gradient=weight_grads[b]))
    return results


def _batch_layer(records: list, layer: int | str) -> int | None:
    """The index of ``layer`` in every record's layers if all records are plain Records of one layer layout and
    :func:`_index_only` accepts ``layer``; None otherwise (the per-sample path then raises its error)."""
    if not records or type(records[0]) is not Record or not isinstance(records[0].layer_names, list):
        return None
    names = records[0].layer_names
    if not all(type(r) is Record and r.layer_names == names and type(r.layers) is list
               and len(r.layers) == len(names) for r in records):
        return None
    try:
        return _index_only(records[0], layer)
    except (TypeError, ValueError):
        return None


def predict_first_spike(rec: Record, layer: int | str = -1) -> int:
    """Index of the earliest-firing neuron of a layer (ties: lowest index); -1 if the layer is silent."""
    spikes = rec.layers[_layer_index(rec, layer)]
    return int(spikes.neurons[0]) if len(spikes) else -1


# ------------------------------------------------------------------------------------------------------------------
# Classification losses by name: what the trainer, its evaluation and the command line need of each, in one table,
# so that adding a loss is one entry here instead of a branch in every place that decides on the loss name.

@dataclass(frozen=True)
class ClassificationLoss:
    """One classification loss of :class:`~eventsnn.training.Trainer` (``TrainConfig.loss``).

    Attributes
    ----------
    name : str
        The key of :data:`CLASSIFICATION_LOSSES` (``TrainConfig.loss``, ``--loss``).
    train : callable
        ``train(rec, label, config, readout) -> LossResult``: the training loss of one sample, its settings read
        from ``config`` (a :class:`~eventsnn.training.TrainConfig`; times in ms).
    evaluate : callable
        ``evaluate(rec, label, softmax_tau, latency_beta, readout) -> (value, logits)``: the reported loss of one
        sample without regularisers, and the logits the decision needs (None for spiking outputs).
    predict : callable
        ``predict(rec, logits) -> int``: the decided class; -1 (always wrong) when the outputs cannot decide.
    readout : bool
        The loss classifies a leaky-integrator read-out (``Task.readout``), not spiking outputs; it then decides
        at the end of the window.
    silent_remedy : bool
        Whether the trainer adds its silent-neuron remedy (``TrainConfig.silent_bump``); False for a loss whose
        own cotangent already asks a silent label neuron to fire.
    train_batch : callable, optional
        ``train_batch(records, labels, config, readout) -> list of LossResult``: ``train`` of every sample of a
        batch, bit for bit, in fewer calls (the trainer's step uses it when given).
    """

    name: str
    train: Callable
    evaluate: Callable
    predict: Callable
    readout: bool = False
    silent_remedy: bool = True
    train_batch: Callable | None = None

    def train_all(self, records: list, labels: Sequence[int], config, readout) -> list[LossResult]:
        """The training loss of every sample of a batch, in order: ``train_batch`` if the loss has one, else
        ``train`` sample by sample."""
        if self.train_batch is not None:
            return self.train_batch(records, labels, config, readout)
        return [self.train(rec, label, config, readout) for rec, label in zip(records, labels)]


def _one_hot(rec: Record, label: int) -> np.ndarray:
    targets = np.zeros(rec.layers[-1].n_neurons)
    targets[label] = 1.0
    return targets


def _predict_earliest(rec: Record, logits: np.ndarray | None) -> int:
    """Earliest first output spike (ties: lowest index); -1 without any output spike."""
    out = rec.layers[-1]
    return int(out.neurons[0]) if len(out) else -1


def _predict_most_spikes(rec: Record, logits: np.ndarray | None) -> int:
    """Most output spikes, ties going to the earliest first spike; -1 without any output spike."""
    out = rec.layers[-1]
    if not len(out):
        return -1
    counts = out.counts()
    first = first_spike_indices(out).astype(np.float64)
    first[counts < counts.max()] = np.inf
    return int(np.argmin(first))


def _predict_largest(rec: Record, logits: np.ndarray | None) -> int:
    return int(np.argmax(logits))


def _evaluate_vmax(rec: Record, label: int, softmax_tau: float, latency_beta: float, readout) -> tuple:
    if readout is None:
        raise ValueError("loss='vmax' needs the readout")
    # evaluation needs the logits only, not the read-out's gradients
    v_max = readout.maxima(rec.layers[-1], rec.t_max).values
    return softmax_cross_entropy(v_max, label)[0], v_max


CLASSIFICATION_LOSSES: dict[str, ClassificationLoss] = {loss.name: loss for loss in (
    ClassificationLoss(
        "first_spike",
        train=lambda rec, label, cfg, readout: first_spike_cross_entropy(
            rec, label, tau=cfg.softmax_tau, early_weight=cfg.early_weight, early_tau=cfg.early_tau),
        evaluate=lambda rec, label, softmax_tau, latency_beta, readout: (
            first_spike_cross_entropy(rec, label, tau=softmax_tau).value, None),
        predict=_predict_earliest,
        train_batch=lambda records, labels, cfg, readout: first_spike_cross_entropy_batch(
            records, labels, tau=cfg.softmax_tau, early_weight=cfg.early_weight, early_tau=cfg.early_tau)),
    ClassificationLoss(
        "latency",
        train=lambda rec, label, cfg, readout: latency_cross_entropy(
            rec, label, beta=cfg.latency_beta, lambda_nospike=cfg.lambda_nospike),
        evaluate=lambda rec, label, softmax_tau, latency_beta, readout: (
            latency_cross_entropy(rec, label, beta=latency_beta, lambda_nospike=0.0).value, None),
        predict=_predict_earliest),
    ClassificationLoss(
        "count",
        train=lambda rec, label, cfg, readout: spike_count_mse(rec, _one_hot(rec, label)),
        evaluate=lambda rec, label, softmax_tau, latency_beta, readout: (
            spike_count_mse(rec, _one_hot(rec, label)).value, None),
        predict=_predict_most_spikes, silent_remedy=False),
    ClassificationLoss(
        "vmax",
        train=lambda rec, label, cfg, readout: vmax_cross_entropy(rec, readout, label),
        evaluate=_evaluate_vmax, predict=_predict_largest, readout=True,
        train_batch=lambda records, labels, cfg, readout: vmax_cross_entropy_batch(records, readout, labels)),
)}
