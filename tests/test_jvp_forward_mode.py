"""A second, independent route to the exact gradient: forward-mode (tangent) derivatives of every spike time.

The adjoint (``es.vjp``) runs backwards over the record. This test runs forwards: it visits every recorded spike in
time order and applies the implicit function theorem at its threshold crossing, V_j(t_k) = theta, so

    dt_k = -(dV_j/dtheta-direction at fixed t_k) / V_j'(t_k),

where V_j(t_k) is rebuilt from scratch as a dual number (value, tangent) by replaying neuron j's closed-form
trajectory over its arrivals (times = presynaptic spike times + delays, both with tangents), its own earlier
resets (with tangents) and refractory holds. Nothing is shared with the engine or the adjoint code: the closed form
is written out here, derivatives come from dual arithmetic. For a random direction d over all parameters
(weights, delays, biases, input spike times) and random cotangents c on all spike times, reverse and forward mode
must agree: c . (J d) = vjp(c) . d, to 1e-11 relative (measured: 1e-16 to 5e-15).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import eventsnn as es
from test_adjoint import NEURONS, T_MAX, _inputs, _layered, _recurrent


class Dual:
    """A number with one tangent: value + eps * tangent, eps^2 = 0."""

    __slots__ = ("val", "der")

    def __init__(self, val: float, der: float = 0.0) -> None:
        self.val, self.der = float(val), float(der)

    @staticmethod
    def of(x) -> "Dual":
        return x if isinstance(x, Dual) else Dual(x)

    def __add__(self, other):
        other = Dual.of(other)
        return Dual(self.val + other.val, self.der + other.der)

    __radd__ = __add__

    def __sub__(self, other):
        other = Dual.of(other)
        return Dual(self.val - other.val, self.der - other.der)

    def __rsub__(self, other):
        return Dual.of(other) - self

    def __neg__(self):
        return Dual(-self.val, -self.der)

    def __mul__(self, other):
        other = Dual.of(other)
        return Dual(self.val * other.val, self.der * other.val + self.val * other.der)

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = Dual.of(other)
        return Dual(self.val / other.val, (self.der * other.val - self.val * other.der) / other.val ** 2)


def dexp(x: Dual) -> Dual:
    e = math.exp(x.val)
    return Dual(e, e * x.der)


class NeuronReplay:
    """Closed-form trajectory of one LIF neuron as dual numbers: tau_mem V' = -(V - b) + I, tau_syn I' = -I."""

    def __init__(self, lif: es.LIF, bias: Dual) -> None:
        self.lif, self.bias = lif, bias
        self.t, self.v, self.i = Dual(0.0), Dual(0.0), Dual(0.0)
        self.held_until: Dual | None = None

    def _free(self, duration: Dual) -> None:
        tm, ts = self.lif.tau_mem, self.lif.tau_syn
        em, es_ = dexp(-duration / tm), dexp(-duration / ts)
        kernel = (duration / tm) * em if tm == ts else (ts / (ts - tm)) * (es_ - em)
        self.v = self.bias + (self.v - self.bias) * em + self.i * kernel
        self.i = self.i * es_

    def advance(self, target: Dual) -> None:
        if self.held_until is not None and self.held_until.val > self.t.val:
            end = self.held_until if self.held_until.val < target.val else target
            self.i = self.i * dexp(-(end - self.t) / self.lif.tau_syn)  # V held at 0: only I decays
            self.t = end
            if end is target:
                return
        self._free(target - self.t)
        self.t = target

    def arrival(self, time: Dual, weight: Dual) -> None:
        self.advance(time)
        self.i = self.i + weight

    def reset(self, time: Dual) -> None:
        self.advance(time)
        self.v = Dual(0.0)
        if self.lif.reset_current:
            self.i = Dual(0.0)
        if self.lif.refractory > 0.0:
            self.held_until = time + self.lif.refractory


def spike_time_tangents(net: es.Network, rec, inputs: es.SpikeTrains, direction: dict) -> list[np.ndarray]:
    """dt/d(direction) of every recorded spike, aligned with ``rec.layers[k].times``."""
    times = {name: [Dual(t, d) for t, d in zip(inputs.times, direction["input_times"])]
             for name in net.input_names}
    spikes = {name: rec.population(name) for name in list(net.input_names) + list(net.layer_names)}
    for p, name in enumerate(net.layer_names):
        times[name] = [None] * len(spikes[name])
    order = sorted((float(spikes[name].times[m]), p, m) for p, name in enumerate(net.layer_names)
                   for m in range(len(spikes[name])))
    for t_k, p, m in order:
        name = net.layer_names[p]
        lif = net.populations[name].neuron
        j = int(spikes[name].neurons[m])
        events = []  # (value, kind, time dual, weight dual)
        for c_index, c in enumerate(net.connections):
            if c.post != name:
                continue
            pre = spikes[c.pre]
            for q in range(len(pre)):
                src = int(pre.neurons[q])
                delay_value = c.delays if c.has_scalar_delay else c.delays[src, j]
                if pre.times[q] + delay_value >= t_k:
                    continue  # arrives after this spike (its tangent may not be known yet)
                if c.has_scalar_delay:
                    delay = Dual(c.delays, direction["delays"][c_index])
                else:
                    delay = Dual(c.delays[src, j], direction["delays"][c_index][src, j])
                arrival = times[c.pre][q] + delay
                weight = Dual(c.weights[src, j], direction["weights"][c_index][src, j])
                events.append((arrival.val, 1, arrival, weight))
        own = spikes[name]
        for q in range(m):
            if int(own.neurons[q]) == j:
                events.append((times[name][q].val, 0, times[name][q], None))
        replay = NeuronReplay(lif, Dual(lif.bias, direction["biases"][p]))
        for _, kind, when, weight in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 1:
                replay.arrival(when, weight)
            else:
                replay.reset(when)
        replay.advance(Dual(t_k))  # the crossing time itself held fixed: partial derivatives at t_k
        slope = (-(replay.v.val - replay.bias.val) + replay.i.val) / lif.tau_mem
        assert abs(replay.v.val - lif.threshold) < 1e-9, "replay must reach threshold at the recorded spike"
        assert slope > 0.0
        times[name][m] = Dual(t_k, -replay.v.der / slope)
    return [np.array([d.der for d in times[name]]) for name in net.layer_names]


def _direction(net: es.Network, inputs: es.SpikeTrains, rng) -> dict:
    return {
        "weights": [rng.normal(size=c.weights.shape) for c in net.connections],
        "delays": [(rng.normal() if c.delays > 0.0 else 0.0) if c.has_scalar_delay
                   else rng.normal(size=c.delays.shape) * (c.delays > 0.0) for c in net.connections],
        "biases": [rng.normal() for _ in net.layer_names],
        "input_times": rng.normal(size=len(inputs)) * (inputs.times > 0.0),
    }


def _directional(grads, inputs_name: str, direction: dict) -> float:
    total = sum(float(np.sum(g * d)) for g, d in zip(grads.weights, direction["weights"]))
    total += sum(float(np.sum(np.asarray(g) * np.asarray(d))) for g, d in zip(grads.delays, direction["delays"]))
    total += sum(g * d for g, d in zip(grads.biases, direction["biases"]))
    return total + float(np.dot(grads.input_times[inputs_name], direction["input_times"]))


def _compare(net, seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):  # first input draw (deterministic) that makes every population spike
        inputs = _inputs(rng, net.populations[net.input_names[0]].size)
        rec = es.simulate(net, inputs, T_MAX, n_threads=1)
        if all(len(layer) > 0 for layer in rec.layers):
            break
    assert all(len(layer) > 0 for layer in rec.layers), "test network must spike in every population"
    cotangents = [rng.normal(size=len(layer)) for layer in rec.layers]
    direction = _direction(net, inputs, rng)
    tangents = spike_time_tangents(net, rec, inputs, direction)
    forward = sum(float(np.dot(c, t)) for c, t in zip(cotangents, tangents))
    reverse = _directional(es.vjp(net, rec, cotangents), net.input_names[0], direction)
    scale = sum(float(np.dot(np.abs(c), np.abs(t))) for c, t in zip(cotangents, tangents))
    assert scale > 1.0  # the spikes do depend on the direction: the test can fail
    assert reverse == pytest.approx(forward, rel=1e-11, abs=1e-11 * scale)


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_forward_mode_equals_adjoint_layered(kind):
    rng = np.random.default_rng(100 + sorted(NEURONS).index(kind))
    _compare(_layered(rng, NEURONS[kind]), seed=int(rng.integers(1 << 30)))


@pytest.mark.parametrize("per_synapse_delays", [False, True], ids=["scalar_delays", "per_synapse_delays"])
@pytest.mark.parametrize("kind", ["mem=2syn", "equal", "refr+reset_current+bias"])
def test_forward_mode_equals_adjoint_recurrent(kind, per_synapse_delays):
    rng = np.random.default_rng(200 + sorted(NEURONS).index(kind) + 10 * per_synapse_delays)
    _compare(_recurrent(rng, NEURONS[kind], per_synapse_delays), seed=int(rng.integers(1 << 30)))


def test_a_wrong_tangent_is_caught():
    """Perturb the forward-mode tangent of one spike by one part in 1e8: the comparison must fail."""
    rng = np.random.default_rng(7)
    net = _layered(rng, NEURONS["generic"])
    inputs = _inputs(rng, 6)
    rec = es.simulate(net, inputs, T_MAX, n_threads=1)
    cotangents = [rng.normal(size=len(layer)) for layer in rec.layers]
    direction = _direction(net, inputs, rng)
    tangents = spike_time_tangents(net, rec, inputs, direction)
    reverse = _directional(es.vjp(net, rec, cotangents), net.input_names[0], direction)
    forward = sum(float(np.dot(c, t)) for c, t in zip(cotangents, tangents))
    assert reverse == pytest.approx(forward, rel=1e-11)
    k = int(np.argmax(np.abs(cotangents[1] * tangents[1])))
    tangents[1][k] *= 1.0 + 1e-8
    perturbed = sum(float(np.dot(c, t)) for c, t in zip(cotangents, tangents))
    assert reverse != pytest.approx(perturbed, rel=1e-11)
