"""First threshold crossing of a free LIF trajectory: a decision made with certainty, then a root.

``first_crossing(v0, i0, window, params)`` returns the first t in (0, window] with V(t) >= threshold, or
+inf. Precondition: v0 < threshold (V is continuous, so every interval starts below threshold).

Decision (never from end-point signs alone; docs/theory.md section "Crossing decision"): f = V - threshold is
a constant plus two exponentials, so f' has at most one zero t_ext (``lif.extremum_time``). Hence

* a crossing exists in (0, window]  iff  f(window) >= 0, or f has an interior maximum t_ext with
  f(t_ext) >= 0;
* the first root then lies in (0, t_ext] (maximum reached), in (t_ext, window] (after a minimum), or in
  (0, window] (monotone).

When one time constant is exactly n times the other (n = 2..8 in float64), f is a polynomial in e^{-t/tau} and the
decision, bracket and root are taken on it (``_first_crossing_polynomial``, docs/theory.md (6b), (6c)): a few
transcendental evaluations per crossing instead of ~14. There the end-point value f(window) and the final check
of a reported time are one function (``_power_value_at``), so a search that ends at a reported crossing finds it.

Grazing rule: a touch counts as a spike when f evaluated in float64 at the computed extremum time (on the
polynomial route: at the vertex) is >= 0. On the general route the same ``lif.decay_factors`` produce f(window)
here and the state the engine carries to the next interval, so "crossing at the end of the interval" and "starts
the next interval below threshold" can never both fail.

Root: closed forms (tau_mem = 2 tau_syn and tau_syn = 2 tau_mem: quadratics in an exponential; tau_mem =
tau_syn: Lambert W) give the starting point, then a safeguarded Newton iteration polishes it on the exact
f, so the closed forms affect speed only, never accuracy. Loop invariant: f(lo) < 0 <= f(hi) and
lo < hi; every iterate stays in (lo, hi); the iteration ends when hi - lo <= tolerance, and hi is returned
(so V(t_spike) >= threshold up to rounding of V itself).
"""

from __future__ import annotations

import math

from numba import njit

from eventsnn._kernels.lif import (P_BIAS, P_EXACT_POWER, P_KERNEL_PEAK, P_REGIME, P_TAU_MEM,
                                   P_TAU_SYN, P_THRESHOLD, REGIME_EQUAL, REGIME_MEM_TWICE_SYN,
                                   REGIME_SYN_TWICE_MEM, decay_factors, extremum_time, propagate, voltage_slope)

# Root tolerance: absolute (ms) plus a few ulps of the root. Newton converges quadratically, so closing the
# bracket to rounding level costs ~1 extra iteration and makes finite-difference gradient checks clean.
ROOT_ABS_TOL = 1e-15
ROOT_REL_TOL = 4.0 * 2.220446049250313e-16
MAX_ITERATIONS = 200
EPS = 2.220446049250313e-16
LN2 = 0.6931471805599453


@njit(cache=True, inline="always")
def cannot_reach_threshold(v0, i0, params):
    """Cheap certificate that V stays below threshold for all t >= 0 (no solver needed).

    V(t) - bias = u e^{-t/tau_mem} + I0 k(t) <= max(u, 0) + max(I0, 0) k_peak.
    """
    bound = max(v0, params[P_BIAS]) + max(i0, 0.0) * params[P_KERNEL_PEAK]
    return bound < params[P_THRESHOLD]


# stays_below_threshold certifies only a maximum this far (relative to the size of V's terms) below threshold: far
# beyond the rounding of every evaluation of f the solver would make, so it never settles a neuron the solver
# would see cross.
CERTIFICATE_MARGIN = 1e-12


