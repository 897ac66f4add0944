"""Thread scaling: ``n_threads=1`` vs ``n_threads=2`` on W1, W3 and a W2 training step, bit-identity checked.

Workloads of ../shared/docs/WORKLOADS.md (files in ``../shared/data/workloads``, or ``--data DIR``):

* W1: 100 -> 100 -> 10, 20 Hz, the 64 samples, one ``simulate`` call per pass;
* W3: 100 -> 1000 -> 10 at 20 Hz and at 200 Hz, the 8 samples of WORKLOADS.md, one ``simulate`` call per pass;
* W2: one exact training step on 784 -> 350 -> 10, batch 32 (``simulate``, the first-spike cross-entropy of the
  batch, ``vjp``), as ``benchmarks/train_step.py``;
* ceiling: fixed arithmetic split in two halves, no GIL: the speed-up the machine grants two threads right now.

Both settings run in the same process, alternating (1, 2, 1, 2, ...) for ``--rounds`` rounds of ``--repeats``
passes each, so that a change of the machine's load hits both alike. Printed per workload: median wall time per
pass of each setting, process CPU time per pass, the speed-up (median wall 1 thread / median wall 2 threads),
the smallest and largest speed-up over the rounds, the load average at the start of each round (the machine
may be shared; the CPU column shows how much of the wall time was spent computing), and, for the 2-thread
setting, the calling thread's CPU time outside the compiled ranges ("serial 2": Python no other thread can share)
with the speed-up it allows by Amdahl's law ("bound", ``SerialShare``), which does not depend on what the
machine grants. The first pass of each
setting is a warm-up (compilation excluded). Every pass of the 2-thread setting must give results bit-identical
to the 1-thread setting (spikes of every layer; for W2 also the loss and every weight gradient); the script
exits with an error otherwise.

    python benchmarks/threads.py                  # W1, W3 (two cases), W2
    python benchmarks/threads.py --quick          # fewer rounds (< 1 min)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's eventsnn
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from _workloads import data_dir  # noqa: E402
import eventsnn as es  # noqa: E402
from eventsnn.losses import first_spike_cross_entropy_batch  # noqa: E402

T_MAX_FORWARD, T_MAX_W2 = 100.0, 50.0  # ms


def trains(inputs, n_samples: int, n_in: int) -> list:
    o = inputs["offsets"]
    return [es.SpikeTrains(inputs["times"][o[b]:o[b + 1]], inputs["neurons"][o[b]:o[b + 1]], n_in)
            for b in range(n_samples)]


def forward_workload(directory: pathlib.Path, n_hidden: int, rate: int, n_samples: int):
    """A pass: one ``simulate`` call over the batch; its result: every spike array of every record."""
    inputs = np.load(directory / ("w1_inputs_20Hz.npz" if rate == 20 else f"w3_inputs_{rate}Hz.npz"))
    weights = np.load(directory / ("w1_weights.npz" if (n_hidden, rate) == (100, 20)
                                   else f"w3_weights_h{n_hidden}_{rate}Hz.npz"))
    net = es.Network.feedforward([100, n_hidden, 10], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0),
                                 weights=[weights["W_hidden"].copy(), weights["W_out"].copy()])
    batch = trains(inputs, n_samples, 100)

    def run(n_threads: int) -> list:
        records = es.simulate(net, batch, T_MAX_FORWARD, n_threads=n_threads)
        return [a for r in records for layer in r.layers for a in (layer.times, layer.neurons)]

    return run


def w2_workload(directory: pathlib.Path):
    """A pass: one exact training step (lr 0: the workload stays fixed); its result: loss and weight gradients."""
    data = np.load(directory / "w2_batch.npz")
    batch = trains(data, data["offsets"].size - 1, 784)
    labels = data["labels"].astype(np.int64)
    neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([784, 350, 10], neuron=neuron,
                                 weights=[data["W_hidden"].copy(), data["W_out"].copy()])

    def run(n_threads: int) -> list:
        records = es.simulate(net, batch, T_MAX_W2, n_threads=n_threads)
        losses = [loss.scaled(1 / len(batch)) for loss in first_spike_cross_entropy_batch(
            records, labels, tau=neuron.tau_mem, silent_time=T_MAX_W2)]
        grads = es.vjp(net, records, [loss.cotangents for loss in losses], n_threads=n_threads)
        return [np.array([sum(loss.value for loss in losses)])] + list(grads.weights)

    return run


@numba.njit(nogil=True, cache=False)
def _spin(n: int, seed: float) -> float:
    x = seed
    for _ in range(n):
        x = x * 0.999999 + 1e-7
    return x


def ceiling_workload():
    """What two threads can gain on this machine right now: the same fixed arithmetic (no GIL, no memory traffic)
    done by one thread, or split in two halves run by two threads. On an idle 2-core machine its speed-up is 2; on
    a loaded one it is what the scheduler grants this process (a busy machine shares the CPU between sessions, so a
    second thread may gain nothing)."""
    work = 20_000_000
    pool = ThreadPoolExecutor(max_workers=2)

    def run(n_threads: int) -> list:
        if n_threads == 1:
            return [np.array([_spin(work, 0.5), _spin(work, 0.25)])]
        halves = list(pool.map(lambda s: _spin(work, s), (0.5, 0.25)))
        return [np.array(halves)]

    return run


class SerialShare:
    """The calling thread's CPU time outside the compiled ranges of a pass: work no other thread can share (Python
    before, between and after the ranges). It bounds the speed-up of N threads by Amdahl's law,
    cpu_1 / (serial + (cpu_N - serial) / N), whatever the machine grants; on a machine shared with other work, where
    the wall-clock speed-up is not measurable, this bound is what the code allows."""

    def __init__(self) -> None:
        self.inside = 0.0
        main = threading.get_ident()
        modules = [sys.modules["eventsnn.simulate"], sys.modules["eventsnn.adjoint"]]
        original = modules[0].start_ranges

        def counted(n_threads, ranges, call, **kwargs):
            def timed(*bounds):
                if threading.get_ident() != main:
                    return call(*bounds)
                t0 = time.thread_time()
                try:
                    return call(*bounds)
                finally:
                    self.inside += time.thread_time() - t0
            return original(n_threads, ranges, timed, **kwargs)

        for module in modules:
            module.start_ranges = counted

    def measure(self, run, n_threads: int, repeats: int) -> float:
        """Median over ``repeats`` passes of the calling thread's CPU time outside the ranges (s)."""
        serial = []
        for _ in range(repeats):
            self.inside = 0.0
            t0 = time.thread_time()
            run(n_threads)
            serial.append(time.thread_time() - t0 - self.inside)
        return statistics.median(serial)


