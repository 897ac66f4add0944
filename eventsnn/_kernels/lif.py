"""Exact propagation of the current-based LIF state (V, I) between events.

Between events (docs/theory.md, eqs. 3-5), with u = V0 - bias and d = 1/tau_syn - 1/tau_mem::

    I(t) = I0 exp(-t/tau_syn)
    V(t) = bias + u exp(-t/tau_mem) + I0 k(t)
    k(t) = (t/tau_mem) exp(-t/tau_slow) phi(t |d|),     phi(x) = -expm1(-x)/x,  phi(0) = 1

with tau_slow = max(tau_mem, tau_syn). k is the membrane response to a unit current step. Written with phi it
is one formula for every ratio of time constants: for tau_mem != tau_syn it equals
tau_syn/(tau_mem - tau_syn) (e^{-t/tau_mem} - e^{-t/tau_syn}) without the 1/(tau_mem - tau_syn) cancellation,
and for tau_mem == tau_syn it is (t/tau) e^{-t/tau}. Factoring out the *slower* exponential keeps phi's argument
>= 0, so no step is too long: with the faster one, phi(-x) grows like e^x and overflows past x ~ 709 (a 900 ms
gap at tau_mem = 1 ms, tau_syn = 8 ms gave inf * 0 = NaN). This module is the only place where the singular
limit tau_mem -> tau_syn is handled.

The adjoint rules live here too, next to the forward step they transpose (docs/theory.md, section "Adjoint"):
``adjoint_propagate`` is the transpose of ``propagate`` (A1) and ``spike_jump`` gives the factors of the jump at a
spike (A4). Every backward sweep (``backward.py``, ``backward_network.py``) calls these two; none writes them out.

Names: ``em`` = e^{-dt/tau_mem} and ``es`` = e^{-dt/tau_syn} (the decay factors of V and I over a step of dt ms),
``kern`` = k(dt) above (the membrane response to a unit current step); ``lam_v``, ``lam_i`` = dL/dV and dL/dI.

Parameter vector layout (built by :func:`make_parameters`, one per population; indices ``P_*``). Every function
here that takes ``params`` reads it by index only, so it accepts the vector or the same values as a tuple
(:func:`parameter_tuple`), which the hot loops pass instead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

P_TAU_MEM = 0
P_TAU_SYN = 1
P_THRESHOLD = 2
P_BIAS = 3
P_REFRACTORY = 4
P_RESET_CURRENT = 5   # 1.0 if a spike zeroes I, else 0.0
P_KERNEL_PEAK = 6     # max_t k(t): used by the cheap "cannot reach threshold" bound
P_DECAY_GAP = 7       # d = 1/tau_syn - 1/tau_mem
P_REGIME = 8          # which closed form seeds the root finder (REGIME_*)
P_EXACT_POWER = 9     # n if one decay factor is exactly the n-th power of the other (exact_power), else 0
N_PARAMS = 10

REGIME_GENERAL = 0.0
REGIME_MEM_TWICE_SYN = 1.0   # tau_mem = 2 tau_syn: quadratic in exp(-t/tau_mem)
REGIME_SYN_TWICE_MEM = 2.0   # tau_syn = 2 tau_mem: quadratic in exp(-t/tau_syn)
REGIME_EQUAL = 3.0           # tau_mem = tau_syn: Lambert W
# Closed forms only seed the safeguarded Newton iteration, which always polishes with the exact V(t);
# so a ratio within this relative tolerance may use them without any loss of accuracy.
CLOSED_FORM_RTOL = 1e-9


MAX_EXACT_POWER = 8


@njit(cache=True, inline="always")
def parameter_tuple(params):
    """The ``P_*`` vector as a tuple of its N_PARAMS floats, for loops that call compiled helpers per event.

    A tuple is passed by value, while each call of a compiled (not inlined) helper with an array argument pays an
    atomic reference count on it, in and out (measured: 40 % of NA's re-simulation, a quarter of the event-form
    candidate sweep). Same values, indexed the same way, so the same arithmetic.
    """
    return (params[0], params[1], params[2], params[3], params[4], params[5], params[6], params[7], params[8],
            params[9])


def exact_power(tau_mem: float, tau_syn: float) -> float:
    """n if max(tau) == n * min(tau) exactly in float64 for an integer 2 <= n <= MAX_EXACT_POWER, else 0."""
    slow, fast = max(tau_mem, tau_syn), min(tau_mem, tau_syn)
    for n in range(2, MAX_EXACT_POWER + 1):
        if slow == n * fast:
            return float(n)
    return 0.0


def make_parameters(tau_mem: float, tau_syn: float, threshold: float, bias: float,
                    refractory: float, reset_current: bool) -> np.ndarray:
    params = np.zeros(N_PARAMS)
    params[P_TAU_MEM] = tau_mem
    params[P_TAU_SYN] = tau_syn
    params[P_THRESHOLD] = threshold
    params[P_BIAS] = bias
    params[P_REFRACTORY] = refractory
    params[P_RESET_CURRENT] = 1.0 if reset_current else 0.0
    params[P_DECAY_GAP] = 1.0 / tau_syn - 1.0 / tau_mem
    t_peak = extremum_time(0.0, 1.0, 0.0, tau_mem, tau_syn)
    params[P_KERNEL_PEAK] = psp_kernel(t_peak, tau_mem, params[P_DECAY_GAP])

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= CLOSED_FORM_RTOL * max(a, b)

    if close(tau_mem, tau_syn):
        params[P_REGIME] = REGIME_EQUAL
    elif close(tau_mem, 2.0 * tau_syn):
        params[P_REGIME] = REGIME_MEM_TWICE_SYN
    elif close(tau_syn, 2.0 * tau_mem):
        params[P_REGIME] = REGIME_SYN_TWICE_MEM
    else:
        params[P_REGIME] = REGIME_GENERAL
    # Only an exact ratio lets the crossing decision itself work on a polynomial in e^{-t/tau} (crossing.py); a
    # ratio that is merely close to 2 uses the quadratic to seed Newton on the exact V.
    params[P_EXACT_POWER] = exact_power(tau_mem, tau_syn)
    return params


@njit(cache=True, inline="always")
def one_minus_exp_ratio(x):
    """phi(x) = (1 - exp(-x)) / x, with phi(0) = 1; accurate for all real x."""
    if x == 0.0:
        return 1.0
    return -math.expm1(-x) / x


@njit(cache=True, inline="always")
def _kernel_from_slower(t, tau_mem, decay_gap, slower):
    """k(t) of eq. 5 given slower = e^{-t/tau_slow}: (t/tau_mem) slower phi(t |d|), phi's argument never negative."""
    return (t / tau_mem) * slower * one_minus_exp_ratio(t * abs(decay_gap))