@njit(cache=True, inline="always")
def stays_below_threshold(v0, i0, params):
    """Certificate that V stays below threshold for all t >= 0 (no solver needed), from the closed-form maximum.

    When one decay factor is exactly the n-th power of the other (``P_EXACT_POWER``), f = V - threshold =
    g + p z + q z^n on z = e^{-t/tau_z} in (0, 1] (docs/theory.md (6b), (6c)): its maximum is f(1) = V0 - threshold,
    f(0) = bias - threshold, or, when f is concave (q < 0) with its vertex z_v = (p / (-n q))^(1/(n-1)) inside (0, 1),
    f(z_v) = g + p z_v (n - 1) / n. True only if that maximum is below -CERTIFICATE_MARGIN times the size of the
    terms; False for other ratios of the time constants and for non-finite states.
    """
    power = params[P_EXACT_POWER]
    if power == 0.0:
        return False
    n = int(power)
    tau_z, g, p, q = _polynomial(v0, i0, params, n)
    f_max = max(g, g + p + q)
    if q < 0.0 and 0.0 < p < -n * q:  # concave with the vertex inside (0, 1)
        vertex_power = p / (-n * q)   # z_v^(n-1), in (0, 1): no overflow or underflow of p z_v below
        z_v = vertex_power if n == 2 else vertex_power ** (1.0 / (n - 1))
        f_max = max(f_max, g + p * z_v * ((n - 1) / n))
    scale = abs(params[P_THRESHOLD]) + abs(params[P_BIAS]) + abs(v0) + 2.0 * abs(i0)
    return f_max < -CERTIFICATE_MARGIN * scale


@njit(cache=True, inline="always")
def first_crossing(v0, i0, window, params):
    """First time t in (0, window] (ms) with V(t) >= threshold, else +inf."""
    if window <= 0.0 or cannot_reach_threshold(v0, i0, params):
        return math.inf
    if params[P_EXACT_POWER] != 0.0:
        t = _first_crossing_polynomial(v0, i0, window, params, int(params[P_EXACT_POWER]))
        if not math.isnan(t):
            return t
    return _first_crossing_exponential(v0, i0, window, params)


@njit(cache=True, inline="always")
def _polynomial(v0, i0, params, n):
    """(tau_z, g, p, q) with f = V - threshold = g + p z + q z^n, z = e^{-t/tau_z}, tau_z the slower time constant,
    when that constant is exactly n times the other (docs/theory.md (6b), (6c))."""
    u = v0 - params[P_BIAS]
    g = params[P_BIAS] - params[P_THRESHOLD]
    if params[P_TAU_MEM] > params[P_TAU_SYN]:  # V = bias + u z + i0 (z - z^n) / (n - 1), z = e^{-t/tau_mem}
        c = i0 / (n - 1)
        return params[P_TAU_MEM], g, u + c, -c
    c = i0 * n / (n - 1)                        # V = bias + u z^n + i0 n (z - z^n) / (n - 1), z = e^{-t/tau_syn}
    return params[P_TAU_SYN], g, c, u - c


@njit(cache=True, inline="always")
def _power_value(z, g, p, q, n):
    """(f, df/dz) of f = g + p z + q z^n (n >= 2, by multiplication): the form that is exact for small z."""
    z_n1 = z
    for _ in range(n - 2):
        z_n1 *= z
    return g + z * (p + q * z_n1), p + n * q * z_n1


@njit(cache=True, inline="always")
def _power_value_early(w, c_start, p, q, n):
    """(f, df/dw) of the same polynomial at z = 1 - w, written around z = 1: f = c_start - w (p + q S) with
    S = 1 + z + ... + z^(n-1), so the constant term V0 - threshold is exact while z >= 1/2."""
    if n == 2:  # the expanded quadratic a w^2 + b w + c_start, the form its closed-form root solves exactly
        return ((q * w - (2.0 * q + p)) * w + c_start), -(p + 2.0 * q * (1.0 - w))
    z = 1.0 - w
    z_k = 1.0
    total = 1.0
    for _ in range(n - 1):
        z_k *= z
        total += z_k
    return c_start - w * (p + q * total), -(p + n * q * z_k)


@njit(cache=True, inline="always")
def _power_value_at(t, tau_z, g, p, q, c_start, n):
    """f at t (ms) in the form that is exact there (w = 1 - e^{-t/tau_z} up to t = tau_z ln 2, z beyond). Every
    end-point decision and the final check of a reported time go through here, so a search that ends at a
    reported crossing finds it again."""
    if t <= tau_z * LN2:
        return _power_value_early(-math.expm1(-t / tau_z), c_start, p, q, n)[0]
    return _power_value(math.exp(-t / tau_z), g, p, q, n)[0]


