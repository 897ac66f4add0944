"""Brian2 peer for ``benchmarks/forward.py`` (run in the peers environment, see forward.py's docstring).

Set-up of ../shared/docs/WORKLOADS.md ("Brian2"): ``dv/dt = (-v + I)/tau_m``, ``dI/dt = -I/tau_s``, method
'exact', threshold ``v >= 1``, reset ``v = 0``, synapses ``on_pre: I_post += w``; inputs from a
SpikeGeneratorGroup with the saved times. Brian2 puts an input at step floor((t + 1e-3 dt)/dt) and refuses two
spikes of one generator neuron in one step: the k-th such spike goes to an extra generator neuron (copy k) with
the same outgoing weights. Spike times are Brian2's own (the monitor's t).

The network is built once per (dt, target) and runs the whole batch in one ``run``: samples side by side as
parallel copies of the network (block-diagonal synapses, up to ``max_synapses`` input synapses) and, beyond
that, back to back in time with the state zeroed at each sample start. (A per-sample ``restore`` + ``run``
costs ~0.3 s of Brian2 overhead per call, far more than the simulation.) One ``run(T)`` is done before timing
(code generation and compilation excluded); the timed part is ``Network.run`` of the whole batch. Reported per
setting: wall and process CPU time of each timed pass over the samples, and the spikes of the last pass.

Used in-process (``run_settings``) when brian2 imports in forward.py's interpreter, otherwise as a subprocess:

    python benchmarks/_peers_brian2.py JOB.npz RESULT.json

JOB.npz holds ``times``, ``neurons``, ``offsets``, ``W_hidden``, ``W_out``, ``t_max`` and ``settings`` (a JSON
string: list of {"dt", "target", "n_samples", "repeats", "budget_s"}). RESULT.json holds the timings, and the
spike arrays are written next to it (RESULT.json + ".npz").
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np


def generator_indices(times: np.ndarray, neurons: np.ndarray, dt: float, n_in: int) -> tuple[np.ndarray, int]:
    """Generator index of each input spike (copy k of neuron i is index k * n_in + i) and the copies needed."""
    bins = np.floor((times + 1e-3 * dt) / dt).astype(np.int64)
    key = neurons.astype(np.int64) * (bins.max(initial=0) + 1) + bins
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rank_sorted = np.zeros(key.size, dtype=np.int64)
    if key.size:
        start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
        group_start = np.repeat(start, np.diff(np.r_[start, key.size]))
        rank_sorted = np.arange(key.size) - group_start
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    copies = int(rank.max(initial=0)) + 1
    return rank * n_in + neurons.astype(np.int64), copies


def run_settings(times: np.ndarray, neurons: np.ndarray, offsets: np.ndarray, W_hidden: np.ndarray,
                 W_out: np.ndarray, t_max: float, settings: list[dict], log=print) -> list[dict]:
    """Run each Brian2 setting; returns one dict per setting (timings, spikes per sample or an error)."""
    results = []
    for setting in settings:
        try:
            results.append(_run_one(times, neurons, offsets, W_hidden, W_out, t_max, **setting))
        except Exception as exc:  # a failing peer is reported, not fatal
            results.append(dict(setting, error=f"{type(exc).__name__}: {exc}"))
            log(f"  brian2 {setting}: FAILED {type(exc).__name__}: {exc}")
    return results


def _run_one(times, neurons, offsets, W_hidden, W_out, t_max, dt, target, n_samples, repeats, budget_s,
             max_synapses=4_000_000):
    import brian2 as b2
    from brian2 import ms

    b2.prefs.codegen.target = target
    b2.prefs.core.default_float_dtype = np.float64
    if target == "cython":
        cache = os.environ.get("BRIAN2_CYTHON_CACHE", os.path.join(tempfile.gettempdir(), "eventsnn_brian2_cython"))
        os.makedirs(cache, exist_ok=True)
        b2.prefs.codegen.runtime.cython.cache_dir = cache
    b2.start_scope()
    b2.defaultclock.dt = dt * ms
    n_in, n_hidden = W_hidden.shape
    n_out = W_out.shape[1]
    n_steps = int(round(t_max / dt))
    # Generator copies needed (the largest number of spikes of one input neuron in one step, over the samples).
    copies = max(generator_indices(times[offsets[b]:offsets[b + 1]], neurons[offsets[b]:offsets[b + 1]], dt, n_in)[1]
                 for b in range(n_samples))
    # Samples run in `lanes` parallel copies of the network (block-diagonal weights; amortises Brian2's per-step
    # overhead over the batch) and, when the synapse count would exceed max_synapses, in `segments` one after the
    # other in time: sample b is lane b % lanes, segment b // lanes, i.e. [s T, (s + 1) T). The state is zeroed at
    # every segment start (run_regularly at 'start', before the state update), so each sample sees
    # V(0) = I(0) = 0 as in a separate run (a spike of the last step of a segment reaches I of the next layer,
    # which is zeroed before it is integrated).
    lanes = int(max(1, min(n_samples, max_synapses // (copies * n_in * n_hidden))))
    segments = -(-n_samples // lanes)
    shifted = np.concatenate([times[offsets[b]:offsets[b + 1]] + (b // lanes) * t_max for b in range(n_samples)])
    pre_idx = np.concatenate([neurons[offsets[b]:offsets[b + 1]] + (b % lanes) * n_in for b in range(n_samples)])
    gen_idx, copies_check = generator_indices(shifted, pre_idx, dt, lanes * n_in)
    if copies_check != copies:  # cannot happen unless the binning of shifted times differs; fail loudly
        raise RuntimeError(f"generator copies {copies_check} != {copies}")

    eqs = "dv/dt = (-v + I) / tau_m : 1\ndI/dt = -I / tau_s : 1"
    namespace = {"tau_m": 10.0 * ms, "tau_s": 5.0 * ms}
    generator = b2.SpikeGeneratorGroup(copies * lanes * n_in, gen_idx, shifted * ms)
    hidden = b2.NeuronGroup(lanes * n_hidden, eqs, threshold="v >= 1", reset="v = 0", method="exact",
                            namespace=namespace)
    output = b2.NeuronGroup(lanes * n_out, eqs, threshold="v >= 1", reset="v = 0", method="exact",
                            namespace=namespace)
    objects = [generator, hidden, output]
    if segments > 1:
        objects += [hidden.run_regularly("v = 0\nI = 0", dt=t_max * ms, when="start"),
                    output.run_regularly("v = 0\nI = 0", dt=t_max * ms, when="start")]
    s_in = b2.Synapses(generator, hidden, "w : 1", on_pre="I_post += w")
    g = np.arange(copies * lanes * n_in)
    g_lane, g_pre = (g // n_in) % lanes, g % n_in
    pre = np.repeat(g, n_hidden)
    post = (np.repeat(g_lane, n_hidden) * n_hidden + np.tile(np.arange(n_hidden), g.size))
    s_in.connect(i=pre, j=post)
    s_in.w = W_hidden[np.repeat(g_pre, n_hidden), np.tile(np.arange(n_hidden), g.size)]
    del pre, post
    s_out = b2.Synapses(hidden, output, "w : 1", on_pre="I_post += w")
    h = np.arange(lanes * n_hidden)
    s_out.connect(i=np.repeat(h, n_out), j=np.repeat(h // n_hidden, n_out) * n_out + np.tile(np.arange(n_out), h.size))
    s_out.w = W_out[np.repeat(h % n_hidden, n_out), np.tile(np.arange(n_out), h.size)]
    mon_h, mon_o = b2.SpikeMonitor(hidden), b2.SpikeMonitor(output)
    net = b2.Network(*objects, s_in, s_out, mon_h, mon_o)
    net.store("init")

    def split(mon, size):
        steps = np.rint(np.asarray(mon.t_) * 1e3 / dt).astype(np.int64)
        idx = np.asarray(mon.i[:], dtype=np.int64)
        sample = (steps // n_steps) * lanes + idx // size
        out = []
        for b in range(n_samples):
            m = sample == b  # monitor output is in time order, so each sample's spikes stay sorted by time
            out.append(((steps[m] - (b // lanes) * n_steps) * dt, idx[m] % size))
        return out

    t0 = time.perf_counter()
    net.run(t_max * ms)  # code generation / compilation (first sample only), excluded
    setup_s = time.perf_counter() - t0
    wall, cpu = [], []
    spikes = None
    while True:
        net.restore("init")
        w0, c0 = time.perf_counter(), time.process_time()
        net.run(segments * t_max * ms)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        if len(wall) >= repeats or sum(wall) + wall[-1] > budget_s:
            break
    hidden_spikes, output_spikes = split(mon_h, n_hidden), split(mon_o, n_out)
    spikes = [(hidden_spikes[b], output_spikes[b]) for b in range(n_samples)]
    return dict(dt=dt, target=target, n_samples=n_samples, copies=copies, lanes=lanes, segments=segments,
                setup_s=setup_s, wall=wall, cpu=cpu, spikes=spikes)


def main(argv: list[str]) -> None:
    job, result_path = argv[1], argv[2]
    data = np.load(job)
    settings = json.loads(str(data["settings"]))
    results = run_settings(data["times"], data["neurons"], data["offsets"], data["W_hidden"], data["W_out"],
                           float(data["t_max"]), settings, log=lambda m: print(m, file=sys.stderr, flush=True))
    arrays = {}
    for k, r in enumerate(results):
        spikes = r.pop("spikes", None)
        if spikes is None:
            continue
        for b, layers in enumerate(spikes):
            for layer, (t, i) in enumerate(layers):
                arrays[f"s{k}_b{b}_l{layer}_t"] = t
                arrays[f"s{k}_b{b}_l{layer}_i"] = i
        r["spikes_in_npz"] = True
    np.savez(result_path + ".npz", **arrays)
    with open(result_path, "w") as f:
        json.dump({"results": results, "versions": _versions()}, f)


def _versions() -> dict:
    import brian2
    return {"brian2": brian2.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}


def load_result(result_path: str) -> tuple[list[dict], dict]:
    """Read a subprocess result back (timings from JSON, spikes from the companion npz)."""
    with open(result_path) as f:
        payload = json.load(f)
    arrays = np.load(result_path + ".npz")
    results = payload["results"]
    for k, r in enumerate(results):
        if r.get("spikes_in_npz"):
            r["spikes"] = [tuple((arrays[f"s{k}_b{b}_l{layer}_t"], arrays[f"s{k}_b{b}_l{layer}_i"])
                                 for layer in range(2)) for b in range(r["n_samples"])]
    return results, payload.get("versions", {})


if __name__ == "__main__":
    main(sys.argv)
