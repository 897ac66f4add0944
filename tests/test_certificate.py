"""The closed-form certificate ``eventsnn._kernels.crossing.stays_below_threshold(v0, i0, params)``.

The feed-forward path settles a neuron over a gap without the solver when the certificate holds, so the one
property that matters is: **it never holds for a neuron that reaches threshold**, at any time t >= 0 (the certificate
is a statement about the whole free trajectory, so it also covers the slack a search adds past a window end and any
later window). Ground truth is brute force on the closed form of tests/reference.py: V on a dense grid up to 60
time constants, every local maximum between two samples located by bisection on dV/dt, and the limit V -> bias.

Awkward cases: grazing touches (maximum exactly at threshold, and within the certificate's margin of it), huge and
negative currents, biases near and above threshold, and the ratios without a closed form (tau_mem == tau_syn
and non-integer ratios), where the certificate must decline. When it does hold, the solver must agree: no
crossing in any window.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from eventsnn._kernels.crossing import CERTIFICATE_MARGIN, first_crossing, stays_below_threshold
from eventsnn._kernels.lif import P_EXACT_POWER, make_parameters
from reference import free_state, free_voltage, local_maxima, state_peaking_at

N_SAMPLES = 20001
HORIZON_TAUS = 60.0  # beyond this many of the slower time constant, V is within e^-60 of bias


class Neuron:
    def __init__(self, tau_mem, tau_syn, threshold, bias):
        self.tau_mem, self.tau_syn, self.threshold, self.bias = tau_mem, tau_syn, threshold, bias


def brute_force_maximum(v0, i0, neuron):
    """sup over t >= 0 of V(t): dense grid, bisection on dV/dt at every rising-to-falling sign change, V(inf)."""
    horizon = HORIZON_TAUS * max(neuron.tau_mem, neuron.tau_syn)
    grid = np.concatenate([np.linspace(0.0, horizon / 60.0, N_SAMPLES), np.linspace(horizon / 60.0, horizon, 2001)])
    v, i = free_state(grid, v0, i0, neuron)
    best = max(float(v.max()), neuron.bias)
    for lo, hi in local_maxima(grid, v, i, v0, i0, neuron, iterations=80):
        best = max(best, float(free_voltage(lo, v0, i0, neuron)), float(free_voltage(hi, v0, i0, neuron)))
    return best


# tau_syn / tau_mem with an exact integer ratio one way or the other (the certificate's domain)
EXACT_RATIOS = st.sampled_from([2.0, 0.5, 3.0, 1.0 / 3.0, 4.0, 0.25, 8.0, 0.125])


@st.composite
def states(draw, ratios=EXACT_RATIOS):
    tau_mem = draw(st.sampled_from([1.0, 2.5, 5.0, 10.0, 20.0]))
    tau_syn = tau_mem * draw(ratios)
    theta = draw(st.floats(0.5, 2.0))
    bias = draw(st.one_of(st.just(0.0), st.floats(-1.0, 1.2 * theta)))
    v0 = theta - draw(st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, 3.0), st.floats(3.0, 1e3)))
    params = make_parameters(tau_mem, tau_syn, theta, bias, 0.0, False)
    peak = params[6]  # P_KERNEL_PEAK: currents scaled so that one input matters in every regime
    i0 = draw(st.one_of(st.floats(-5.0, 10.0), st.floats(-1e6, 1e6))) * theta / peak
    return Neuron(tau_mem, tau_syn, theta, bias), params, v0, i0


@given(states())
def test_certificate_never_holds_for_a_neuron_that_reaches_threshold(case):
    neuron, params, v0, i0 = case
    assert params[P_EXACT_POWER] >= 2.0
    certified = stays_below_threshold(v0, i0, params)
    maximum = brute_force_maximum(v0, i0, neuron)
    event("certified" if certified else "declined")
    if certified:
        assert maximum < neuron.threshold, f"certified, but max V - theta = {maximum - neuron.threshold:.3e}"
        for window in (1e-3, 1.0, 10.0, 1e3, 1e6):
            assert first_crossing(v0, i0, window, params) == math.inf, window


@given(states())
def test_certificate_holds_well_below_threshold(case):
    """Not vacuous: a trajectory whose maximum is clearly below threshold (by 1e-6 of its terms) is certified."""
    neuron, params, v0, i0 = case
    maximum = brute_force_maximum(v0, i0, neuron)
    scale = abs(neuron.threshold) + abs(neuron.bias) + abs(v0) + 2.0 * abs(i0)
    assume(maximum < neuron.threshold - 1e-6 * scale)
    assert stays_below_threshold(v0, i0, params)


@st.composite
def grazing_states(draw):
    """States whose maximum over t > 0 is theta - gap, reached at an interior t_ext (the case the end points miss)."""
    tau_mem = draw(st.sampled_from([2.0, 5.0, 10.0, 20.0]))
    tau_syn = tau_mem * draw(EXACT_RATIOS)
    theta = 1.0
    bias = draw(st.floats(-1.0, 0.9))
    gap = draw(st.sampled_from([0.0, 1e-15, 1e-13, 0.1 * CERTIFICATE_MARGIN, 1e-9, 1e-6]))
    peak_v = theta - gap
    t_ext = tau_syn * draw(st.floats(0.05, 3.0))
    v0, i0 = state_peaking_at(t_ext, peak_v, bias, tau_mem, tau_syn)
    assume(v0 < theta - 1e-6)
    neuron = Neuron(tau_mem, tau_syn, theta, bias)
    assume(abs(float(free_voltage(t_ext, v0, i0, neuron)) - peak_v) <= 1e-14)
    return neuron, make_parameters(tau_mem, tau_syn, theta, bias, 0.0, False), v0, i0, gap


@given(grazing_states())
def test_grazing_maxima_within_the_margin_are_left_to_the_solver(case):
    neuron, params, v0, i0, gap = case
    certified = stays_below_threshold(v0, i0, params)
    if gap <= CERTIFICATE_MARGIN:
        assert not certified, f"a maximum {gap:.1e} below threshold was certified"
    if gap >= 1e-6:
        assert certified
    if certified:
        assert first_crossing(v0, i0, 1e3, params) == math.inf


@pytest.mark.parametrize("tau_mem, tau_syn", [(10.0, 10.0), (10.0, 4.0), (7.3, 2.9), (10.0, 5.000001)])
def test_certificate_declines_without_an_exact_integer_ratio(tau_mem, tau_syn):
    params = make_parameters(tau_mem, tau_syn, 1.0, 0.0, 0.0, False)
    assert params[P_EXACT_POWER] == 0.0
    assert not stays_below_threshold(0.0, 0.0, params)  # even at rest: no closed form, no certificate
    assert not stays_below_threshold(-5.0, 0.1, params)


@pytest.mark.parametrize("v0, i0, bias, expected", [
    (0.0, 0.0, 0.0, True),             # at rest
    (0.0, 0.0, 1.0, False),            # bias at threshold: V -> theta, never certified
    (0.0, 0.0, 1.5, False),            # bias above threshold
    (-1e3, 1e6, 0.0, False),           # huge current from far below: crosses
    (-1e6, -1e6, 0.0, True),           # huge negative current
    (0.9, -1e6, 0.0, True),            # V only falls
    (0.9, -1e100, 0.0, False),         # V only falls, but the margin scales with the terms (the end points settle it)
    (-1e100, 1e100, 0.0, False),       # terms beyond any margin: crosses
    (0.0, 1e-300, 0.0, True),          # subnormal-scale current
    (math.nan, 0.0, 0.0, False),       # non-finite states are never certified
    (0.0, math.inf, 0.0, False),
    (0.0, -math.inf, 0.0, False),
])
def test_certificate_awkward_states(v0, i0, bias, expected):
    for tau_mem, tau_syn in ((10.0, 5.0), (5.0, 10.0), (20.0, 5.0)):
        params = make_parameters(tau_mem, tau_syn, 1.0, bias, 0.0, False)
        assert stays_below_threshold(v0, i0, params) is expected, (tau_mem, tau_syn)
        if expected:
            assert first_crossing(v0, i0, 1e6, params) == math.inf