@njit(cache=True)
def _reported_time(t, window, tau_z, g, p, q, c_start, n):
    """The computed root t (ms), moved up to the first time at which _power_value_at gives f >= 0 (rounding of
    the root may leave it just short), or NaN if none is found before the window end."""
    if not (t < window):
        t = window
    step = max(t, tau_z * EPS) * EPS
    for _ in range(64):
        if t > 0.0 and _power_value_at(t, tau_z, g, p, q, c_start, n) >= 0.0:
            return t
        if t >= window:
            break
        t = min(t + step, window)
        step *= 2.0
    return math.nan


@njit(cache=True, inline="always")
def _first_crossing_polynomial(v0, i0, window, params, n):
    """first_crossing when one decay factor is exactly the n-th power of the other; NaN hands over to the general
    route.

    f' vanishes at most once on z > 0, at z_v^(n-1) = -p/(n q), so an interior maximum is tested at one point and
    otherwise the maximum over the window is an end point. The first root in time is the largest root in z:
    for n = 2 the quadratic formula in w = 1 - z (constant term V0 - threshold exact; late roots, z < 1/2, from
    the same quadratic in z), for n > 2 a safeguarded Newton iteration on the polynomial refined once in w for
    early roots. One logarithm gives t.
    """
    c_start = v0 - params[P_THRESHOLD]
    if not (c_start < 0.0):
        return math.nan
    tau_z, g, p, q = _polynomial(v0, i0, params, n)
    z_end = math.exp(-window / tau_z)
    f_end = _power_value_at(window, tau_z, g, p, q, c_start, n)
    # bracket [z_a, z_b] of the largest root (the first in time): f(z_a) >= 0 > f(z_b)
    z_a = z_end
    z_b = 1.0
    f_a = f_end
    f_b = c_start
    decided = False
    if q < 0.0 and p > 0.0:
        vertex_power = -p / (n * q)  # z_v^(n-1)
        z_end_power = z_end
        for _ in range(n - 2):
            z_end_power *= z_end
        if z_end_power < vertex_power < 1.0:  # an interior maximum decides (grazing rule: f there >= 0)
            z_v = vertex_power if n == 2 else vertex_power ** (1.0 / (n - 1))
            if z_v >= 0.5:
                f_v = _power_value_early(1.0 - z_v, c_start, p, q, n)[0]
            else:
                f_v = _power_value(z_v, g, p, q, n)[0]
            if f_v >= 0.0:
                z_a = z_v
                f_a = f_v
            elif f_end < 0.0:
                return math.inf
            else:
                z_b = z_v  # only reachable through rounding at a grazing maximum near the window end
                f_b = f_v
            decided = True
    if not decided and f_end < 0.0:  # otherwise the maximum over the window is an end point
        return math.inf
    if n == 2:
        t = _quadratic_time(tau_z, g, p, q, c_start, 1.0 - z_b, 1.0 - z_a)
    else:
        t = _newton_time(tau_z, g, p, q, c_start, n, z_a, z_b, f_a, f_b)
    return _reported_time(t, window, tau_z, g, p, q, c_start, n)


@njit(cache=True, inline="always")
def _quadratic_time(tau_z, g, p, q, c_start, w_lo, w_hi):
    """Time (ms) of the smallest root of a w^2 + b w + c_start (a = q, b = -(2q + p)) in [w_lo, w_hi]; a root
    that rounding moved just past the bracket lies at its end."""
    w = _quadratic_root_in(q, -(2.0 * q + p), c_start, w_lo, w_hi, False)
    if not (w > 0.0):
        w = w_hi
    if w < 0.5:
        return -tau_z * math.log1p(-w)
    z = _nearest_root(q, p, g, 1.0 - w)  # the same root of the quadratic in z, where it is exact
    return -tau_z * math.log(z) if z > 0.0 else math.nan