@njit(cache=True)
def psp_kernel(t, tau_mem, decay_gap):
    """k(t): membrane response at time t (ms) to a unit current step at 0 (eq. 5)."""
    slower = math.exp(-t / tau_mem) if decay_gap >= 0.0 else math.exp(-t * (1.0 / tau_mem + decay_gap))
    return _kernel_from_slower(t, tau_mem, decay_gap, slower)


@njit(cache=True, inline="always")
def decay_factors(dt, params):
    """(exp(-dt/tau_mem), exp(-dt/tau_syn), k(dt)) for a step of dt ms of a population with parameters ``params``.

    Every caller that propagates over the same dt must use these values, so that the decision "threshold
    reached at the end of an interval" and the state carried into the next interval are the same numbers.
    When one time constant is exactly n times the other (``P_EXACT_POWER``), the faster factor is the n-th power
    of the slower one: a few multiplications instead of an exponential, in the hottest loops of every kernel.
    """
    tau_mem = params[P_TAU_MEM]
    tau_syn = params[P_TAU_SYN]
    decay_gap = params[P_DECAY_GAP]
    power = params[P_EXACT_POWER]
    if power == 0.0:
        em = math.exp(-dt / tau_mem)
        es = math.exp(-dt / tau_syn)
        kern = _kernel_from_slower(dt, tau_mem, decay_gap, em if decay_gap >= 0.0 else es)
    elif decay_gap > 0.0:  # tau_mem = n tau_syn: k = e^{-x} (1 - e^{-(n-1) x}) / (n - 1), x = dt / tau_mem
        x = dt / tau_mem
        em = math.exp(-x)
        es = _integer_power(em, power)
        kern = em * -math.expm1(-(power - 1.0) * x) / (power - 1.0)
    else:  # tau_syn = n tau_mem: k = n e^{-y} (1 - e^{-(n-1) y}) / (n - 1), y = dt / tau_syn
        y = dt / tau_syn
        es = math.exp(-y)
        em = _integer_power(es, power)
        kern = es * -math.expm1(-(power - 1.0) * y) * power / (power - 1.0)
    return em, es, kern


@njit(cache=True, inline="always")
def _integer_power(x, n):
    """x ** n for a small integer-valued float n >= 2, by repeated multiplication (no pow call)."""
    result = x * x
    for _ in range(int(n) - 2):
        result *= x
    return result


@njit(cache=True, inline="always")
def propagate(v, i, em, es, kern, bias):
    """State after a free (non-refractory) step with precomputed decay factors."""
    return bias + (v - bias) * em + i * kern, i * es


