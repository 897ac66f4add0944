"""Cost of one spike delivery and of one spike on the general (heap) engine: the two figures behind the default
``max_spikes_per_sample`` (eventsnn/simulate.py: a sample's work is about spikes x (SPIKE_COST + fan-out)
deliveries, capped at DEFAULT_SAMPLE_WORK).

Two workloads, the runaway examples of tests/test_safety_runaway.py, each run to several ``t_max`` below the caps:

* spike: a 10,000-neuron population driven by its bias alone (``LIF(bias=2.0)``, each neuron fires every 6.9 ms),
  no synapses leaving it, so its time grows by the cost of one spike (event queue and threshold solver) per spike;
* delivery: 1000 neurons all-to-all (weight 0.05, delay 1 ms) kicked by one input spike at 1 ms, every spike
  reaching all 1000 neurons 1 ms later, so its time grows by the cost of a spike per spike plus the cost of a
  delivery (state update and a new crossing prediction at the target) per delivery. Deliveries are counted from
  the recorded spike times: 1000 per spike (the input's included) whose arrival time is at most ``t_max``.

Each workload's CPU time is fitted by least squares as a straight line (with an intercept: building and checking
the network is paid once per call): the bias-driven population's time against its spikes gives the cost of a spike;
the all-to-all network's time, less its spikes at that cost, against its deliveries gives the cost of a delivery.
Times are process CPU time (``time.process_time``), not wall time, because the machine this runs on may be shared;
one thread (``n_threads=1``); the kernels compiled or loaded by a warm-up call first; each point is the median of
``--repeats`` runs.

    python benchmarks/delivery_cost.py                   # about 20 s of CPU time
    python benchmarks/delivery_cost.py --quick           # two points per workload, 2 repeats
    python benchmarks/delivery_cost.py --json cost.json
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's eventsnn, whatever the interpreter has installed

import eventsnn as es
from eventsnn.simulate import SPIKE_COST

NO_CAP = 10**9  # spikes: the workloads must end at t_max, not at a cap
ALL_TO_ALL = 1000
DELAY = 1.0  # ms, of the all-to-all synapses
# ms simulated per point: the bias-driven population fires 10,000 spikes every 6.9 ms; the all-to-all network
# fires a first wave of 1000 spikes at ~3 ms and each later wave recruits more (35,000 spikes by 6 ms, millions by
# 10 ms), so its points stay at most 6 ms
SPIKE_T_MAX = (50.0, 100.0, 150.0, 200.0)
DELIVERY_T_MAX = (4.5, 5.0, 5.5, 6.0)


def bias_population() -> tuple[es.Network, es.SpikeTrains]:
    net = es.Network.feedforward([1, 10_000], neuron=es.LIF(bias=2.0), weights=[np.zeros((1, 10_000))])
    return net, es.SpikeTrains([], [], 1)


def all_to_all() -> tuple[es.Network, es.SpikeTrains]:
    net = es.Network()
    net.add_input("in", 10)
    net.add_population("exc", ALL_TO_ALL, es.LIF())
    net.connect("in", "exc", np.full((10, ALL_TO_ALL), 8.0))
    net.connect("exc", "exc", np.full((ALL_TO_ALL, ALL_TO_ALL), 0.05), delays=DELAY)
    return net, es.SpikeTrains([1.0], [0], 10)


def timed(net: es.Network, inputs: es.SpikeTrains, t_max: float, repeats: int) -> tuple[float, int, int]:
    """(median CPU seconds, spikes of the neuron population, deliveries up to t_max) of ``repeats`` runs of one
    sample (deliveries: a spike's targets, counted when its arrival, the spike time plus the connection's delay, is
    at most t_max; connections of zero weights, which only feed the bias-driven population its empty input, are not
    counted)."""
    seconds, counts = [], set()
    for _ in range(repeats):
        start = time.process_time()
        rec = es.simulate(net, inputs, t_max, engine="general", n_threads=1, max_spikes_per_neuron=NO_CAP,
                          max_spikes_per_sample=NO_CAP, progress=False)
        seconds.append(time.process_time() - start)
        spikes = sum(len(layer) for layer in rec.layers)
        deliveries = 0
        for c in net.connections:  # the engine delivers an arrival at t <= t_max to all of its row's targets
            pre_times = inputs.times if net.populations[c.pre].is_input else rec.layers[0].times
            if np.any(c.weights):
                deliveries += int(np.count_nonzero(pre_times + float(c.delays) <= t_max)) * c.weights.shape[1]
        counts.add((spikes, deliveries))
    assert len(counts) == 1, "the engine is deterministic: every run has the same spikes"
    spikes, deliveries = counts.pop()
    return statistics.median(seconds), spikes, deliveries


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of y against x, with an intercept."""
    return float(np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)[0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per point; the median is kept (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, two points per workload")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    spike_t_max, delivery_t_max = SPIKE_T_MAX, DELIVERY_T_MAX
    if args.quick:
        args.repeats, spike_t_max, delivery_t_max = 2, SPIKE_T_MAX[:2], DELIVERY_T_MAX[:2]

    warm = es.Network.feedforward([1, 2], neuron=es.LIF(), weights=[np.ones((1, 2))])
    es.simulate(warm, es.SpikeTrains([1.0], [0], 1), 5.0, engine="general", n_threads=1)  # compile or load

    rows = []
    for name, build, t_maxes in (("bias-driven population, 10,000 neurons", bias_population, spike_t_max),
                                 ("all-to-all, 1000 neurons", all_to_all, delivery_t_max)):
        net, inputs = build()
        timed(net, inputs, t_maxes[0], 1)  # first call on a large network: page faults, caches
        for t_max in t_maxes:
            seconds, spikes, deliveries = timed(net, inputs, t_max, args.repeats)
            rows.append(dict(workload=name, t_max_ms=t_max, spikes=spikes, deliveries=deliveries,
                             cpu_seconds=seconds))
    bias_rows = [r for r in rows if r["deliveries"] == 0]
    mixed_rows = [r for r in rows if r["deliveries"] > 0]
    per_spike = slope([r["spikes"] for r in bias_rows], [r["cpu_seconds"] for r in bias_rows])
    per_delivery = slope([r["deliveries"] for r in mixed_rows],
                         [r["cpu_seconds"] - per_spike * r["spikes"] for r in mixed_rows])

    print(f"CPU time (time.process_time), one thread, median of {args.repeats} runs per point, general engine")
    print(f"{'workload':<40} {'t_max ms':>8} {'spikes':>8} {'deliveries':>11} {'CPU s':>7}")
    for r in rows:
        print(f"{r['workload']:<40} {r['t_max_ms']:>8g} {r['spikes']:>8d} {r['deliveries']:>11d} "
              f"{r['cpu_seconds']:>7.3f}")
    print(f"cost of one spike (slope of the first workload):             {per_spike * 1e6:.3f} us")
    print(f"cost of one delivery (slope of the second, spikes deducted):  {per_delivery * 1e6:.3f} us")
    print(f"one spike = {per_spike / per_delivery:.1f} deliveries (eventsnn.simulate.SPIKE_COST = {SPIKE_COST})")

    out = dict(repeats=args.repeats, clock="time.process_time", spike_us=per_spike * 1e6,
               delivery_us=per_delivery * 1e6, spike_in_deliveries=per_spike / per_delivery, points=rows)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
