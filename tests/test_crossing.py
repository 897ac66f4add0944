"""Property tests of the crossing solver ``eventsnn._kernels.crossing.first_crossing(v0, i0, window, params)``.

It returns the first t in (0, window] with V(t) >= threshold on the free trajectory from (V0, I0), or +inf
(precondition V0 < threshold). Ground truth is brute force on the closed form of tests/reference.py: 20001
samples of V(t) on [0, window] plus every local maximum between two samples (located by bisection on dV/dt),
with no assumption on the number of extrema.

Properties (over random states, all time-constant regimes, biases and window lengths):

(a) never misses a crossing: if the sampled V exceeds threshold by more than ``MARGIN``, a time is reported;
(b) never invents one: a reported t lies in (0, window] and V(t) equals threshold to 1e-9;
(c) it is the *first*: V stays below threshold (+ ``MARGIN``) on every sample and local maximum before t.

Grazing touches (``test_grazing_*``): states built so that the maximum of V is exactly at threshold at a known
time t_ext inside the window. The engine's documented decision (crossing.py, docs/theory.md section 3): a touch
counts when V - threshold, evaluated in float64 at the computed extremum time, is >= 0. Consequences tested
here: a maximum 1e-12 above threshold is always a spike, located before t_ext at V = threshold; a maximum 1e-12
below threshold is never a spike; an exact touch may go either way (float64 rounding of V decides), but if it
is reported, it is at t_ext (to the square-root precision of a double root) with V = threshold.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from eventsnn._kernels.crossing import _first_crossing_exponential, first_crossing
from eventsnn._kernels.lif import P_EXACT_POWER, make_parameters
from reference import free_slope, free_state, free_voltage, local_maxima, state_peaking_at

N_SAMPLES = 20001
MARGIN = 1e-10       # V above threshold by more than this on a sample must be found
V_TOL = 1e-9         # |V(t_reported) - threshold|


class Neuron:
    """Plain parameter record for the reference closed form."""

    def __init__(self, tau_mem, tau_syn, threshold, bias):
        self.tau_mem, self.tau_syn, self.threshold, self.bias = tau_mem, tau_syn, threshold, bias


def sampled_peaks(v0, i0, neuron, window):
    """Sample times, V there, and (time, V) of every local maximum strictly between two samples."""
    grid = np.linspace(0.0, window, N_SAMPLES)
    v, i = free_state(grid, v0, i0, neuron)
    peaks = [(lo, float(free_voltage(lo, v0, i0, neuron)))
             for lo, _ in local_maxima(grid, v, i, v0, i0, neuron, iterations=60)]
    return grid, v, peaks


# tau_syn / tau_mem; exact ratios 2 and 1/2 take the quadratic route, 3, 4 and 1/4 the integer-power one
RATIOS = st.one_of(st.sampled_from([0.5, 2.0, 1.0, 0.25, 4.0, 3.0]), st.floats(0.2, 5.0))


@st.composite
def cases(draw):
    tau_mem = draw(st.floats(0.5, 30.0))
    tau_syn = tau_mem * draw(RATIOS)
    theta = draw(st.floats(0.5, 2.0))
    bias = draw(st.one_of(st.just(0.0), st.floats(-1.0, 1.5 * theta)))
    v0 = theta - draw(st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, 3.0)))
    params = make_parameters(tau_mem, tau_syn, theta, bias, 0.0, False)
    peak = params[6]  # P_KERNEL_PEAK: scale currents so that single inputs matter in every regime
    i0 = draw(st.floats(-5.0, 10.0)) * theta / peak
    window = draw(st.one_of(st.floats(1e-3, 1.0), st.floats(1.0, 80.0)))
    return Neuron(tau_mem, tau_syn, theta, bias), params, v0, i0, window


@given(cases())
def test_first_crossing_properties(case):
    neuron, params, v0, i0, window = case
    theta = neuron.threshold
    t = first_crossing(v0, i0, window, params)
    grid, v, peaks = sampled_peaks(v0, i0, neuron, window)
    sampled_max = max([v[1:].max()] + [p for _, p in peaks])
    # (a) never misses
    if sampled_max >= theta + MARGIN:
        assert t < math.inf, f"missed a crossing: sampled max V - theta = {sampled_max - theta:.3e}"
    event("crossing" if t < math.inf else "no crossing")
    if t == math.inf:
        return
    # (b) never invents
    assert 0.0 < t <= window
    v_t = float(free_voltage(t, v0, i0, neuron))
    assert abs(v_t - theta) <= V_TOL, f"V(t) - theta = {v_t - theta:.3e}"
    # (c) first
    before = grid < t
    assert np.all(v[before] < theta + MARGIN), "a sample before the reported time is above threshold"
    assert all(p < theta + MARGIN for s, p in peaks if s < t), "a local maximum before t is above threshold"


@given(cases())
def test_crossing_monotone_in_window(case):
    """The first crossing does not depend on how far one looks: any window >= t reports the same t.

    At a touch (V' ~ 0 at the crossing, a double root) rounding of V makes a short run of float64 times all count
    as "V >= threshold"; there the time is only defined to the double root's square-root precision, the
    tolerance of test_grazing_exact_touch_is_consistent.
    """
    neuron, params, v0, i0, window = case
    t = first_crossing(v0, i0, window, params)
    assume(t < math.inf)
    touch = abs(free_slope(t, v0, i0, neuron)) * neuron.tau_mem <= 1e-6 * neuron.threshold
    tolerance = (1e-5 if touch else 1e-12) * max(1.0, t)
    for longer in (t, 0.5 * (t + window), 2.0 * window + 1.0):
        t2 = first_crossing(v0, i0, longer, params)
        assert abs(t2 - t) <= tolerance, (longer, t, t2)
    if t > 1e-9:
        shorter = first_crossing(v0, i0, t * (1.0 - 1e-6), params)
        assert shorter == math.inf


@st.composite
def grazing_states(draw):
    """(neuron params, v0, i0, t_ext, window) with max V = theta exactly at t_ext in (0, window)."""
    tau_mem = draw(st.floats(0.5, 30.0))
    tau_syn = tau_mem * draw(RATIOS)
    theta = 1.0
    bias = draw(st.floats(-1.0, 0.9))
    t_ext = tau_syn * draw(st.floats(0.05, 3.0))
    window = t_ext * draw(st.floats(1.05, 5.0))
    v0, i0 = state_peaking_at(t_ext, theta, bias, tau_mem, tau_syn)  # a grazing touch at t_ext
    assume(v0 < theta - 1e-6)
    neuron = Neuron(tau_mem, tau_syn, theta, bias)
    # the construction is exact up to rounding
    assume(abs(float(free_voltage(t_ext, v0, i0, neuron)) - theta) <= 1e-14)
    return neuron, v0, i0, t_ext, window


def _params(neuron, threshold):
    return make_parameters(neuron.tau_mem, neuron.tau_syn, threshold, neuron.bias, 0.0, False)


@given(grazing_states())
def test_grazing_max_just_above_threshold_is_a_spike(state):
    neuron, v0, i0, t_ext, window = state
    theta = neuron.threshold - 1e-12          # the maximum is 1e-12 above this threshold
    t = first_crossing(v0, i0, window, _params(neuron, theta))
    assert t < math.inf, "a maximum 1e-12 above threshold was missed"
    assert t <= t_ext * (1.0 + 1e-9)
    assert t_ext - t <= 1e-3 * max(1.0, t_ext)   # double-root scale: sqrt(2e-12 / |V''|)
    assert abs(float(free_voltage(t, v0, i0, neuron)) - theta) <= V_TOL


@given(grazing_states())
def test_grazing_max_just_below_threshold_is_not_a_spike(state):
    neuron, v0, i0, t_ext, window = state
    theta = neuron.threshold + 1e-12          # the maximum is 1e-12 below this threshold
    assert first_crossing(v0, i0, window, _params(neuron, theta)) == math.inf


@given(grazing_states())
def test_grazing_exact_touch_is_consistent(state):
    neuron, v0, i0, t_ext, window = state
    t = first_crossing(v0, i0, window, _params(neuron, neuron.threshold))
    event("exact touch counted" if t < math.inf else "exact touch not counted")
    if t < math.inf:  # either decision is allowed; a reported touch must be the touch
        assert abs(t - t_ext) <= 1e-5 * max(1.0, t_ext)
        assert abs(float(free_voltage(t, v0, i0, neuron)) - neuron.threshold) <= V_TOL


@pytest.mark.parametrize("ratio", [2.0, 0.5, 3.0, 1.0 / 3.0, 4.0, 0.25, 8.0])
def test_polynomial_routes_agree_with_the_general_route(ratio):
    """Exact integer tau ratios decide and solve on a polynomial in e^{-t/tau} (crossing.py); the general route
    (decision on t_ext, Newton on V(t)) is an independent computation of the same crossing. On random states
    they must take the same decision and agree on the time to far below the engine's 1e-9 ms claim."""
    rng = np.random.default_rng(int(1000 * ratio))
    checked = 0
    for _ in range(3000):
        # ratio = tau_syn / tau_mem; the slower constant is n times the faster one, exactly in float64
        n = round(max(ratio, 1.0 / ratio))
        fast = rng.uniform(0.5, 30.0) / n
        tau_mem, tau_syn = (fast, n * fast) if ratio > 1.0 else (n * fast, fast)
        theta = rng.uniform(0.5, 2.0)
        bias = 0.0 if rng.random() < 0.5 else rng.uniform(-1.0, 1.5 * theta)
        v0 = theta - (rng.uniform(1e-9, 1e-3) if rng.random() < 0.5 else rng.uniform(1e-3, 3.0))
        params = make_parameters(tau_mem, tau_syn, theta, bias, 0.0, False)
        assert params[P_EXACT_POWER] == max(ratio, 1.0 / ratio)
        i0 = rng.uniform(-5.0, 10.0) * theta / params[6]
        window = rng.uniform(1e-3, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, 80.0)
        t = first_crossing(v0, i0, window, params)
        t_general = _first_crossing_exponential(v0, i0, window, params)
        assert (t == math.inf) == (t_general == math.inf), (tau_mem, tau_syn, theta, bias, v0, i0, window)
        if t < math.inf:
            checked += 1
            assert abs(t - t_general) <= 1e-10 * max(1.0, t), (t, t_general)
    assert checked > 300