@njit(cache=True, inline="always")
def adjoint_propagate(lam_v, lam_i, em, es, kern):
    """Adjoint of a free step (eq. A1, the transpose of ``propagate``) with the step's decay factors.

    Returns (lambda_V, lambda_I) at the start of the step from their values at its end, and the step's
    contribution lambda_V (1 - em) to dL/dbias. Inside a refractory period lambda_V is 0 (set at the refractory
    end in reverse), so the same rule keeps it 0 and decays lambda_I by es: the clamped adjoint needs no case.
    """
    return em * lam_v, kern * lam_v + es * lam_i, lam_v * (1.0 - em)


@njit(cache=True, inline="always")
def spike_jump(current_before, theta, bias, tau_mem, t_ref, reset_current, min_slope, grazing_slope):
    """Factors of the adjoint jump at a spike (eq. A4).

    Returns (slope, flow_after, near_grazing): slope = dV/dt just before the spike (floored at ``min_slope``
    when that is > 0, the opt-in clipping), flow_after = dV/dt right after the reset (0 when a refractory period
    follows) and 1 if the unclipped slope is below ``grazing_slope``, else 0. The caller then sets
    lambda_V(t_k-) = -(gbar_k - lambda_V(t_k+) flow_after) / slope, and lambda_I(t_k-) = 0 if the spike resets
    the current (else lambda_I is continuous).
    """
    slope = (-theta + current_before + bias) / tau_mem
    near_grazing = 1 if slope < grazing_slope else 0
    if min_slope > 0.0 and slope < min_slope:
        slope = min_slope
    current_after = 0.0 if reset_current else current_before
    flow_after = 0.0 if t_ref > 0.0 else (current_after + bias) / tau_mem
    return slope, flow_after, near_grazing


@njit(cache=True, inline="always")
def voltage_slope(v, i, bias, tau_mem):
    """dV/dt (1/ms) of a free neuron (eq. 1)."""
    return (-v + i + bias) / tau_mem


@njit(cache=True)
def state_after(dt, v, i, params):
    """(V, I) after a free step of dt ms."""
    em, es, kern = decay_factors(dt, params)
    return propagate(v, i, em, es, kern, params[P_BIAS])


@njit(cache=True)
def extremum_time(v0, i0, bias, tau_mem, tau_syn):
    """Time (ms, may be <= 0) of the unique extremum of V(t) on the real line, or NaN if V is monotone.

    dV/dt is a two-exponential sum, so it vanishes at most once (docs/theory.md, eq. 6). Solving
    dV/dt = 0 gives, with q = u/I0 - 1 and x = (1 - tau_syn/tau_mem) q,
    t_ext = -tau_syn q log1p(x)/x, which stays accurate as tau_mem -> tau_syn (x -> 0, t_ext -> tau (1 - u/I0)).
    """
    if i0 == 0.0:
        return math.nan
    q = (v0 - bias) / i0 - 1.0
    x = (1.0 - tau_syn / tau_mem) * q
    if x <= -1.0:
        return math.nan
    ratio = 1.0 if x == 0.0 else math.log1p(x) / x
    return -tau_syn * q * ratio


@njit(cache=True, inline="always")
def unpack(params):
    """(tau_mem, tau_syn, decay_gap, threshold, bias, refractory, reset_current) of a parameter vector."""
    return (params[P_TAU_MEM], params[P_TAU_SYN], params[P_DECAY_GAP], params[P_THRESHOLD], params[P_BIAS],
            params[P_REFRACTORY], params[P_RESET_CURRENT] != 0.0)


@njit(cache=True, inline="always")
def advance_held(i, t, target, free_from, params):
    """(I, t) moved towards ``target`` (ms) through the refractory part only (V held, I decays) up to free_from."""
    if free_from > t:
        end = min(free_from, target)
        i *= math.exp(-(end - t) / params[P_TAU_SYN])
        t = end
    return i, t


@njit(cache=True, inline="always")
def advance(v, i, t, target, free_from, params):
    """(V, I, t) moved from t to ``target`` (ms) with no event in between.

    Up to ``free_from`` (end of a refractory period) V is held (at its reset value) and only I decays; the rest is
    a free step. One routine for every single-neuron replay, so that they all carry bit-identical states.
    """
    i, t = advance_held(i, t, target, free_from, params)
    if target > t:
        v, i = state_after(target - t, v, i, params)
        t = target
    return v, i, t


@njit(cache=True, inline="always")
def reset_after_spike(i, t_spike, params):
    """(V, I, end of the refractory period) right after a spike at ``t_spike`` (ms)."""
    i_after = 0.0 if params[P_RESET_CURRENT] != 0.0 else i
    return 0.0, i_after, t_spike + params[P_REFRACTORY]
