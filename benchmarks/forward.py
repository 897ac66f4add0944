"""W1 and W3 of ../shared/docs/WORKLOADS.md: forward simulation, eventsnn exact vs the NumPy loop, Norse, snnTorch and
Brian2, side by side.

Workloads (files in ``../shared/data/workloads``, or ``--data DIR`` / ``$EVENTSNN_DATA``, where DIR holds them
directly or in a ``workloads/`` subfolder):

* W1: 100 -> 100 -> 10, 20 Hz inputs, T = 100 ms, 64 samples.
* W3: 100 -> N_h -> 10 for N_h in {100, 1000, 10000}, R in {20, 200} Hz, first 8 samples.

Simulators, per workload case, side by side in one run:

* eventsnn exact, fast feed-forward path (``engine="feedforward"``) and general heap engine (``engine="general"``);
  the feed-forward result is the exact reference of the error columns (both engines must give the same spikes).
* The NumPy loop vectorised over the batch (``numpy_loop.simulate_numpy_batch``: state of shape (batch, neurons),
  one matrix product per step), exact propagators on the grid, subtract reset, dt = 1 and 0.1 ms.
* Norse 1.1 (``LIFCell``) and snnTorch 1.0 (``Synaptic``), dt = 1 ms, the whole batch as one float32 tensor, no
  autograd (``_peers_torch.forward_runner``), if torch, norse and snntorch import here; otherwise skipped with a
  note.
* Brian2 (``_peers_brian2.py``), by default cython code generation at dt = 0.1 ms (``--brian2-targets``,
  ``--brian2-dts``), conventions of WORKLOADS.md (method 'exact', reset v = 0, SpikeGeneratorGroup with the
  duplicate-spike rule); skipped with a note when no interpreter with brian2 is found.

Grid peers get their inputs binned once onto the grid outside the timing. Everything runs on one core, one
thread (NUMBA_NUM_THREADS, OMP/MKL/OpenBLAS threads and torch threads set to 1).

Reported per setting: wall time per sample (median over timed passes of the batch; compilation / code
generation excluded by a warm-up run), process CPU time per sample, synaptic events per second (input spikes x
N_h + hidden spikes x 10 of the exact solution on the samples used, over the wall time), hidden / output spike
counts, and the spike-time error against eventsnn (monotone matching per neuron within 2 ms; MAE, bias, max |dt|,
missing, extra, per layer), plus the ratio peer time / eventsnn time. Slow settings run on fewer samples
(Brian2 at dt 0.01 ms on N_h = 10000, ``--brian2-fine-samples``); the number used is recorded.

Brian2 environment (Brian2 2.9.0 does not import with NumPy 2.4, so it lives in its own virtual environment;
nothing is installed into the main interpreter)::

    python -m venv ~/venvs/peers
    ~/venvs/peers/bin/pip install numpy==2.3.5 brian2==2.9.0 cython scipy numba matplotlib tqdm
    ~/venvs/peers/bin/pip install -e . --no-deps

If ``brian2`` imports in the interpreter running this script, Brian2 runs in-process; otherwise each workload's
Brian2 settings run in a subprocess of ``--peers-python`` (default ``$EVENTSNN_PEERS_PYTHON`` or
``~/venvs/peers/bin/python``) that passes
its results back as JSON (spike arrays in a companion .npz), so one command produces every number. Run pinned
to one core::

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        taskset -c 1 python benchmarks/forward.py --json benchmarks/results/forward.json
    taskset -c 1 python benchmarks/forward.py --quick        # W1 + smallest W3 case, few repeats (< 2 min)
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # this checkout's eventsnn, whatever the interpreter has installed
sys.path.insert(0, str(HERE))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import eventsnn as es  # noqa: E402
from _workloads import data_dir  # noqa: E402
from numpy_loop import bin_inputs, simulate_numpy_batch  # noqa: E402
import _peers_brian2  # noqa: E402

T_MAX = 100.0
N_IN, N_OUT = 100, 10
W1_EXACT_COUNTS = (23_982, 11_934)  # hidden, output spikes over the 64 W1 samples (WORKLOADS.md)
MATCH_WINDOW = 2.0  # ms
DEFAULT_PEERS_PYTHON = os.environ.get("EVENTSNN_PEERS_PYTHON", os.path.expanduser("~/venvs/peers/bin/python"))


# ----------------------------------------------------------------------------------------------- data
def load_case(directory: pathlib.Path, n_hidden: int, rate: int, n_samples: int) -> dict:
    inputs = np.load(directory / ("w1_inputs_20Hz.npz" if rate == 20 else f"w3_inputs_{rate}Hz.npz"))
    weights = np.load(directory / ("w1_weights.npz" if (n_hidden, rate) == (100, 20)
                                   else f"w3_weights_h{n_hidden}_{rate}Hz.npz"))
    offsets = inputs["offsets"][:n_samples + 1]
    times, neurons = inputs["times"][:offsets[-1]], inputs["neurons"][:offsets[-1]]
    return dict(times=times, neurons=neurons, offsets=offsets, W_hidden=np.ascontiguousarray(weights["W_hidden"]),
                W_out=np.ascontiguousarray(weights["W_out"]), n_hidden=n_hidden, rate=rate, n_samples=n_samples)


def sample_trains(case: dict, n: int) -> list:
    o = case["offsets"]
    return [es.SpikeTrains(case["times"][o[b]:o[b + 1]], case["neurons"][o[b]:o[b + 1]], N_IN) for b in range(n)]


# ----------------------------------------------------------------------------------------------- matching
@numba.njit(cache=False)
def _match_sorted(rt, rn, st, sn, n_neurons, window):
    """Per neuron, maximum monotone matching with |dt| <= window, ties by least total |dt|.

    Inputs sorted by (neuron, time). Returns (pairs, sum |dt|, sum dt, max |dt|, missing, extra), dt = sim - ref.
    """
    pairs, sum_abs, sum_dt, max_abs = 0, 0.0, 0.0, 0.0
    missing, extra = 0, 0
    ri, si = 0, 0
    for j in range(n_neurons):
        r0 = ri
        while ri < rn.size and rn[ri] == j:
            ri += 1
        s0 = si
        while si < sn.size and sn[si] == j:
            si += 1
        n, m = ri - r0, si - s0
        if n == 0 or m == 0:
            missing += n
            extra += m
            continue
        a, b = rt[r0:ri], st[s0:si]
        cnt = np.zeros((n + 1, m + 1), dtype=np.int64)
        cost = np.zeros((n + 1, m + 1))
        for i in range(1, n + 1):
            for k in range(1, m + 1):
                c, q = cnt[i - 1, k], cost[i - 1, k]
                if cnt[i, k - 1] > c or (cnt[i, k - 1] == c and cost[i, k - 1] < q):
                    c, q = cnt[i, k - 1], cost[i, k - 1]
                d = abs(b[k - 1] - a[i - 1])
                if d <= window:
                    c2, q2 = cnt[i - 1, k - 1] + 1, cost[i - 1, k - 1] + d
                    if c2 > c or (c2 == c and q2 < q):
                        c, q = c2, q2
                cnt[i, k], cost[i, k] = c, q
        i, k = n, m
        while i > 0 and k > 0:
            d = abs(b[k - 1] - a[i - 1])
            if d <= window and cnt[i, k] == cnt[i - 1, k - 1] + 1 and cost[i, k] == cost[i - 1, k - 1] + d:
                pairs += 1
                sum_abs += d
                sum_dt += b[k - 1] - a[i - 1]
                max_abs = max(max_abs, d)
                i -= 1
                k -= 1
            elif cnt[i, k] == cnt[i - 1, k] and cost[i, k] == cost[i - 1, k]:
                i -= 1
            else:
                k -= 1
        matched = cnt[n, m]
        missing += n - matched
        extra += m - matched
    return pairs, sum_abs, sum_dt, max_abs, missing, extra


def spike_error(reference: list, simulated: list, n_neurons: int) -> dict:
    """Aggregate matching statistics over samples; each list item is (times, neurons) of one sample."""
    tot = dict(pairs=0, sum_abs=0.0, sum_dt=0.0, max_abs=0.0, missing=0, extra=0)
    for (rt, rn), (st, sn) in zip(reference, simulated):
        ro, so = np.lexsort((rt, rn)), np.lexsort((st, sn))
        p, sa, sd, ma, mi, ex = _match_sorted(np.ascontiguousarray(rt[ro], dtype=np.float64),
                                              np.ascontiguousarray(rn[ro], dtype=np.int64),
                                              np.ascontiguousarray(st[so], dtype=np.float64),
                                              np.ascontiguousarray(sn[so], dtype=np.int64), n_neurons, MATCH_WINDOW)
        tot["pairs"] += p
        tot["sum_abs"] += sa
        tot["sum_dt"] += sd
        tot["max_abs"] = max(tot["max_abs"], ma)
        tot["missing"] += mi
        tot["extra"] += ex
    pairs = max(tot["pairs"], 1)
    return dict(mae=tot["sum_abs"] / pairs, bias=tot["sum_dt"] / pairs, max_abs=tot["max_abs"],
                missing=tot["missing"], extra=tot["extra"], pairs=tot["pairs"])


# ----------------------------------------------------------------------------------------------- runners
def timed_passes(run_pass, repeats: int, budget_s: float) -> tuple[list, list, object]:
    """Call ``run_pass`` until ``repeats`` passes or the time budget; returns wall, cpu lists and last output."""
    wall, cpu, out = [], [], None
    while True:
        w0, c0 = time.perf_counter(), time.process_time()
        out = run_pass()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        if len(wall) >= repeats or sum(wall) + wall[-1] > budget_s:
            return wall, cpu, out


def run_eventsnn(case: dict, engine: str, repeats: int, budget_s: float) -> dict:
    neuron = es.LIF(tau_mem=10.0, tau_syn=5.0)
    net = es.Network.feedforward([N_IN, case["n_hidden"], N_OUT], neuron=neuron,
                                 weights=[case["W_hidden"].copy(), case["W_out"].copy()])
    trains = sample_trains(case, case["n_samples"])
    t0 = time.perf_counter()
    es.simulate(net, trains[:1], T_MAX, engine=engine, n_threads=1)  # compilation / cache load, excluded
    setup = time.perf_counter() - t0
    wall, cpu, recs = timed_passes(lambda: es.simulate(net, trains, T_MAX, engine=engine, n_threads=1),
                                   repeats, budget_s)
    spikes = [tuple((np.asarray(layer.times), np.asarray(layer.neurons)) for layer in r.layers) for r in recs]
    return dict(simulator="eventsnn", setting=f"exact, {engine}", n_samples=case["n_samples"], wall=wall, cpu=cpu,
                setup_s=setup, spikes=spikes)


def run_numpy_loop(case: dict, dt: float, repeats: int, budget_s: float) -> dict:
    """The NumPy loop vectorised over the batch (``numpy_loop.simulate_numpy_batch``); inputs binned outside the
    timing, as for the torch peers."""
    dense = bin_inputs(case["times"], case["neurons"], case["offsets"], N_IN, dt, T_MAX)
    weights = [case["W_hidden"], case["W_out"]]
    t0 = time.perf_counter()
    simulate_numpy_batch(dense[:, :1], weights, dt)  # warm-up (BLAS start-up)
    first = time.perf_counter() - t0
    wall, cpu, out = timed_passes(lambda: simulate_numpy_batch(dense, weights, dt), repeats, budget_s)
    return dict(simulator="numpy batch", setting=f"dt {dt:g}", n_samples=case["n_samples"], wall=wall, cpu=cpu,
                setup_s=first, spikes=[tuple(layers) for layers in out])


def torch_available() -> str | None:
    """None if torch, Norse and snnTorch import here, else why not."""
    try:
        import norse  # noqa: F401
        import snntorch  # noqa: F401
        import torch  # noqa: F401
    except Exception as exc:  # a missing or broken peer is reported, not fatal
        return f"{type(exc).__name__}: {exc}"
    return None


def run_torch(case: dict, library: str, dt: float, repeats: int, budget_s: float) -> dict:
    """Norse or snnTorch (``_peers_torch.forward_runner``), the whole batch as one tensor, one thread."""
    from _peers_torch import forward_runner
    dense = bin_inputs(case["times"], case["neurons"], case["offsets"], N_IN, dt, T_MAX)
    run = forward_runner(library, dense, case["W_hidden"], case["W_out"], dt)
    t0 = time.perf_counter()
    run()  # warm-up (allocator, lazy initialisation)
    first = time.perf_counter() - t0
    wall, cpu, out = timed_passes(run, repeats, budget_s)
    name = {"norse": "Norse", "snntorch": "snnTorch"}[library]
    return dict(simulator=name, setting=f"dt {dt:g}", n_samples=case["n_samples"], wall=wall, cpu=cpu,
                setup_s=first, spikes=[tuple(layers) for layers in out])


def brian2_settings(case: dict, targets: list, dts: list, repeats: int, budget_s: float,
                    max_samples_fine: int) -> list:
    settings = []
    for dt in dts:
        for target in targets:
            n = case["n_samples"]
            if dt < 0.05 and case["n_hidden"] >= 10_000:
                n = min(n, max_samples_fine)
            settings.append(dict(dt=dt, target=target, n_samples=n, repeats=repeats, budget_s=budget_s))
    return settings


def run_brian2(case: dict, settings: list, peers_python: str, log) -> tuple[list, dict]:
    """Brian2 settings in-process if brian2 imports here, else in a subprocess of the peers interpreter."""
    try:
        import brian2  # noqa: F401
        in_process = True
    except Exception:
        in_process = False
    if in_process:
        results = _peers_brian2.run_settings(case["times"], case["neurons"], case["offsets"], case["W_hidden"],
                                             case["W_out"], T_MAX, settings, log=log)
        versions = _peers_brian2._versions()
        versions["mode"] = "in-process"
    else:
        if not peers_python or not os.path.exists(peers_python):
            return [], {"mode": f"skipped: brian2 does not import here and there is no peers interpreter at "
                                f"{peers_python!r} (see this script's docstring; --peers-python)"}
        with tempfile.TemporaryDirectory(prefix="eventsnn_fwd_") as tmp:
            job, out = os.path.join(tmp, "job.npz"), os.path.join(tmp, "result.json")
            np.savez(job, times=case["times"], neurons=case["neurons"], offsets=case["offsets"],
                     W_hidden=case["W_hidden"], W_out=case["W_out"], t_max=T_MAX, settings=json.dumps(settings))
            proc = subprocess.run([peers_python, str(HERE / "_peers_brian2.py"), job, out],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0 or not os.path.exists(out):
                tail = (proc.stderr or "")[-2000:]
                return [dict(s, error=f"peers subprocess failed (rc {proc.returncode}): {tail}") for s in settings], {}
            results, versions = _peers_brian2.load_result(out)
        versions["mode"] = f"subprocess {peers_python}"
    rows = []
    for r in results:
        row = dict(simulator=f"Brian2 {r['target']}", setting=f"dt {r['dt']:g}", n_samples=r["n_samples"])
        if "error" in r:
            row["error"] = r["error"]
        else:
            row.update(wall=r["wall"], cpu=r["cpu"], setup_s=r["setup_s"], spikes=r["spikes"],
                       note=f"{r['lanes']} samples in parallel x {r['segments']} in sequence, "
                            f"{r['copies']} generator copies")
        rows.append(row)
    return rows, versions


# ----------------------------------------------------------------------------------------------- report
def summarise(row: dict, case: dict, reference: list) -> dict:
    n = row["n_samples"]
    o = case["offsets"]
    ref = reference[:n]
    n_input = int(o[n] - o[0])
    exact_hidden = sum(len(r[0][0]) for r in ref)
    exact_output = sum(len(r[1][0]) for r in ref)
    events = n_input * case["n_hidden"] + exact_hidden * N_OUT
    wall = statistics.median(row["wall"]) / n
    cpu = statistics.median(row["cpu"]) / n
    sim = row["spikes"]
    out = dict(workload=case["name"], simulator=row["simulator"], setting=row["setting"], n_samples=n,
               passes=len(row["wall"]), ms_per_sample=1e3 * wall, cpu_ms_per_sample=1e3 * cpu,
               events_per_s=events / n / wall, hidden=sum(len(s[0][0]) for s in sim),
               output=sum(len(s[1][0]) for s in sim), exact_hidden=exact_hidden, exact_output=exact_output,
               setup_s=row.get("setup_s"), note=row.get("note", ""),
               err_hidden=spike_error([r[0] for r in ref], [s[0] for s in sim], case["n_hidden"]),
               err_output=spike_error([r[1] for r in ref], [s[1] for s in sim], N_OUT))
    return out


def fmt_err(e: dict) -> str:
    return f"{e['mae']:.2e}/{e['bias']:+.1e}/{e['max_abs']:.2e}/{e['missing']}/{e['extra']}"


def print_table(rows: list, title: str) -> None:
    print(f"\n== {title}")
    print(f"{'simulator':<16} {'setting':<20} {'n':>3} {'ms/sample':>10} {'cpu ms':>9} {'events/s':>9} "
          f"{'ratio':>7} {'cpu rat':>7} {'hidden':>8} {'output':>7}  "
          f"{'hidden err MAE/bias/max/miss/extra':<38} output err")
    base = next((r for r in rows if r.get("setting") == "exact, feedforward" and "ms_per_sample" in r), None)
    for r in rows:
        if "error" in r:
            print(f"{r['simulator']:<16} {r['setting']:<20} FAILED: {r['error'][:200]}")
            continue
        ratio = r["ms_per_sample"] / base["ms_per_sample"] if base else float("nan")
        cpu_ratio = r["cpu_ms_per_sample"] / base["cpu_ms_per_sample"] if base else float("nan")
        print(f"{r['simulator']:<16} {r['setting']:<20} {r['n_samples']:>3} {r['ms_per_sample']:>10.3f} "
              f"{r['cpu_ms_per_sample']:>9.3f} {r['events_per_s'] / 1e6:>8.1f}M {ratio:>7.2f} {cpu_ratio:>7.2f} "
              f"{r['hidden']:>8} {r['output']:>7}  {fmt_err(r['err_hidden']):<38} {fmt_err(r['err_output'])}")


def print_goals(rows: list) -> None:
    """The forward goals of issue 25 (one core, exact): every case at least as fast as the faster of the NumPy
    loop and Norse at dt 1 ms; W1 <= 0.2 ms per sample; each 20 Hz case at >= 60 % of the synaptic-event rate of the
    200 Hz case of the same size. Judged on wall time and, in brackets, on CPU time (a shared machine)."""
    ok = [r for r in rows if "ms_per_sample" in r]
    ff = {r["workload"]: r for r in ok if r["setting"] == "exact, feedforward"}
    print("\n== goals (eventsnn feedforward, one core)")
    if "W1" in ff:
        r = ff["W1"]
        print(f"   W1 <= 0.2 ms/sample: {r['ms_per_sample']:.3f} ms wall ({r['cpu_ms_per_sample']:.3f} CPU) -> "
              f"{'met' if r['ms_per_sample'] <= 0.2 else 'NOT met'}")
    for name, r in ff.items():
        peers = [p for p in ok if p["workload"] == name and p["setting"] == "dt 1"
                 and p["simulator"] in ("numpy batch", "Norse")]
        if not peers:
            continue
        fastest = min(peers, key=lambda p: p["ms_per_sample"])
        fastest_cpu = min(peers, key=lambda p: p["cpu_ms_per_sample"])
        print(f"   {name}: eventsnn {r['ms_per_sample']:.3f} ms vs faster of NumPy batch / Norse at dt 1 "
              f"({fastest['simulator']}) {fastest['ms_per_sample']:.3f} ms -> "
              f"{'met' if r['ms_per_sample'] <= fastest['ms_per_sample'] else 'NOT met'} "
              f"(x{r['ms_per_sample'] / fastest['ms_per_sample']:.2f}; CPU: {r['cpu_ms_per_sample']:.3f} vs "
              f"{fastest_cpu['simulator']} {fastest_cpu['cpu_ms_per_sample']:.3f} ms)")
    for name, r in ff.items():
        if not (name.startswith("W3") and name.endswith(" 20Hz")):
            continue
        other = ff.get(name.replace(" 20Hz", " 200Hz"))
        if other is None:
            continue
        share = r["events_per_s"] / other["events_per_s"]
        cpu_share = (r["events_per_s"] * r["ms_per_sample"] / r["cpu_ms_per_sample"]) / \
            (other["events_per_s"] * other["ms_per_sample"] / other["cpu_ms_per_sample"])
        print(f"   {name}: {r['events_per_s'] / 1e6:.0f} M synaptic events/s = {100 * share:.0f} % of the 200 Hz "
              f"rate ({100 * cpu_share:.0f} % on CPU time); goal >= 60 % -> {'met' if share >= 0.6 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--data", default=None, help="workload directory (default $EVENTSNN_DATA or ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="W1 and the smallest W3 case, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per setting (default 7, quick 2)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timed passes per setting before stopping early (default 12, quick 3)")
    parser.add_argument("--brian2-dts", default="0.1", help="Brian2 time steps (ms), comma-separated (default 0.1)")
    parser.add_argument("--brian2-targets", default="cython",
                        help="Brian2 code generation targets, comma-separated: cython, numpy (default cython)")
    parser.add_argument("--brian2-fine-samples", type=int, default=4,
                        help="samples for Brian2 dt 0.01 on N_h = 10000 (default 4)")
    parser.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON)
    parser.add_argument("--no-brian2", action="store_true")
    parser.add_argument("--cases", default=None,
                        help="comma-separated subset of case names, e.g. 'W1,W3 h10000 200Hz'")
    parser.add_argument("--json", default=None, help="write all results to this JSON file")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    budget = args.budget or (3.0 if args.quick else 12.0)
    directory = data_dir(args.data)
    torch_missing = torch_available()
    if torch_missing is not None:
        print(f"Norse / snnTorch skipped: {torch_missing}")
    else:
        import torch
        torch.set_num_threads(1)

    started = datetime.datetime.now(datetime.timezone.utc)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"eventsnn forward benchmark, {started:%Y-%m-%d %H:%M} UTC; python {platform.python_version()}, "
          f"numpy {np.__version__}, numba {numba.__version__}; CPU affinity {affinity}; "
          f"load average {os.getloadavg()}; data {directory}")
    print(f"command: {' '.join(sys.argv)}")

    cases = [("W1", 100, 20, 64)] + [(f"W3 h{h} {r}Hz", h, r, 8) for r in (20, 200) for h in (100, 1000, 10000)]
    if args.quick:
        cases = cases[:2]
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",")]
        cases = [c for c in cases if c[0] in wanted]
    all_rows, peers_versions = [], {}
    for name, n_hidden, rate, n_samples in cases:
        case = load_case(directory, n_hidden, rate, n_samples)
        case["name"] = name
        case_start = time.perf_counter()
        print(f"\n-- {name}: 100 -> {n_hidden} -> 10, {rate} Hz, {n_samples} samples, "
              f"{case['offsets'][-1]} input spikes", flush=True)
        raw = [run_eventsnn(case, "feedforward", repeats, budget)]
        reference = raw[0]["spikes"]
        raw.append(run_eventsnn(case, "general", repeats, budget))
        same = all(a[k][0].size == b[k][0].size and np.array_equal(a[k][1], b[k][1])
                   for a, b in zip(reference, raw[1]["spikes"]) for k in range(2))
        engine_dt = max((float(np.max(np.abs(a[k][0] - b[k][0]), initial=0.0))
                         for a, b in zip(reference, raw[1]["spikes"]) for k in range(2)
                         if a[k][0].size == b[k][0].size), default=0.0)
        hidden = sum(len(r[0][0]) for r in reference)
        output = sum(len(r[1][0]) for r in reference)
        print(f"   eventsnn feedforward vs general engine: same spikes (neuron sequence) = {same}, "
              f"max |t_ff - t_general| = {engine_dt:.1e} ms")
        if name == "W1":
            ok = (hidden, output) == W1_EXACT_COUNTS
            print(f"   W1 activity check: {hidden} hidden, {output} output spikes over 64 samples; documented exact "
                  f"{W1_EXACT_COUNTS[0]} / {W1_EXACT_COUNTS[1]} -> {'OK' if ok else 'MISMATCH'}", flush=True)
            if not ok:
                raise SystemExit("W1 activity differs from the documented exact counts")
        for dt in (1.0, 0.1):
            raw.append(run_numpy_loop(case, dt, repeats, budget))
            print(f"   numpy batch dt {dt:g}: {len(raw[-1]['wall'])} passes", flush=True)
        if torch_missing is None:
            for library in ("norse", "snntorch"):
                raw.append(run_torch(case, library, 1.0, repeats, budget))
                print(f"   {library} dt 1: {len(raw[-1]['wall'])} passes", flush=True)
        if not args.no_brian2:
            settings = brian2_settings(case, args.brian2_targets.split(","),
                                       [float(d) for d in args.brian2_dts.split(",")], repeats, budget,
                                       args.brian2_fine_samples)
            rows, versions = run_brian2(case, settings, args.peers_python, log=print)
            peers_versions = versions or peers_versions
            raw.extend(rows)
            print(f"   brian2: {len(rows)} settings ({versions.get('mode', 'not run')})", flush=True)
        else:
            print("   brian2: skipped (--no-brian2)", flush=True)
        rows = []
        for row in raw:
            if "error" in row:
                rows.append(dict(workload=name, simulator=row["simulator"], setting=row["setting"],
                                 n_samples=row["n_samples"], error=row["error"]))
            else:
                rows.append(summarise(row, case, reference))
        rows[1]["same_spikes_as_feedforward"], rows[1]["max_abs_dt_vs_feedforward"] = same, engine_dt
        base = rows[0]
        for r in rows:
            if "ms_per_sample" in r:
                r["ratio_wall"] = r["ms_per_sample"] / base["ms_per_sample"]
                r["ratio_cpu"] = r["cpu_ms_per_sample"] / base["cpu_ms_per_sample"]
        print_table(rows, f"{name} (case took {time.perf_counter() - case_start:.0f} s; "
                          f"errors in ms vs eventsnn exact; ratio = ms/sample / eventsnn feedforward)")
        all_rows.extend(rows)

    print_goals(all_rows)
    finished = datetime.datetime.now(datetime.timezone.utc)
    print(f"\nfinished {finished:%Y-%m-%d %H:%M:%S} UTC ({(finished - started).total_seconds():.0f} s); "
          f"load average {os.getloadavg()}")
    if args.json:
        meta = dict(command=" ".join(sys.argv), started=started.isoformat(), finished=finished.isoformat(),
                    python=platform.python_version(), numpy=np.__version__, numba=numba.__version__,
                    affinity=affinity, machine=platform.machine(), processor=_cpu_model(), peers=peers_versions,
                    repeats=repeats, budget_s=budget, load_average_end=os.getloadavg())
        pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, rows=all_rows), f, indent=1)
        print(f"wrote {args.json}")


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