@njit(cache=True)
def _newton_time(tau_z, g, p, q, c_start, n, z_a, z_b, f_a, f_b):
    """Time (ms) of the root of g + p z + q z^n in the bracket [z_a, z_b] (f(z_a) >= 0 > f(z_b)): safeguarded
    Newton from the false-position point (the bracket shrinks on every evaluation), then one step on the form
    around z = 1 for early roots."""
    x = z_a + (z_b - z_a) * (f_a / (f_a - f_b)) if f_a > f_b else 0.5 * (z_a + z_b)
    for _ in range(MAX_ITERATIONS):
        if not (z_a < x < z_b):
            x = 0.5 * (z_a + z_b)
        f, slope = _power_value(x, g, p, q, n)
        if f >= 0.0:
            z_a = x
        else:
            z_b = x
        step = -f / slope if slope != 0.0 else math.nan
        x = x + step
        if abs(step) <= 2.0 * EPS * z_b or z_b - z_a <= 2.0 * EPS * z_b:
            break
    z = x if z_a <= x <= z_b else z_a
    if z < 0.5:
        return -tau_z * math.log(z)
    w = 1.0 - z
    f, slope = _power_value_early(w, c_start, p, q, n)
    if slope != 0.0 and 0.0 <= w - f / slope <= 0.5:
        w -= f / slope
    return -tau_z * math.log1p(-w)


@njit(cache=True, inline="always")
def _quadratic_roots(a, b, c):
    """Both roots of a z^2 + b z + c = 0 (a != 0), cancellation-free; the vertex twice if they are complex."""
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        z = -b / (2.0 * a)
        return z, z
    q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
    return q / a, (c / q if q != 0.0 else math.nan)


@njit(cache=True)
def _nearest_root(a, b, c, z_near):
    """Root of a z^2 + b z + c = 0 nearest to z_near (the vertex if the roots are complex)."""
    if a == 0.0:
        return -c / b if b != 0.0 else math.nan
    r1, r2 = _quadratic_roots(a, b, c)
    return r1 if not (abs(r2 - z_near) < abs(r1 - z_near)) else r2


@njit(cache=True)
def _first_crossing_exponential(v0, i0, window, params):
    """first_crossing for any ratio of time constants: the decision on t_ext, then safeguarded Newton on V(t)."""
    tau_mem = params[P_TAU_MEM]
    tau_syn = params[P_TAU_SYN]
    bias = params[P_BIAS]
    theta = params[P_THRESHOLD]

    em, es, kern = decay_factors(window, params)
    v_end, i_end = propagate(v0, i0, em, es, kern, bias)
    rising = voltage_slope(v0, i0, bias, tau_mem) > 0.0
    t_ext = extremum_time(v0, i0, bias, tau_mem, tau_syn)
    interior = t_ext > 0.0 and t_ext < window  # False for NaN
    lo = 0.0
    hi = window
    if interior and rising:  # interior maximum
        em, es, kern = decay_factors(t_ext, params)
        v_ext, i_ext = propagate(v0, i0, em, es, kern, bias)
        if v_ext >= theta:
            hi = t_ext
        elif v_end < theta:
            return math.inf
        else:
            lo = t_ext  # only reachable through rounding at a grazing maximum near window
    elif interior:  # interior minimum: the first root, if any, is on the rising branch
        if v_end < theta:
            return math.inf
        lo = t_ext
    elif v_end < theta:
        return math.inf
    return _solve_bracketed(v0, i0, lo, hi, params)


@njit(cache=True)
def _voltage_and_slope(t, v0, i0, params):
    em, es, kern = decay_factors(t, params)
    v, i = propagate(v0, i0, em, es, kern, params[P_BIAS])
    return v, voltage_slope(v, i, params[P_BIAS], params[P_TAU_MEM])


@njit(cache=True)
def _solve_bracketed(v0, i0, lo, hi, params):
    theta = params[P_THRESHOLD]
    x = _closed_form_guess(v0, i0, lo, hi, params)
    if not (x > lo and x < hi):
        x = 0.5 * (lo + hi)
    for _ in range(MAX_ITERATIONS):
        v, slope = _voltage_and_slope(x, v0, i0, params)
        f = v - theta
        if f >= 0.0:
            hi = x
        else:
            lo = x
        tol = ROOT_ABS_TOL + ROOT_REL_TOL * hi
        if hi - lo <= tol:
            break
        step = -f / slope if slope > 0.0 else math.nan
        x_new = x + step
        if abs(step) <= 0.5 * tol:
            # Newton has converged from one side. When the rounding error of f (a few ulps of its terms) moves
            # the root by far less than tol/2, the probe's sign is certain: return the bracket it would close.
            if slope * tol > 64.0 * EPS * (abs(theta) + abs(params[P_BIAS]) + abs(v0) + abs(i0)):
                return x if f >= 0.0 else min(x + tol, hi)
            # otherwise probe just past the root to close the bracket
            x_new = x + tol if f < 0.0 else x - tol
        if not (x_new > lo and x_new < hi):
            x_new = 0.5 * (lo + hi)
        x = x_new
    return hi


