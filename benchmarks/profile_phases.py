"""Where the time of the feed-forward path goes, per phase, on W1 and W3 (../shared/docs/WORKLOADS.md).

Numba has no line profiler, and counters in the kernels would sit in the hot path; so the phases are counted and
timed from outside, with nothing added to the engine:

1. **Counts** (a subprocess with ``NUMBA_DISABLE_JIT=1``, where the kernels are plain Python): the helpers that
   ``eventsnn._kernels.forward.layer_forward`` calls are wrapped by counters at the names the kernel looks them up
   under: ``decay_factors`` (one per non-empty gap, so neuron-gap updates = gaps x layer width),
   ``_settled_without_solver`` (neurons that the vectorised pass flagged, and how many of them the end points or the
   closed-form certificate settled; a helper only of the commits 3bbce1c-1176e2e: the kernel now writes that test
   out, which is faster), ``stays_below_threshold`` (certificate calls and successes), ``_advance_neuron``
   (exact walks), ``first_crossing`` (solver calls, with their arguments, split into "no crossing" and "crossing"),
   ``_sort_block_by_time`` (gaps with >= 2 spikes). A helper that a tree does not have is reported as n/a, so any
   commit can be profiled (run this file with that tree on ``PYTHONPATH``).
2. **Times** (compiled, this process, CPU time, min over repeats): each layer's kernel per sample; the captured
   solver calls replayed through the compiled ``first_crossing`` (per outcome); ``eventsnn.simulate`` per sample,
   whose excess over the kernels is the Python around them. "rest" = kernel - solver replay: the vectorised
   pass, the end-point tests, arrivals, spike records and sorting.

    PYTHONPATH=$PWD taskset -c 1 python benchmarks/profile_phases.py [--cases w1,h1000_20,...] [--json out.json]

``--times-only`` skips the counts and the replay and prints the compiled times as one JSON line: what
``side_by_side.py --forward`` runs against each tree (with that tree on ``PYTHONPATH``). With ``--weight-scale 0.01``
the hidden layer does not fire, so its kernel time is the sweep over neurons and gaps alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
T_MAX = 100.0
# (name, N_h, rate in Hz, samples timed, samples counted in Python mode: the 10,000-neuron cases take ~1 min per
# sample there)
CASES = [("w1", 100, 20, 64, 8), ("h1000_20", 1000, 20, 8, 2), ("h1000_200", 1000, 200, 8, 1),
         ("h10000_20", 10000, 20, 8, 1), ("h10000_200", 10000, 200, 4, 1)]
COUNTED = ["decay_factors", "_settled_without_solver", "stays_below_threshold", "_advance_neuron", "first_crossing",
           "_sort_block_by_time"]


def data_dir() -> pathlib.Path:
    base = pathlib.Path(os.environ.get("EVENTSNN_DATA") or ROOT.parent / "shared" / "data")
    return base / "workloads" if (base / "workloads").is_dir() else base


def load(n_hidden: int, rate: int, n_samples: int) -> tuple[list, np.ndarray, np.ndarray]:
    d = data_dir()
    inputs = np.load(d / ("w1_inputs_20Hz.npz" if rate == 20 else f"w3_inputs_{rate}Hz.npz"))
    weights = np.load(d / ("w1_weights.npz" if (n_hidden, rate) == (100, 20)
                           else f"w3_weights_h{n_hidden}_{rate}Hz.npz"))
    o = inputs["offsets"]
    samples = [(inputs["times"][o[b]:o[b + 1]], inputs["neurons"][o[b]:o[b + 1]]) for b in range(n_samples)]
    return samples, np.ascontiguousarray(weights["W_hidden"]), np.ascontiguousarray(weights["W_out"])


def count(case: tuple, args_file: str) -> dict:
    """Python-mode run (NUMBA_DISABLE_JIT=1 must be set before numba is imported): counts per layer."""
    from eventsnn._kernels import forward
    from eventsnn.neuron import LIF
    name, n_hidden, rate, _, n_counted = case
    params = LIF(tau_mem=10.0, tau_syn=5.0).kernel_parameters()
    samples, w_hidden, w_out = load(n_hidden, rate, n_counted)
    tally: dict = {}
    captured: list = []

    def wrap(helper: str):
        original = getattr(forward, helper)

        def counted(*a):
            result = original(*a)
            tally[helper] = tally.get(helper, 0) + 1
            if helper == "first_crossing":
                captured.append((a[0], a[1], a[2], result))
                key = "first_crossing_none" if result == float("inf") else "first_crossing_found"
                tally[key] = tally.get(key, 0) + 1
            elif helper in ("_settled_without_solver", "stays_below_threshold") and result:
                tally[helper + "_true"] = tally.get(helper + "_true", 0) + 1
            return result
        setattr(forward, helper, counted)

    present = [h for h in COUNTED if hasattr(forward, h)]
    for helper in present:
        wrap(helper)
    layers = {}
    for layer, weights in (("hidden", w_hidden), ("output", w_out)):
        tally.clear()
        captured.clear()
        spikes = 0
        outputs = []
        for b, (t, n) in enumerate(samples):
            times, neurons, _ = forward.layer_forward(t, n, weights, params, T_MAX, 10**6)
            spikes += times.size
            outputs.append((times, neurons))
        per_sample = {k: v / n_counted for k, v in tally.items()}
        per_sample["spikes"] = spikes / n_counted
        per_sample["width"] = weights.shape[1]
        per_sample["missing"] = [h for h in COUNTED if h not in present]
        layers[layer] = per_sample
        np.save(f"{args_file}.{layer}.npy", np.array(captured, dtype=np.float64).reshape(-1, 4))
        if layer == "hidden":
            samples = outputs
    return layers


def timings(case: tuple, counts: dict, args_file: str, repeats: int, weight_scale: float = 1.0) -> dict:
    import eventsnn as es
    from numba import njit
    from eventsnn._kernels.crossing import first_crossing
    from eventsnn._kernels.forward import layer_forward

    @njit
    def replay(arguments, params):
        total = 0.0
        for k in range(arguments.shape[0]):
            t = first_crossing(arguments[k, 0], arguments[k, 1], arguments[k, 2], params)
            total += t if t < 1e300 else 0.0
        return total

    name, n_hidden, rate, n_samples, _ = case
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    params = lif.kernel_parameters()
    samples, w_hidden, w_out = load(n_hidden, rate, n_samples)
    w_hidden = w_hidden * weight_scale
    hidden = [layer_forward(t, n, w_hidden, params, T_MAX, 10**6)[:2] for t, n in samples]
    result = {}
    for layer, weights, inputs in (("hidden", w_hidden, samples), ("output", w_out, hidden)):
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            for t, n in inputs:
                layer_forward(t, n, weights, params, T_MAX, 10**6)
            best = min(best, (time.process_time() - start) / n_samples)
        row = dict(counts.get(layer, {}), kernel_ms=best * 1e3)
        if not counts:  # --times-only
            result[layer] = row
            continue
        arguments = np.load(f"{args_file}.{layer}.npy")
        for outcome, mask in (("none", np.isinf(arguments[:, 3])), ("found", np.isfinite(arguments[:, 3]))):
            chosen = np.ascontiguousarray(arguments[mask, :3])
            replay(chosen[:2], params)
            per_call = float("nan")
            if chosen.shape[0]:
                spent = float("inf")
                for _ in range(repeats):
                    start = time.process_time()
                    replay(chosen, params)
                    spent = min(spent, time.process_time() - start)
                per_call = spent / chosen.shape[0]
            calls = row.get(f"first_crossing_{outcome}", 0.0)
            row[f"solver_{outcome}_ns_per_call"] = per_call * 1e9
            row[f"solver_{outcome}_ms"] = per_call * calls * 1e3 if calls else 0.0
        row["rest_ms"] = row["kernel_ms"] - row["solver_none_ms"] - row["solver_found_ms"]
        result[layer] = row
    net = es.Network.feedforward([100, n_hidden, 10], neuron=lif, weights=[w_hidden, w_out])
    trains = [es.SpikeTrains(t, n, 100) for t, n in samples]
    es.simulate(net, trains[:1], T_MAX, n_threads=1)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        es.simulate(net, trains, T_MAX, n_threads=1)
        best = min(best, (time.process_time() - start) / n_samples)
    result["simulate_ms"] = best * 1e3
    result["python_ms"] = best * 1e3 - result["hidden"]["kernel_ms"] - result["output"]["kernel_ms"]
    return result


def show(name: str, r: dict) -> None:
    def num(row, key):
        value = row.get(key)
        return "n/a" if value is None else f"{value:,.0f}"
    print(f"\n{name}: simulate {r['simulate_ms']:.3f} ms/sample, of which Python around the kernels "
          f"{r['python_ms']:.3f} ms")
    print(f"{'layer':7s} {'neuron-gaps':>12s} {'flagged':>9s} {'settled':>9s} {'cert.':>7s} {'walks':>8s} "
          f"{'solver none':>11s} {'found':>7s} {'spikes':>7s} | {'kernel ms':>9s} {'none ms':>8s} {'found ms':>8s} "
          f"{'rest ms':>8s}")
    for layer in ("hidden", "output"):
        row = r[layer]
        gaps = row.get("decay_factors")
        updates = "n/a" if gaps is None else f"{gaps * row['width']:,.0f}"
        print(f"{layer:7s} {updates:>12s} "
              f"{num(row, '_settled_without_solver'):>9s} {num(row, '_settled_without_solver_true'):>9s} "
              f"{num(row, 'stays_below_threshold_true'):>7s} {num(row, '_advance_neuron'):>8s} "
              f"{num(row, 'first_crossing_none'):>11s} {num(row, 'first_crossing_found'):>7s} "
              f"{row['spikes']:7,.0f} | {row['kernel_ms']:9.3f} {row['solver_none_ms']:8.3f} "
              f"{row['solver_found_ms']:8.3f} {row['rest_ms']:8.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(c[0] for c in CASES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--times-only", action="store_true",
                        help="only the compiled times (kernels and simulate per sample), printed as one JSON line")
    parser.add_argument("--weight-scale", type=float, default=1.0,
                        help="with --times-only: scale the hidden weights (0.01: no hidden spikes, so the hidden "
                             "kernel's time is the sweep over neurons and gaps alone)")
    parser.add_argument("--count-only", default=None, help=argparse.SUPPRESS)  # the Python-mode subprocess
    args = parser.parse_args(argv)
    by_name = {c[0]: c for c in CASES}
    if args.count_only:
        name, args_file = args.count_only.split(":", 1)
        print(json.dumps(count(by_name[name], args_file)))
        return 0
    if args.weight_scale != 1.0 and not args.times_only:
        parser.error("--weight-scale needs --times-only (the counts are of the workloads as defined)")
    unknown = [n for n in args.cases.split(",") if n not in by_name]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {list(by_name)}")
    results = {}
    scratch = tempfile.mkdtemp(prefix="eventsnn-profile-")
    for name in args.cases.split(","):
        args_file = os.path.join(scratch, name)
        if args.times_only:
            results[name] = timings(by_name[name], {}, args_file, args.repeats, args.weight_scale)
            continue
        env = dict(os.environ, NUMBA_DISABLE_JIT="1")
        done = subprocess.run([sys.executable, __file__, "--count-only", f"{name}:{args_file}"], env=env,
                              capture_output=True, text=True, check=True)
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        results[name] = timings(by_name[name], counts, args_file, args.repeats)
        show(name, results[name])
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.times_only:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
