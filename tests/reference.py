"""An independent, slow reference simulator for current-based LIF networks (tests only).

Written from the model equations alone; it imports nothing from ``eventsnn._kernels`` and shares none of the
engine's solver logic. It reads the network description (``eventsnn.Network``: populations, connections,
``LIF`` parameters) and the input spikes, nothing else.

Model (times in ms)::

    tau_mem dV/dt = -V + I + bias,     tau_syn dI/dt = -I,     arrival of weight w after its delay: I += w

A spike is emitted when V reaches ``threshold`` from below; then V := 0 ("zero") or V := V - threshold
("subtract"), I := 0 if ``reset_current``, and V is held at 0 for ``refractory`` ms while I keeps decaying and
integrating arrivals. V(0) = I(0) = 0. Spikes are counted in the closed window [0, t_max].

Closed form of a free trajectory from (V0, I0) after s ms (derived here)::

    I(s) = I0 e^{-s/ts}
    V(s) = b + (V0 - b) e^{-s/tm} + I0 K(s)
    K(s) = ts/(tm - ts) (e^{-s/tm} - e^{-s/ts}) = ts/(tm - ts) e^{-s/tm} (1 - e^{-s (tm - ts)/(tm ts)})
         = (s/tm) e^{-s/tm}                                     in the limit tm == ts

(the middle form is evaluated with ``expm1``, so it has no cancellation for any tm != ts).

Method: a global event loop. Each neuron keeps the state right after its last event (lazy propagation). The
next event is the earliest of (a) the first threshold crossing of any neuron before the next pending delivery
(and t_max) and (b) that delivery. Crossings are *located by brute force*: the analytic V(t) is sampled on a
uniform grid of step <= ``STEP`` ms; a crossing is a sample with V >= threshold, or a local maximum between two
samples (dV/dt changes sign from + to -, located by bisection on dV/dt) with V >= threshold. The first such
bracket is then bisected on V - threshold to ``ROOT_TOL`` ms. No assumption on the number of extrema is made.

Tie rules (as documented in ``eventsnn/_kernels/heap.py``): at equal times neuron events come before
deliveries (a crossing exactly at an arrival time fires first, then the arrival is applied after the reset);
equal-time crossings of several neurons fire in increasing neuron order (populations in the order they were
added, then index); deliveries at equal times are applied in insertion order. The end of a refractory period
needs no explicit event here: applying an arrival at exactly that time before or after it gives the same state.

Known limits (documented, by construction irrelevant for the random tests):

* an excursion above threshold that starts and ends between two samples *and* contains two sign changes of
  dV/dt within one step is missed (impossible for this model, whose dV/dt has at most one zero, but the
  reference does not rely on that);
* grazing touches within ~1e-13 (in V) of the threshold may be decided either way;
* a crossing within ``TIE_V_TOL`` in V below threshold at the end of a search interval (a delivery time or
  t_max) with dV/dt > 0 is treated as an exact crossing at that time ("crossing exactly at an arrival fires
  first"; "a crossing exactly at t_max counts"): an engine spike time fed back as an input time or as t_max is
  reproduced only to rounding by this closed form. This moves a spike by at most ~TIE_V_TOL / slope;
* spike times are accurate to ~1e-13 ms plus rounding of V divided by the slope at the crossing.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field

import numpy as np

STEP = 0.02          # ms, maximal sampling step
ROOT_TOL = 1e-13     # ms, bisection tolerance
TIE_V_TOL = 1e-12    # V tolerance for "crossing exactly at a delivery time"


# ----------------------------------------------------------------------------------------------------------
# closed-form free trajectory
def kernel(s, tm, ts):
    """K(s): response of V to a unit step of I at s = 0 (works on floats and arrays)."""
    s = np.asarray(s, dtype=np.float64)
    if tm == ts:
        return (s / tm) * np.exp(-s / tm)
    return ts / (tm - ts) * np.exp(-s / tm) * (-np.expm1(-s * (tm - ts) / (tm * ts)))


def free_state(s, v0, i0, neuron):
    """(V, I) after s >= 0 ms of free evolution from (v0, i0)."""
    s = np.asarray(s, dtype=np.float64)
    tm, ts, b = neuron.tau_mem, neuron.tau_syn, neuron.bias
    v = b + (v0 - b) * np.exp(-s / tm) + i0 * kernel(s, tm, ts)
    i = i0 * np.exp(-s / ts)
    return v, i


def free_voltage(s, v0, i0, neuron):
    return free_state(s, v0, i0, neuron)[0]


def free_slope(s, v0, i0, neuron):
    v, i = free_state(s, v0, i0, neuron)
    return (-v + i + neuron.bias) / neuron.tau_mem


def state_peaking_at(t_peak, v_peak, bias, tau_mem, tau_syn):
    """(V0, I0) whose free trajectory has dV/dt = 0 at ``t_peak`` (ms) with V(t_peak) = ``v_peak``: a maximum
    touching ``v_peak`` (a grazing touch when ``v_peak`` is the threshold), exact up to rounding. dV/dt = 0 at t_peak
    means V(t_peak) = I(t_peak) + bias, which gives I0; V0 follows from V(t_peak)."""
    i0 = (v_peak - bias) * math.exp(t_peak / tau_syn)
    v0 = bias + (v_peak - bias - i0 * float(kernel(t_peak, tau_mem, tau_syn))) * math.exp(t_peak / tau_mem)
    return v0, i0


def local_maxima(grid, v, i, v0, i0, neuron, iterations):
    """Brackets (lo, hi) of every local maximum of the free V strictly between two samples of ``grid`` (where dV/dt
    changes from > 0 to <= 0; ``v``, ``i`` are the state on the grid), each narrowed by ``iterations`` bisections
    on dV/dt."""
    slope = (-v + i + neuron.bias) / neuron.tau_mem
    brackets = []
    for k in np.flatnonzero((slope[:-1] > 0.0) & (slope[1:] <= 0.0)):
        lo, hi = grid[k], grid[k + 1]
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            if free_slope(mid, v0, i0, neuron) > 0.0:
                lo = mid
            else:
                hi = mid
        brackets.append((lo, hi))
    return brackets


def _bisect(fun, lo, hi, tol):
    """Shrink [lo, hi] with fun(lo) False, fun(hi) True; returns hi."""
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not (lo < mid < hi):
            break
        if fun(mid):
            hi = mid
        else:
            lo = mid
    return hi


def first_crossing(v0, i0, neuron, s_lo, s_hi, *, tie_at_end=False, step=STEP):
    """First s in (s_lo, s_hi] with V(s) >= threshold on the free trajectory from (v0, i0) at s = 0, or inf.

    Precondition: V(s_lo) < threshold. Brute force: dense samples plus local maxima between samples.
    """
    if s_hi <= s_lo:
        return math.inf
    theta = neuron.threshold
    n = max(2, int(math.ceil((s_hi - s_lo) / step)) + 1)
    grid = np.linspace(s_lo, s_hi, n)
    grid[-1] = s_hi
    v, i = free_state(grid, v0, i0, neuron)
    slope = (-v + i + neuron.bias) / neuron.tau_mem
    bracket = None
    above = np.flatnonzero(v[1:] >= theta)
    first_above = above[0] + 1 if above.size else n
    # local maxima strictly inside a step, before the first sample above threshold
    maxima = np.flatnonzero((slope[:-1] > 0.0) & (slope[1:] <= 0.0))
    for k in maxima:
        if k >= first_above:
            break
        a, c = grid[k], grid[k + 1]
        t_peak = _bisect(lambda s: free_slope(s, v0, i0, neuron) <= 0.0, a, c, 1e-15)
        if free_voltage(t_peak, v0, i0, neuron) >= theta:
            bracket = (a, t_peak)
            break
    if bracket is None and first_above < n:
        bracket = (grid[first_above - 1], grid[first_above])
    if bracket is None:
        if tie_at_end and v[-1] >= theta - TIE_V_TOL and slope[-1] > 0.0:
            return s_hi
        return math.inf
    return _bisect(lambda s: free_voltage(s, v0, i0, neuron) >= theta, bracket[0], bracket[1], ROOT_TOL)


# ----------------------------------------------------------------------------------------------------------
@dataclass
class _Neuron:
    params: object                      # eventsnn.LIF (read as a plain parameter record)
    t0: float = 0.0                     # time of the last event
    v0: float = 0.0                     # state right after it
    i0: float = 0.0
    refractory_end: float = -math.inf   # V held at 0 until then
    checked: float = 0.0                # no crossing in (free start, checked]
    predicted: float = math.inf         # cached crossing (valid while the state is unchanged)
    history: list = field(default_factory=lambda: [(0.0, 0.0, 0.0, -math.inf)])
    spikes: list = field(default_factory=list)

    def state_at(self, t, entry=None):
        t0, v0, i0, r_end = entry if entry is not None else (self.t0, self.v0, self.i0, self.refractory_end)
        p = self.params
        if t <= r_end:
            return 0.0, i0 * math.exp(-(t - t0) / p.tau_syn)
        start = max(t0, r_end)
        v_s = v0 if start == t0 else 0.0
        i_s = i0 * math.exp(-(start - t0) / p.tau_syn)
        v, i = free_state(t - start, v_s, i_s, p)
        return float(v), float(i)

    def set_state(self, t, v, i):
        self.t0, self.v0, self.i0 = t, v, i
        self.checked, self.predicted = t, math.inf
        self.history.append((t, v, i, self.refractory_end))

    def next_crossing(self, horizon, tie_at_end):
        if self.predicted <= horizon:
            return self.predicted
        if self.predicted < math.inf or self.checked >= horizon:
            return math.inf
        p = self.params
        start = max(self.t0, self.refractory_end)
        if start >= horizon:
            return math.inf
        v_s = self.v0 if start == self.t0 else 0.0
        i_s = self.i0 * math.exp(-(start - self.t0) / p.tau_syn)
        lo = max(self.checked, start)
        s = first_crossing(v_s, i_s, p, lo - start, horizon - start, tie_at_end=tie_at_end)
        if s == math.inf:
            self.checked = horizon
            return math.inf
        t = horizon if s == horizon - start else min(start + s, horizon)
        self.predicted = t
        return t if t <= horizon else math.inf


class ReferenceResult:
    """Spikes per population (lists of per-neuron arrays) and right-continuous state queries."""

    def __init__(self, names, neurons, t_max):
        self.names = names
        self._neurons = neurons
        self.t_max = t_max

    def spike_times(self, name):
        return [np.asarray(n.spikes, dtype=np.float64) for n in self._neurons[name]]

    def counts(self, name):
        return np.array([len(n.spikes) for n in self._neurons[name]], dtype=np.int64)

    def state(self, name, neuron, times):
        """(V, I) of one neuron at the given times; right-continuous (after every event at that time)."""
        nrn = self._neurons[name][neuron]
        starts = [h[0] for h in nrn.history]
        out_v, out_i = [], []
        for t in np.asarray(times, dtype=np.float64).ravel():
            k = bisect.bisect_right(starts, t) - 1
            v, i = nrn.state_at(float(t), nrn.history[k])
            out_v.append(v)
            out_i.append(i)
        return np.array(out_v), np.array(out_i)


def simulate_reference(net, inputs, t_max, max_spikes_per_neuron=500):
    """Simulate ``net`` (an eventsnn.Network) driven by ``inputs`` (dict name -> SpikeTrains, or one
    SpikeTrains for a single input population) over [0, t_max]. Raises RuntimeError past the spike cap."""
    input_names = [p.name for p in net.populations.values() if p.is_input]
    layer_names = [p.name for p in net.populations.values() if not p.is_input]
    if not isinstance(inputs, dict):
        inputs = {input_names[0]: inputs}
    neurons = {name: [_Neuron(net.populations[name].neuron) for _ in range(net.populations[name].size)]
               for name in layer_names}
    order = [(name, k) for name in layer_names for k in range(net.populations[name].size)]
    outgoing = {name: [c for c in net.connections if c.pre == name] for name in net.populations}
    queue = []   # (time, seq, post name, post index, weight)
    seq = [0]

    def emit(pre, index, t):
        for c in outgoing[pre]:
            for k in range(c.weights.shape[1]):
                delay = float(c.delays) if np.ndim(c.delays) == 0 else float(c.delays[index, k])
                arrival = t + delay
                if arrival <= t_max:
                    heapq.heappush(queue, (arrival, seq[0], c.post, k, float(c.weights[index, k])))
                    seq[0] += 1

    for name in input_names:
        trains = inputs[name]
        for t, src in zip(np.asarray(trains.times, dtype=np.float64), np.asarray(trains.neurons)):
            emit(name, int(src), float(t))

    while True:
        t_delivery = queue[0][0] if queue else math.inf
        horizon = min(t_delivery, t_max)
        best_t, best = math.inf, None
        for name, k in order:
            t = neurons[name][k].next_crossing(horizon, tie_at_end=True)
            if t < best_t:
                best_t, best = t, (name, k)
        if best is not None and best_t <= horizon:      # neuron events first at equal times
            name, k = best
            nrn = neurons[name][k]
            p = nrn.params
            v, i = nrn.state_at(best_t)
            nrn.spikes.append(best_t)
            if len(nrn.spikes) > max_spikes_per_neuron:
                raise RuntimeError(f"reference: neuron {name}[{k}] exceeded {max_spikes_per_neuron} spikes")
            v_after = 0.0 if p.reset == "zero" else v - p.threshold
            i_after = 0.0 if p.reset_current else i
            if p.refractory > 0.0:
                nrn.refractory_end = best_t + p.refractory
                v_after = 0.0
            nrn.set_state(best_t, v_after, i_after)
            emit(name, k, best_t)
        elif t_delivery <= t_max:
            t, _, post, k, w = heapq.heappop(queue)
            nrn = neurons[post][k]
            v, i = nrn.state_at(t)
            nrn.set_state(t, v, i + w)
        else:
            break
    return ReferenceResult(layer_names, neurons, t_max)