@njit(cache=True)
def _quadratic_root_in(a, b, c, z_lo, z_hi, largest):
    """Largest (or smallest) root z of a z^2 + b z + c = 0 with z_lo <= z <= z_hi (cancellation-free), else NaN."""
    best = math.nan
    if a == 0.0:
        if b != 0.0:
            z = -c / b
            if z_lo <= z <= z_hi:
                best = z
        return best
    for z in _quadratic_roots(a, b, c):  # grazing (complex roots): the vertex, the best estimate of the double root
        if z_lo <= z <= z_hi and not (z <= best if largest else z >= best):
            best = z
    return best


@njit(cache=True)
def _lambert_w(z, branch):
    """Real Lambert W (branch 0 or -1) by Halley iteration; NaN outside the real domain."""
    inv_e = 0.36787944117144233
    if z < -inv_e or (branch == -1 and z >= 0.0):
        return math.nan
    p = math.sqrt(max(2.0 * (math.e * z + 1.0), 0.0))
    if branch == 0:
        if z < -0.25:
            w = -1.0 + p - p * p / 3.0
        elif z < 3.0:
            w = math.log1p(z) * 0.8
        else:
            lz = math.log(z)
            w = lz - math.log(lz)
    else:
        if z < -0.25:
            w = -1.0 - p - p * p / 3.0
        else:
            lz = math.log(-z)
            w = lz - math.log(-lz)
    for _ in range(50):
        ew = math.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        if wp1 == 0.0:
            break
        denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        if denom == 0.0:
            break
        dw = f / denom
        w -= dw
        if abs(dw) <= 1e-15 * (1.0 + abs(w)):
            break
    return w


@njit(cache=True)
def _closed_form_guess(v0, i0, lo, hi, params):
    """Starting point from a closed form when the time constants allow one, else NaN."""
    regime = params[P_REGIME]
    tau_mem = params[P_TAU_MEM]
    tau_syn = params[P_TAU_SYN]
    bias = params[P_BIAS]
    u = v0 - bias
    gap_to_threshold = params[P_THRESHOLD] - bias
    if regime == REGIME_MEM_TWICE_SYN or regime == REGIME_SYN_TWICE_MEM:
        c = i0 * tau_syn / (tau_mem - tau_syn)  # V = bias + u x + c (x - y), x = e^{-t/tau_mem}, y = e^{-t/tau_syn}
        if regime == REGIME_MEM_TWICE_SYN:       # y = x^2
            tau_z = tau_mem
            z = _quadratic_root_in(-c, u + c, -gap_to_threshold,
                                   math.exp(-hi / tau_z), math.exp(-lo / tau_z), True)
        else:                                     # x = y^2
            tau_z = tau_syn
            z = _quadratic_root_in(u + c, -c, -gap_to_threshold,
                                   math.exp(-hi / tau_z), math.exp(-lo / tau_z), True)
        if z > 0.0:
            return -tau_z * math.log(z)
        return math.nan
    if regime == REGIME_EQUAL and i0 != 0.0:
        # (u + i0 s) e^{-s} = gap_to_threshold with s = t/tau  =>  s = -W(Z) - u/i0,
        # Z = -(gap/i0) e^{-u/i0}; evaluated in log space to avoid overflow.
        ratio = gap_to_threshold / i0
        if ratio == 0.0:
            return math.nan
        log_abs_z = math.log(abs(ratio)) - u / i0
        if log_abs_z > 700.0:
            return math.nan
        z = -math.copysign(math.exp(log_abs_z), ratio)
        best = math.nan
        for branch in (0, -1):
            s = -_lambert_w(z, branch) - u / i0
            t = s * tau_mem
            if t > lo and t <= hi and not (t >= best):
                best = t
        return best
    return math.nan
