"""NA's neighbour by brute force (oracle of ``_kernels/candidates.resimulate_candidates``): one neuron with fixed
inputs re-simulated in small exact steps, its spike at ``flip_time`` suppressed or forced, every crossing refined
by bisection. Imports nothing from ``eventsnn``; the neuron is any object with the ``eventsnn.LIF`` attribute
names. Reset to V = 0; V held there for ``refractory`` ms while I decays."""

from __future__ import annotations

import numpy as np

from oracles.model import free_step


def flipped_train(arrivals, weights, lif, t_max, flip_time, remove, step=2e-3):
    """Spike times (ms) of one neuron driven by ``weights[a]`` at ``arrivals[a]`` over [0, t_max], with the spike at
    ``flip_time`` suppressed (``remove``: no reset, and no spike until V has fallen below threshold) or inserted
    (a spike at ``flip_time`` before any arrival at that time)."""
    points = np.unique(np.concatenate([np.arange(0.0, t_max, step), arrivals[arrivals <= t_max], [flip_time, t_max]]))
    v = i = 0.0
    out, released, suppress, a = [], 0.0, False, 0
    for t0, t1 in zip(points[:-1], points[1:]):
        if t0 == flip_time and not remove:  # the inserted spike comes before arrivals at the same time
            out.append(t0)
            v, i, released = 0.0, (0.0 if lif.reset_current else i), t0 + lif.refractory
        while a < arrivals.size and arrivals[a] <= t0:
            i += weights[a]
            a += 1
        t = t0
        while t < t1:
            if t < released:  # V held, I decays
                h = min(t1, released) - t
                i = free_step(0.0, i, h, lif)[1]
                t += h
                continue
            v1, i1 = free_step(v, i, t1 - t, lif)
            if suppress:
                v, i, t = v1, i1, t1
                suppress = v >= lif.threshold
                continue
            if v1 < lif.threshold:
                v, i, t = v1, i1, t1
                continue
            lo, hi = 0.0, t1 - t
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if free_step(v, i, mid, lif)[0] >= lif.threshold else (mid, hi)
            if remove and abs(t + hi - flip_time) < 1e-7:  # the suppressed spike: no reset, stay above
                v, i, t = v1, i1, t1
                suppress = True
                continue
            _, i = free_step(v, i, hi, lif)
            t += hi
            out.append(t)
            v, i, released = 0.0, (0.0 if lif.reset_current else i), t + lif.refractory
    return np.array(out)
