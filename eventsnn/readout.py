"""Leaky-integrator read-out layer classified by its potential maximum (EventProp's MNIST read-out).

The read-out neurons are current-based LIF neurons *without* threshold, driven by the spikes of one recorded
layer (usually the last hidden layer)::

    V_c(t) = sum over spikes s of that layer:  W[j_s, c] k(t - t_s)        (k: eq. 5 of docs/theory.md)

and class c's logit is ``v_max_c = max over t in [0, t_max] of V_c(t)``, found exactly (candidates: t = 0, every
spike time, the one stationary point of each gap between spikes, t_max). A read-out gives every class a graded
score on every sample, so no class can fall silent the way spiking outputs do under a first-spike loss
(docs/results.md, MNIST).

Gradients (envelope theorem). At a stationary maximum or at an end of the window, d v_max / dp is the partial
derivative of V_c(t*) with t* held fixed: dv/dW[j, c] = sum over spikes of j before t* of k(t* - t_s), and
dv/dt_s = -W[j_s, c] k'(t* - t_s). When the maximum sits at a kink (an inhibitory spike arriving while V_c
rises) t* moves with that spike, whose time then gets V_c'(t*-) instead. These time cotangents feed
:func:`eventsnn.vjp` for the spiking layers below; ``LIReadout.creation_term`` gives the creation/removal
gradient methods the change of the loss if a spike were added at time t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels import readout as _kernels
from eventsnn.neuron import LIF
from eventsnn.spikes import SpikeTrains

if TYPE_CHECKING:  # the network module imports this one for its type hints
    from eventsnn.network import Network


@dataclass
class ReadoutMaxima:
    """Potential maxima of the read-out neurons for one sample.

    Attributes
    ----------
    values : ndarray, shape (n_classes,)
        v_max of each read-out neuron (dimensionless voltage); the class logits.
    times : ndarray, shape (n_classes,)
        Time (ms) at which each maximum is reached.
    kinks : ndarray of int, shape (n_classes,)
        Index into the driving spikes of the spike at which the maximum sits, -1 if it is at 0, at a stationary
        point or at t_max.
    """

    values: np.ndarray
    times: np.ndarray
    kinks: np.ndarray


class LIReadout:
    """Non-spiking leaky-integrator output layer whose logits are the potential maxima.

    Parameters
    ----------
    weights : array_like, shape (n_inputs, n_classes)
        Weight of presynaptic neuron j onto read-out neuron c (same units as network weights: a spike adds
        ``weights[j, c]`` to the read-out's synaptic current).
    neuron : LIF
        Time constants (ms) and bias of the read-out neurons; threshold, reset and refractoriness are unused.

    Examples
    --------
    >>> import numpy as np, eventsnn as es
    >>> from eventsnn.readout import LIReadout
    >>> readout = LIReadout(np.array([[1.0, -1.0]]), es.LIF(tau_mem=10.0, tau_syn=5.0))
    >>> m = readout.maxima(es.SpikeTrains([1.0], [0], 1), t_max=50.0)
    >>> round(float(m.values[0]), 4), round(float(m.times[0]), 4), float(m.values[1])
    (0.25, 7.9315, 0.0)
    """

    def __init__(self, weights: np.ndarray, neuron: LIF | None = None) -> None:
        weights = check.float_array("weights", weights, ndim=2)
        if weights.shape[0] < 1 or weights.shape[1] < 1:
            raise ValueError(f"weights must have shape (n_inputs, n_classes) with both >= 1, got {weights.shape}")
        if neuron is None:
            neuron = LIF()
        if not isinstance(neuron, LIF):
            raise TypeError(f"neuron must be an eventsnn.LIF, got {type(neuron).__name__}")
        self._weights = check.parameter_array("weights", weights, shape=weights.shape)
        self.neuron = neuron
        self._params = neuron.kernel_parameters()

    @property
    def weights(self) -> np.ndarray:
        """Read-out weights, shape (n_inputs, n_classes). Assigning validates (shape fixed, finite, |w| <= 1e100)
        and copies; writes into the array (an optimizer's update) are re-checked before each kernel call."""
        return self._weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        self._weights = check.parameter_array("readout weights", value, shape=self._weights.shape)

    def _checked_weights(self) -> np.ndarray:
        check.kernel_array("readout weights", self._weights, np.float64, self._weights.shape)
        check.parameter_values("readout weights", self._weights)
        return self._weights

    def _checked_maxima(self, maxima: ReadoutMaxima, n_spikes: int) -> ReadoutMaxima:
        """``maxima`` as :meth:`maxima` returns them for spikes of ``n_spikes`` spikes (kinks index those spikes)."""
        if not isinstance(maxima, ReadoutMaxima):
            raise TypeError(f"maxima must be an eventsnn.readout.ReadoutMaxima, got {type(maxima).__name__}")
        times = check.float_array("maxima.times", maxima.times, shape=(self.n_classes,))
        kinks = np.asarray(maxima.kinks)
        if kinks.shape != (self.n_classes,) or kinks.dtype.kind not in "iu":
            raise ValueError(f"maxima.kinks must be {self.n_classes} integers, "
                             f"got {kinks.dtype} of shape {kinks.shape}")
        kinks = np.ascontiguousarray(kinks, dtype=np.int64)
        if kinks.size and (kinks.min() < -1 or kinks.max() >= n_spikes):
            raise ValueError(f"maxima.kinks must index the {n_spikes} driving spikes (or be -1), got "
                             f"{kinks.min() if kinks.min() < -1 else kinks.max()}; were the maxima computed from "
                             "these spikes?")
        return ReadoutMaxima(check.float_array("maxima.values", maxima.values, shape=(self.n_classes,)), times, kinks)

    @property
    def n_inputs(self) -> int:
        """Number of driving neurons (rows of ``weights``)."""
        return int(self.weights.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of read-out units, one per class (columns of ``weights``)."""
        return int(self.weights.shape[1])

    def source_in(self, net: Network) -> str:
        """The population of ``net`` that drives this read-out: its last layer, which must have ``n_inputs``
        neurons (ValueError otherwise); for code that stores or exports a network with its read-out."""
        source = net.layer_names[-1]
        if self.n_inputs != net.populations[source].size:
            raise ValueError(f"the read-out has {self.n_inputs} inputs but the last population {source!r} has "
                             f"{net.populations[source].size} neurons")
        return source

    def __repr__(self) -> str:
        return (f"LIReadout({self.n_inputs} -> {self.n_classes}, tau_mem={self.neuron.tau_mem} ms, "
                f"tau_syn={self.neuron.tau_syn} ms)")

    def _checked(self, spikes: SpikeTrains) -> SpikeTrains:
        if not isinstance(spikes, SpikeTrains):
            raise TypeError(f"spikes must be an eventsnn.SpikeTrains, got {type(spikes).__name__}")
        if spikes.n_neurons != self.n_inputs:
            raise ValueError(f"the read-out has {self.n_inputs} inputs but the spikes come from "
                             f"{spikes.n_neurons} neurons")
        check.spike_arrays("spikes", spikes)  # the kernels index weights by spikes.neurons
        return spikes

    def maxima(self, spikes: SpikeTrains, t_max: float) -> ReadoutMaxima:
        """Exact maximum over [0, t_max] ms of every read-out potential for one sample's spikes."""
        spikes = self._checked(spikes)
        t_max = check.positive_finite("t_max", t_max)
        values = np.empty(self.n_classes)
        times = np.empty(self.n_classes)
        kinks = np.empty(self.n_classes, dtype=np.int64)
        _kernels.potential_maxima(spikes.times, spikes.neurons, self._checked_weights(), t_max, self._params,
                                  values, times, kinks)
        return ReadoutMaxima(values, times, kinks)

    def potentials(self, spikes: SpikeTrains, times: np.ndarray) -> np.ndarray:
        """Exact read-out potentials V_c at the given times (ms); shape (len(times), n_classes)."""
        spikes = self._checked(spikes)
        times = check.float_array("times", times, ndim=1)
        out = np.empty((times.size, self.n_classes))
        _kernels.potentials_at(spikes.times, spikes.neurons, self._checked_weights(), self._params, times, out)
        return out

    def backward(self, spikes: SpikeTrains, maxima: ReadoutMaxima,
                 value_cotangents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pull dL/dv_max back to the driving spikes and the read-out weights.

        Returns
        -------
        time_cotangents : ndarray, shape (len(spikes),)
            dL/dt_s (1/ms) for every driving spike, aligned with ``spikes.times``.
        weight_gradient : ndarray, shape (n_inputs, n_classes)
            dL/dW.
        """
        spikes = self._checked(spikes)
        maxima = self._checked_maxima(maxima, len(spikes))
        g = check.float_array("value_cotangents", value_cotangents, shape=(self.n_classes,))
        time_cot = np.zeros(len(spikes))
        weight_grad = np.zeros_like(self.weights)
        _kernels.maxima_backward(spikes.times, spikes.neurons, self._checked_weights(), self._params, maxima.times,
                                 maxima.kinks, g, time_cot, weight_grad)
        return time_cot, weight_grad

    def creation_term(self, maxima: ReadoutMaxima, value_cotangents: np.ndarray):
        """The read-out's part of :meth:`LossResult.creation_cotangent`: first-order change of the loss if
        presynaptic neuron j fired one more spike at time t (ms).

        Returns
        -------
        callable
            ``term(times, neurons=None)``: shape (len(times), n_inputs) for every neuron at each time, or, given
            ``neurons`` (one index in [0, n_inputs) per time), shape (len(times),) for neuron ``neurons[i]`` at
            ``times[i]`` at a cost of n_classes per pair instead of n_inputs x n_classes.
        """
        if not isinstance(maxima, ReadoutMaxima):
            raise TypeError(f"maxima must be an eventsnn.readout.ReadoutMaxima, got {type(maxima).__name__}")
        g = check.float_array("value_cotangents", value_cotangents, shape=(self.n_classes,)).copy()
        t_star = check.float_array("maxima.times", maxima.times, shape=(self.n_classes,)).copy()
        weights = self._checked_weights().copy()  # the term describes this step's network, even if weights change
        return _creation_term(self._params, weights, t_star, g)

    def _batch_maxima(self, times: np.ndarray, neurons: np.ndarray, offsets: np.ndarray,
                      t_max: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`maxima` of every sample of a batch in one compiled call: rows b of (values, times, kinks), each
        shape (n_samples, n_classes), for the spikes ``[offsets[b], offsets[b + 1])`` of the flat arrays and the
        window ``t_max[b]`` (ms). The caller has checked the spikes (as :meth:`maxima` does) and ``t_max``."""
        shape = (offsets.size - 1, self.n_classes)
        values, at, kinks = np.empty(shape), np.empty(shape), np.empty(shape, dtype=np.int64)
        _kernels.batch_potential_maxima(times, neurons, offsets, self._checked_weights(), t_max, self._params,
                                        values, at, kinks)
        return values, at, kinks

    def _batch_backward(self, times: np.ndarray, neurons: np.ndarray, offsets: np.ndarray, at: np.ndarray,
                        kinks: np.ndarray, value_cotangents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`backward` of every sample of a batch in one compiled call, from :meth:`_batch_maxima`'s times and
        kinks and finite dL/dv_max rows: (dL/dt of every spike of the flat arrays, dL/dW of each sample, shape
        (n_samples, n_inputs, n_classes))."""
        time_cot = np.zeros(times.size)
        weight_grads = np.zeros((offsets.size - 1,) + self._weights.shape)
        _kernels.batch_maxima_backward(times, neurons, offsets, self._checked_weights(), self._params, at, kinks,
                                       value_cotangents, time_cot, weight_grads)
        return time_cot, weight_grads

    def predict(self, spikes: SpikeTrains, t_max: float) -> int:
        """Class with the largest potential maximum (ties: lowest index)."""
        return int(np.argmax(self.maxima(spikes, t_max).values))


def _creation_term(params: np.ndarray, weights: np.ndarray, t_star: np.ndarray, g: np.ndarray):
    """The callable of :meth:`LIReadout.creation_term` for checked copies of the read-out ``weights``, the maxima's
    times ``t_star`` (ms) and dL/dv_max ``g`` (nothing writes into them: samples of a batch may share ``weights``)."""

    def term(times: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
        times = check.float_array("times", times).ravel()
        if neurons is None:
            out = np.zeros((times.size, weights.shape[0]))
            _kernels.creation_values(times, t_star, params, weights, g, out)
            return out
        # the kernel indexes weights[neurons[q]] unchecked, so the indices are checked here
        neurons = check.index_array("neurons", neurons, weights.shape[0], size=times.size)
        out = np.empty(times.size)
        _kernels.creation_values_at(times, neurons, t_star, params, weights, g, out)
        return out

    return term


def init_readout_weights(n_inputs: int, n_classes: int, rng: np.random.Generator, *, expected_spikes: float,
                         neuron: LIF, logit_std: float = 1.0) -> np.ndarray:
    """Zero-mean Gaussian read-out weights whose logits start with a spread of about ``logit_std``.

    With ``expected_spikes`` driving spikes per sample, about half of them overlap at a potential's peak
    (PSP peak ``neuron.psp_peak()``), so std = logit_std / (psp_peak sqrt(expected_spikes / 2)).
    """
    n_inputs = check.integer("n_inputs", n_inputs, minimum=1)
    n_classes = check.integer("n_classes", n_classes, minimum=1)
    expected_spikes = check.positive_finite("expected_spikes", expected_spikes)
    std = check.positive_finite("logit_std", logit_std) / (neuron.psp_peak() * np.sqrt(max(expected_spikes / 2, 1.0)))
    return rng.normal(0.0, std, (int(n_inputs), int(n_classes)))