def identical(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


def compare(name: str, run, rounds: int, repeats: int, serial_share: SerialShare, settings=(1, 2)) -> dict:
    """Alternate the settings for ``rounds`` rounds of ``repeats`` passes; check every result against the first."""
    reference = run(settings[0])  # warm-up of both settings (compilation, thread pool start)
    if not identical(reference, run(settings[1])):
        raise SystemExit(f"{name}: results differ between n_threads={settings[0]} and {settings[1]}")
    wall = {s: [] for s in settings}
    cpu = {s: [] for s in settings}
    ratios, loads = [], []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        medians = {}
        for s in settings:
            w = []
            for _ in range(repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                out = run(s)
                w.append(time.perf_counter() - w0)
                cpu[s].append(time.process_time() - c0)
                if not identical(reference, out):
                    raise SystemExit(f"{name}: n_threads={s} gave a different result")
            wall[s].extend(w)
            medians[s] = statistics.median(w)
        ratios.append(medians[settings[0]] / medians[settings[1]])
    one, two = (statistics.median(wall[s]) for s in settings)
    c1, c2 = (statistics.median(cpu[s]) for s in settings)
    if name == "ceiling":
        serial_text = f"{'-':>9} {'-':>6}"
    else:
        serial = serial_share.measure(run, settings[1], repeats)
        bound = c1 / (serial + (c2 - serial) / settings[1])
        serial_text = f"{1e3 * serial:>9.2f} {bound:>6.2f}"
    print(f"{name:<24} {1e3 * one:>9.2f} {1e3 * c1:>9.2f} {1e3 * two:>9.2f} {1e3 * c2:>9.2f} "
          f"{one / two:>8.2f} {min(ratios):>6.2f}..{max(ratios):<5.2f} {serial_text} identical  "
          f"load {' '.join(f'{x:.1f}' for x in loads)}", flush=True)
    return dict(name=name, wall_1=one, wall_2=two, cpu_1=c1, cpu_2=c2, speedup=one / two, ratios=ratios, loads=loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="workload directory (default $EVENTSNN_DATA or ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 passes (default 7 rounds of 5)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--cases", default="ceiling,W1,W3 h1000 20Hz,W3 h1000 200Hz,W2",
                        help="comma-separated subset of ceiling (the machine's own two-thread speed-up at the moment, "
                             "run first), W1, 'W3 h1000 20Hz', 'W3 h1000 200Hz', W2")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    repeats = args.repeats or (3 if args.quick else 5)
    directory = data_dir(args.data)
    workloads = {"ceiling": ceiling_workload,
                 "W1": lambda: forward_workload(directory, 100, 20, 64),
                 "W3 h1000 20Hz": lambda: forward_workload(directory, 1000, 20, 8),
                 "W3 h1000 200Hz": lambda: forward_workload(directory, 1000, 200, 8),
                 "W2": lambda: w2_workload(directory)}
    wanted = [c.strip() for c in args.cases.split(",")]
    unknown = [c for c in wanted if c not in workloads]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; choose from {list(workloads)}")
    print(f"eventsnn thread scaling, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {os.cpu_count()} cores; "
          f"{rounds} rounds x {repeats} passes per setting, alternating; load average {os.getloadavg()}")
    print(f"{'workload (ms per pass)':<24} {'wall 1':>9} {'cpu 1':>9} {'wall 2':>9} {'cpu 2':>9} {'speed-up':>8} "
          f"{'per round':>12} {'serial 2':>9} {'bound':>6} results")
    serial_share = SerialShare()
    for name in wanted:
        compare(name, workloads[name](), rounds, repeats, serial_share)


if __name__ == "__main__":
    main()
