"""Gradients through spike creation and removal: ``activation``, ``antlr`` and ``na`` (docs/gradient_methods.md).

The exact adjoint (``method="timing"``) differentiates spike *times*; it is blind to spikes that could appear
or disappear. The methods here add, per neuron, *candidate* times at which a spike could be created (grid
points or sub-threshold maxima of the exact V(t)) or removed (existing spikes), and inject a source into the
adjoint of V there. This module holds the methods' options, the construction of the sources from the candidates
(:class:`MethodSources`; ``_kernels/candidates.py`` finds the candidates) and NA's pricing; the adjoint sweep is
:func:`eventsnn.vjp`'s (``adjoint.py``, ``_kernels/backward.py``): the exact timing adjoint is the same sweep
without sources.

* ``"activation"`` (ANTLR's activation term, surrogate gradient): source
  ``lambda_activation * sigma'(V(t_c) - threshold) * width_c * G(t_c)`` with the surrogate
  ``sigma'(x) = scale * exp(-sharpness |x|)`` (ANTLR: scale 1, sharpness 3), where G(t_c) = dL/ds(t_c) is what
  one more spike at t_c would change: from the loss (:meth:`LossResult.creation_cotangent`), from the layer
  above (w * lambda_I of each target at t_c + delay), and, unless ``detach_reset``, the surrogate reset term
  -V(t_c) lambda_V(t_c+) (- I(t_c) lambda_I(t_c+) with reset_current), Yang 2020's "missing term".
  Timing cotangents are dropped (``lambda_timing = 0``) unless asked for.
* ``"antlr"``: both, ANTLR's weighted sum per neuron and time, propagated to the layer below by both routes:
  ``lambda_timing`` x exact timing adjoint + ``lambda_activation`` x activation sources. With
  lambda_activation = 0 it is the exact timing gradient (tested).
* ``"na"`` (neighbourhood aggregation as a perturbation estimator): for each candidate, the neuron alone is
  re-simulated exactly with the spike flipped (inputs fixed), the loss change dL is measured (exactly with
  ``loss_fn`` at the output layer, otherwise linearised through the layer above), and dL / d^power with the
  signed membrane distance d (threshold - V_max for a creation, -(overshoot margin) for a removal) is the
  source at the candidate.

Forms (``form=``): ``"grid"`` puts creation candidates on every grid point t_n = n * dt (ANTLR's grid,
backward pass only, width dt) plus removal candidates at existing spikes (width dt); ``"event"`` needs no grid:
creation candidates at the sub-threshold local maxima of V (width = Laplace width
sqrt(2 pi / (sharpness |V''|)), capped at ``max_width``) and removal candidates at spikes (width
1 / (sharpness V'), capped). NA always uses the event candidates.

All three work on layered feed-forward networks (the trainer's networks); they need the loss as a
:class:`~eventsnn.losses.LossResult` (which carries the creation cotangents).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from eventsnn import _validation as check
from eventsnn._kernels.candidates import event_candidates, layer_candidates, na_pairing, resimulate_candidates
from eventsnn._kernels.lif import P_RESET_CURRENT, P_THRESHOLD
from eventsnn.record import Record
from eventsnn.spikes import SpikeTrains

# The gradient methods by name, with the option defaults each one fills in (MethodOptions.resolved): the exact
# methods keep the timing term and the reset's dependence; the surrogate ones drop both, and "activation" puts its
# creation candidates on a grid as most surrogate trainers do.
METHOD_DEFAULTS = {
    "timing": {"lambda_timing": 1.0, "form": "event", "detach_reset": False},
    "activation": {"lambda_timing": 0.0, "form": "grid", "detach_reset": True},
    "antlr": {"lambda_timing": 1.0, "form": "event", "detach_reset": False},
    "na": {"lambda_timing": 0.0, "form": "event", "detach_reset": True},
}
METHODS = tuple(METHOD_DEFAULTS)
FORMS = ("grid", "event")


@dataclass(frozen=True)
class MethodOptions:
    """Parameters of the creation/removal gradient methods (times in ms).

    Attributes
    ----------
    lambda_timing : float or None
        Weight of the exact timing term (default: 1 for "antlr", 0 for "activation" and "na").
    lambda_activation : float
        Weight of the activation (surrogate) term (default 1).
    form : {"grid", "event"}
        Where creation candidates are (module docstring). Default "grid" for "activation", "event" otherwise.
    dt : float
        Grid step (ms) of the "grid" form.
    surrogate_scale, surrogate_sharpness : float
        sigma'(x) = surrogate_scale * exp(-surrogate_sharpness * |x|) (ANTLR: 1 and 3, x in threshold units).
    detach_reset : bool or None
        Drop the dependence through the reset (Yang 2020's missing term; ANTLR drops it). Default: False for
        "timing" and "antlr" (exact), True for "activation" (as most surrogate trainers) and "na".
    max_width : float
        Cap (ms) on the width of an event candidate.
    na_power : float
        NA divides the loss change by |d|^na_power (1 = plain finite difference, 3 = the NA code).
    na_min_distance : float
        Floor on |d| (threshold units) for NA.
    min_creation_surrogate : float
        Event candidates whose surrogate weight is below this are skipped (they would add nothing).
    """

    lambda_timing: float | None = None
    lambda_activation: float = 1.0
    form: str | None = None
    dt: float = 1.0
    surrogate_scale: float = 1.0
    surrogate_sharpness: float = 3.0
    detach_reset: bool | None = None
    max_width: float = 5.0
    na_power: float = 1.0
    na_min_distance: float = 0.05
    min_creation_surrogate: float = 1e-6

    def resolved(self, method: str) -> "MethodOptions":
        """Fill the method-dependent defaults and validate."""
        check.one_of("method", method, METHODS)
        defaults = METHOD_DEFAULTS[method]
        lam_t = self.lambda_timing if self.lambda_timing is not None else defaults["lambda_timing"]
        form = self.form if self.form is not None else defaults["form"]
        check.one_of("form", form, FORMS)
        detach = self.detach_reset if self.detach_reset is not None else defaults["detach_reset"]
        out = replace(self, lambda_timing=check.finite("lambda_timing", lam_t), form=form, detach_reset=bool(detach))
        check.finite("lambda_activation", out.lambda_activation)
        check.positive_finite("dt", out.dt)
        check.positive_finite("surrogate_scale", out.surrogate_scale)
        check.positive_finite("surrogate_sharpness", out.surrogate_sharpness)
        check.positive_finite("max_width", out.max_width)
        check.nonnegative_finite("na_power", out.na_power)
        check.positive_finite("na_min_distance", out.na_min_distance)
        check.nonnegative_finite("min_creation_surrogate", out.min_creation_surrogate)
        return out

    def surrogate(self, x: np.ndarray) -> np.ndarray:
        return self.surrogate_scale * np.exp(-self.surrogate_sharpness * np.abs(x))


OPTION_NAMES = tuple(MethodOptions.__dataclass_fields__)


def make_options(method: str, options: dict) -> MethodOptions:
    """MethodOptions from keyword options, rejecting unknown names with the list of valid ones."""
    check.known_options(f"method={method!r}", options, OPTION_NAMES)
    return MethodOptions(**options).resolved(method)


@dataclass
class _Candidates:
    """Candidate times of one layer, sorted by time (as ``layer_candidates`` returns them), plus what the
    sources need."""

    times: np.ndarray
    neurons: np.ndarray
    removal: np.ndarray     # bool: an existing spike (removal) or a creation candidate
    voltage: np.ndarray     # V(t_c) (threshold for removals)
    current: np.ndarray     # I(t_c-)
    width: np.ndarray       # ms
    distance: np.ndarray    # NA: signed membrane distance (threshold - V_max; -margin for removals); else empty
    # NA: the re-simulated train of candidate c's neuron is flipped_times[flipped_offsets[c]:flipped_offsets[c+1]]
    flipped_times: np.ndarray | None = None
    flipped_offsets: np.ndarray | None = None
    surrogate: np.ndarray | None = None  # sigma'(V - threshold) of each candidate, if computed already (event form)

    @classmethod
    def none(cls) -> "_Candidates":
        z = np.zeros(0)
        return cls(z, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), z, z, z, z)

    def flipped(self, c: int) -> np.ndarray:
        """NA: candidate c's re-simulated spike train (ms)."""
        return self.flipped_times[self.flipped_offsets[c]:self.flipped_offsets[c + 1]]


class MethodSources:
    """The candidate sources of a creation/removal method on one sample of a layered network.

    Built once per sample (candidates of every layer: a forward replay, ``_kernels/candidates.py``), then handed
    to the adjoint's layer loop (``adjoint._layered_vjp``), which asks, from the top layer down, for each layer's
    sources (:meth:`layer`) and reports what the layer's adjoint says a spike of the layer below is worth
    (:meth:`pass_down`).

    Parameters
    ----------
    rec : Record
        The sample (its network snapshot is layered feed-forward).
    loss : LossResult
        The sample's loss (creation cotangents of the output layer).
    method : {"activation", "antlr", "na"}
    opts : MethodOptions
        Resolved options (:meth:`MethodOptions.resolved`).
    layer_parameters : list of ndarray
        Kernel parameters of each layer (``Network.layer_parameters()``).
    arrivals : list of ndarray
        Arrival times (ms) at each layer: presynaptic spike times plus the connection's delay.
    loss_fn : callable, optional
        NA: ``loss_fn(record) -> float``, to measure the loss change of flipped output spikes exactly.
    """

    def __init__(self, rec: Record, loss, method: str, opts: MethodOptions, layer_parameters: list,
                 arrivals: list, *, loss_fn: Callable | None = None) -> None:
        snapshot = rec.network
        self.rec, self.loss, self.method, self.opts, self.loss_fn = rec, loss, method, opts, loss_fn
        self.params = layer_parameters
        self.arrivals = arrivals
        self.delays = [float(c.delays) for c in snapshot.connections]
        self.weights = [c.weights for c in snapshot.connections]
        pre_trains = [rec.inputs[snapshot.input_names[0]]] + list(rec.layers[:-1])
        n_layers = len(snapshot.connections)
        # with lambda_activation = 0 the activation term vanishes: the sweep runs without sources
        self.active = opts.lambda_activation != 0.0 or method == "na"
        self.candidates = [_layer_candidates(rec, k, arrivals[k], pre_trains[k].neurons, self.weights[k],
                                             layer_parameters[k], method, opts)
                           if self.active else _Candidates.none() for k in range(n_layers)]
        self.drive: list = [None] * n_layers  # G_ext at each candidate: from the loss (output layer) or layer above

    @property
    def n_candidates(self) -> list[int]:
        """Number of candidates per layer."""
        return [c.times.size for c in self.candidates]

    def layer(self, k: int, spike_cotangents: np.ndarray) -> tuple:
        """(sources, query_times, lambda_timing, detach_reset) of layer k for ``_kernels.backward.layer_backward``.

        ``spike_cotangents``: dL/dt of layer k's spikes, complete (the layers above are done).
        """
        cand = self.candidates[k]
        if self.active and k == len(self.candidates) - 1:
            self.drive[k] = _loss_drive(self.rec, self.loss, k, cand, self.method, self.loss_fn, spike_cotangents)
        gain, coef_v, coef_i = _gains(cand, self.params[k], self.method, self.opts)
        drive = self.drive[k] if self.drive[k] is not None else np.zeros(cand.times.size)
        below = self.candidates[k - 1] if (k > 0 and self.active) else None
        query = _query_times(below, self.delays[k]) if below is not None else np.zeros(0)
        return ((cand.times, cand.neurons, gain, drive, coef_v, coef_i), query, float(self.opts.lambda_timing),
                bool(self.opts.detach_reset))

    def pass_down(self, k: int, query: np.ndarray, lam_i_query: np.ndarray, spike_cotangents_below: np.ndarray) -> None:
        """Price the candidates of layer k - 1 from layer k's lambda_I at the query times (``layer``'s queries)."""
        if k == 0 or not self.active:
            return
        weights, delay = self.weights[k], self.delays[k]

        # what a spike of neuron i at time t is worth to layer k: sum_p W[i, p] lambda_I,p(t + delay)
        def worth(times: np.ndarray, neurons: np.ndarray) -> np.ndarray:
            rows = np.searchsorted(query, times + delay)
            return np.einsum("cp,cp->c", weights[neurons], lam_i_query[np.minimum(rows, query.size - 1)]) \
                if times.size else np.zeros(0)

        self.drive[k - 1] = _drive_from_above(self.candidates[k - 1], self.method, worth, spike_cotangents_below,
                                              self.rec.layers[k - 1])


# ------------------------------------------------------------------------------------------------------
# candidates

def _layer_candidates(rec: Record, k: int, arrival_times: np.ndarray, sources: np.ndarray, weights: np.ndarray,
                      params: np.ndarray, method: str, opts: MethodOptions) -> _Candidates:
    spikes = rec.layers[k]
    theta = params[P_THRESHOLD]
    use_grid = opts.form == "grid" and method != "na"
    grid = opts.dt * np.arange(1, int(np.floor(rec.t_max / opts.dt + 1e-9)) + 1) if use_grid else np.zeros(0)
    arrival_times, sources = np.ascontiguousarray(arrival_times), np.ascontiguousarray(sources)
    times, neurons, removal, voltage, current, slope, margin, curvature = layer_candidates(
        arrival_times, sources, weights, params, rec.t_max, spikes.times, spikes.neurons, grid, use_grid,
        method == "na")
    # removal candidates: every spike (V = threshold there); creation: grid points or sub-threshold maxima
    if use_grid:
        # NA never uses the grid: no membrane distance (it would cost ~20 us a sample)
        cand = _Candidates(times, neurons, removal, voltage, current, np.full(times.size, opts.dt), np.zeros(0))
    else:
        # the creations whose surrogate weight is too small to matter are dropped; the kept ones' weights are
        # those _gains needs
        surrogate = _surrogate(opts, voltage - theta)
        times, neurons, removal, voltage, current, width, distance, surrogate = event_candidates(
            times, neurons, removal, voltage, current, slope, margin, curvature, surrogate,
            opts.min_creation_surrogate, opts.surrogate_sharpness, opts.max_width, theta, method == "na")
        cand = _Candidates(times, neurons, removal, voltage, current, width, distance, surrogate=surrogate)
    if method == "na":
        cand.flipped_times, cand.flipped_offsets = resimulate_candidates(
            arrival_times, sources, weights, params, rec.t_max, spikes.times, spikes.neurons, cand.times,
            cand.neurons, cand.removal, cand.voltage, cand.current)
    return cand


def _surrogate(opts: MethodOptions, x: np.ndarray) -> np.ndarray:
    """``opts.surrogate(x)`` computed in ``x`` (a new array of the caller's): the same operations in the same
    order, without a new array per step."""
    np.abs(x, out=x)
    x *= -opts.surrogate_sharpness
    np.exp(x, out=x)
    x *= opts.surrogate_scale
    return x


def _query_times(below: _Candidates, delay: float) -> np.ndarray:
    times = below.times if below.flipped_times is None else np.concatenate([below.times, below.flipped_times])
    return np.unique(times + delay)


# ------------------------------------------------------------------------------------------------------
# sources

def _gains(cand: _Candidates, params: np.ndarray, method: str, opts: MethodOptions):
    """(gain, coef_v, coef_i) per candidate: lambda_V += gain * (drive + coef_v lambda_V + coef_i lambda_I)."""
    n = cand.times.size
    zeros = np.zeros(n)
    if n == 0:
        return zeros, zeros, zeros
    theta = params[P_THRESHOLD]
    if method == "na":
        d = cand.distance
        mag = np.maximum(np.abs(d), opts.na_min_distance) ** opts.na_power
        return np.where(cand.removal, -1.0, 1.0) / mag, zeros, zeros
    # lambda_activation * surrogate(V - threshold) * width, in place on one new array (the event form's candidates
    # carry their surrogate weights already)
    if cand.surrogate is not None:
        gain = cand.surrogate * opts.lambda_activation
    else:
        gain = _surrogate(opts, cand.voltage - theta)
        gain *= opts.lambda_activation
    gain *= cand.width
    if opts.detach_reset:
        return gain, zeros, zeros
    # surrogate reset term of a created spike (existing spikes: the exact reset dependence is in the jump)
    coef_v = np.where(cand.removal, 0.0, -cand.voltage)
    if opts.form == "event":
        # An event candidate stands for a window of width w of the continuous source density, whose reset part
        # d(lambda_V)/dt = sigma' V lambda_V integrates to the factor exp(-gain V), not (1 - gain V): with widths
        # of several ms the linear factor would exceed 1 in size and amplify the adjoint at every near-miss.
        # The grid form keeps ANTLR's discrete step (1 - sigma' V dt) exactly.
        safe = np.where(gain > 0.0, gain, 1.0)
        coef_v = np.where(cand.removal | (gain <= 0.0), coef_v, np.expm1(-gain * cand.voltage) / safe)
    coef_i = np.where(cand.removal, 0.0, -cand.current) if params[P_RESET_CURRENT] != 0.0 else zeros
    return gain, coef_v, coef_i


def _loss_drive(rec: Record, loss, k: int, cand: _Candidates, method: str, loss_fn, spike_cot: np.ndarray):
    """G_ext of the output layer's candidates, from the loss."""
    if cand.times.size == 0:
        return np.zeros(0)
    layer = rec.layers[k]

    def worth(times: np.ndarray, neurons: np.ndarray) -> np.ndarray:
        if times.size == 0:
            return np.zeros(0)
        return loss._creation_cotangent_at(k, times, neurons, layer.n_neurons)

    if method != "na" or loss_fn is None:
        return _drive_from_above(cand, method, worth, spike_cot, layer)
    # NA at the output with the loss itself: the exact loss change of each flipped neighbour
    base = float(loss.value)
    out = np.empty(cand.times.size)
    for c in range(cand.times.size):
        out[c] = float(loss_fn(_with_train(rec, k, int(cand.neurons[c]), cand.flipped(c)))) - base
    return out


def _drive_from_above(cand: _Candidates, method: str, worth: Callable, spike_cot: np.ndarray,
                      layer: SpikeTrains) -> np.ndarray:
    """Activation methods: G = worth(t_c). NA: linearised loss change of the flipped neighbour."""
    if method != "na":
        return worth(cand.times, cand.neurons)
    # pair each neighbour's spikes after t_c with the recorded ones (shifts cost cotangent x dt); the unpaired
    # ones, created or removed, are priced together by one call of worth
    paired, x_times, x_neurons, x_owner, x_sign = na_pairing(
        cand.times, cand.neurons, cand.flipped_times, cand.flipped_offsets, layer.times, layer.neurons,
        np.ascontiguousarray(spike_cot), layer.n_neurons)
    np.add.at(paired, x_owner, x_sign * worth(x_times, x_neurons))
    return paired


def _with_train(rec: Record, k: int, neuron: int, train: np.ndarray) -> Record:
    """A copy of ``rec`` in which neuron ``neuron`` of layer k fires ``train`` instead (other spikes kept)."""
    layer = rec.layers[k]
    keep = layer.neurons != neuron
    times = np.concatenate([layer.times[keep], train])
    neurons = np.concatenate([layer.neurons[keep], np.full(train.size, neuron, dtype=layer.neurons.dtype)])
    layers = list(rec.layers)
    layers[k] = SpikeTrains(times, neurons, layer.n_neurons, sort=True)
    return Record(layers, rec.inputs, rec.t_max, rec.network)
