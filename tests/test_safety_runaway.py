"""Issue 19, class 3 (unbounded work): the documented caps stop runaway activity early, and the fast path's gap sort
is O(k log k).

Bounds (docs/_safety_engine_section.md): with the default caps, the two runaway examples of the issue (a 1000-neuron
all-to-all excitatory network; a 10,000-neuron bias-driven population) raise SpikeLimitError naming the cap within
5 s and 500 MB of peak RSS, measured in a fresh subprocess. The peak is that of the whole process (interpreter,
numpy, numba, the network) during the call: the kernels are compiled or loaded by a warm-up call first, after which
the kernel's peak count is reset, since compiling (a first run after a kernel edit) peaks higher than any run.
Before: no answer in 240 s; 115 s and 2.2 GiB.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from safety import kernel_spy, objs  # noqa: F401 (fixtures)

import eventsnn as es
from eventsnn._kernels.forward import (
    INSERTION_SORT_MAX,
    _merge_sort_block,
    _sort_block_by_time,
)
from eventsnn.simulate import (
    DEFAULT_SAMPLE_WORK,
    SPIKE_COST,
    default_max_spikes_per_sample,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
TIME_BOUND_S = 5.0
RSS_BOUND_MB = 500.0

NETWORKS = {
    # 1000 neurons, all-to-all excitation with a 1 ms delay: every spike recruits the whole population
    "recurrent_1000": """
        net = es.Network(); net.add_input("in", 10); net.add_population("exc", 1000, es.LIF())
        net.connect("in", "exc", np.full((10, 1000), 8.0))
        net.connect("exc", "exc", np.full((1000, 1000), 0.05), delays=1.0)
        inputs, t_max, engine = es.SpikeTrains([1.0], [0], 10), 1000.0, "general"
    """,
    # 10,000 neurons driven by their bias alone (each fires every 6.9 ms), heap engine
    "bias_10000_general": """
        net = es.Network.feedforward([1, 10000], neuron=es.LIF(bias=2.0), weights=[np.zeros((1, 10000))])
        inputs, t_max, engine = es.SpikeTrains([], [], 1), 1e6, "general"
    """,
    # the same on the layered fast path, with a window in which no neuron reaches the per-neuron cap
    # (~505 each, 5e6 in all)
    "bias_10000_feedforward": """
        net = es.Network.feedforward([1, 10000], neuron=es.LIF(bias=2.0), weights=[np.zeros((1, 10000))])
        inputs, t_max, engine = es.SpikeTrains([], [], 1), 3500.0, "feedforward"
    """,
    # 1000 tonic neurons, no input: every spike of the window falls into one gap (289k spikes; the 364k
    # took 107 s in the quadratic insertion sort)
    "tonic_1000": """
        net = es.Network.feedforward([1, 1000], neuron=es.LIF(bias=1.5, tau_mem=np.pi), weights=[np.zeros((1, 1000))])
        inputs, t_max, engine = es.SpikeTrains([], [], 1), 1000.0, "feedforward"
    """,
}

RUNNER = """
import json, resource, time
import numpy as np
import eventsnn as es
{network}
warm = es.Network.feedforward([1, 2], neuron=es.LIF(), weights=[np.ones((1, 2))])
es.simulate(warm, es.SpikeTrains([1.0], [0], 1), 5.0, engine=engine, n_threads=1)  # compile or load the kernels
try:  # restart the peak-RSS count (Linux >= 4.0), so that compiling the kernels is not counted
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    reset = True
except OSError:
    reset = False
start = time.process_time()  # CPU time: the bound is on work, and a loaded machine stretches wall time
try:
    rec = es.simulate(net, inputs, t_max, engine=engine, n_threads=1)
    outcome = {{"error": None, "spikes": sum(len(layer) for layer in rec.layers)}}
except es.SpikeLimitError as error:
    outcome = {{"error": str(error)}}
outcome["seconds"] = time.process_time() - start
# VmHWM, not ru_maxrss: Linux keeps the parent's resident size at fork time in ru_maxrss across execve, so a large
# pytest parent would inflate it; without the reset above, VmHWM still counts this image's compile peak only
with open("/proc/self/status") as handle:
    peak_kb = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
outcome["max_rss_mb"] = peak_kb / 1024
print(json.dumps(outcome))
"""


def _run(network: str) -> dict:
    code = RUNNER.format(network=textwrap.dedent(NETWORKS[network]))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("network, cap", [("recurrent_1000", "max_spikes_per_sample=4975"),
                                          ("bias_10000_general", "max_spikes_per_sample=1000000"),
                                          ("bias_10000_feedforward", "max_spikes_per_sample=1000000")])
def test_runaway_examples_stop_within_the_documented_bound(network, cap):
    outcome = _run(network)
    assert outcome["error"] is not None and cap in outcome["error"], outcome
    assert outcome["seconds"] < TIME_BOUND_S, outcome
    assert outcome["max_rss_mb"] < RSS_BOUND_MB, outcome


def test_one_gap_holding_every_spike_is_sorted_fast():
    outcome = _run("tonic_1000")
    assert outcome["error"] is None and outcome["spikes"] > 250_000, outcome
    assert outcome["seconds"] < TIME_BOUND_S, outcome


# ----------------------------------------------------------------------------------------------
# the gap sort: both branches give the stable (time, append order) order, so results stay bit-identical
@pytest.mark.parametrize("seed", range(6))
def test_gap_sort_is_the_stable_sort_by_time(seed, rng):
    for size in (0, 1, 2, INSERTION_SORT_MAX, INSERTION_SORT_MAX + 1, 500):
        # few distinct times: many ties, as identical tonic neurons produce
        times = rng.integers(0, 5, size).astype(np.float64) * 0.25
        neurons = np.arange(size, dtype=np.int64)
        start, stop = (3, size + 3)
        padded_t = np.concatenate([[-1.0, -1.0, -1.0], times, [9.0]])
        padded_n = np.concatenate([[-1, -1, -1], neurons, [-1]]).astype(np.int64)
        _sort_block_by_time(padded_t, padded_n, start, stop)
        order = np.argsort(times, kind="stable")
        assert np.array_equal(padded_t[start:stop], times[order])
        assert np.array_equal(padded_n[start:stop], neurons[order])
        assert padded_t[:3].tolist() == [-1.0] * 3 and padded_t[-1] == 9.0  # outside the block untouched
        merged_t, merged_n = np.concatenate([[0.0], times]), np.concatenate([[0], neurons]).astype(np.int64)
        _merge_sort_block(merged_t, merged_n, 1, size + 1)
        assert np.array_equal(merged_n[1:], neurons[order])


def test_fast_path_with_large_tied_gaps_equals_the_heap_engine():
    """200 identical tonic neurons fire at identical times: gaps of 200+ tied spikes go through the merge sort."""
    net = es.Network.feedforward([1, 200], neuron=es.LIF(bias=1.5), weights=[np.zeros((1, 200))])
    fast = es.simulate(net, es.SpikeTrains([], [], 1), 100.0, engine="feedforward", n_threads=1)
    general = es.simulate(net, es.SpikeTrains([], [], 1), 100.0, engine="general", n_threads=1)
    assert len(fast.layers[0]) > 4 * INSERTION_SORT_MAX
    assert fast.layers[0] == general.layers[0]


# ----------------------------------------------------------------------------------------------
# the caps themselves
def _driven(engine: str):
    """A layered network with a known spike count per sample (used with both engines)."""
    net = es.Network.feedforward([2, 4, 3], neuron=es.LIF(bias=1.2), weights=[np.full((2, 4), 0.5),
                                                                           np.full((4, 3), 0.3)])
    inputs = es.SpikeTrains([1.0, 5.0], [0, 1], 2)
    rec = es.simulate(net, inputs, 60.0, engine=engine, n_threads=1)
    return net, inputs, sum(len(layer) for layer in rec.layers)


@pytest.mark.parametrize("engine", ["feedforward", "general"])
def test_sample_cap_is_exact(engine):
    net, inputs, n = _driven(engine)
    assert n > 20
    rec = es.simulate(net, inputs, 60.0, engine=engine, n_threads=1, max_spikes_per_sample=n)
    assert sum(len(layer) for layer in rec.layers) == n
    with pytest.raises(es.SpikeLimitError, match=rf"max_spikes_per_sample={n - 1} spikes .* sample 0"):
        es.simulate(net, inputs, 60.0, engine=engine, n_threads=1, max_spikes_per_sample=n - 1)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_batch_cap_is_exact(n_threads):
    net, inputs, n = _driven("feedforward")
    batch = [inputs] * 3
    records = es.simulate(net, batch, 60.0, n_threads=n_threads, max_spikes_per_batch=3 * n)
    assert sum(len(layer) for r in records for layer in r.layers) == 3 * n
    with pytest.raises(es.SpikeLimitError, match=rf"max_spikes_per_batch={3 * n - 1} spikes"):
        es.simulate(net, batch, 60.0, n_threads=n_threads, max_spikes_per_batch=3 * n - 1)


def test_time_budget_stops_before_the_first_sample(objs, kernel_spy):  # noqa: F811 (fixtures)
    with pytest.raises(es.SpikeLimitError, match=r"exceeded time_budget=1e-09 s before"):
        es.simulate(objs.ff, [objs.inputs] * 3, 50.0, n_threads=1, time_budget=1e-9)
    assert kernel_spy == []


def test_generous_caps_change_no_result():
    net, inputs, _ = _driven("general")
    default = es.simulate(net, [inputs] * 2, 60.0, n_threads=1)
    generous = es.simulate(net, [inputs] * 2, 60.0, n_threads=1, max_spikes_per_sample=2**62,
                           max_spikes_per_batch=2**62, time_budget=3600.0)
    assert all(a == b for r, s in zip(default, generous) for a, b in zip(r.layers, s.layers))


def test_default_sample_cap_follows_size_and_fan_out():
    lif = es.LIF()
    tiny = es.Network.feedforward([2, 3], neuron=lif, weights=[np.ones((2, 3))])
    assert default_max_spikes_per_sample(tiny) == 3 * 10_000  # the per-neuron cap already bounds it
    assert default_max_spikes_per_sample(tiny, 5) == 15
    wide = es.Network.feedforward([1, 10_000], neuron=lif, weights=[np.zeros((1, 10_000))])
    assert default_max_spikes_per_sample(wide) == DEFAULT_SAMPLE_WORK // SPIKE_COST
    dense = es.Network()
    dense.add_input("in", 1)
    dense.add_population("exc", 1000, lif)
    dense.connect("in", "exc", np.zeros((1, 1000)))
    dense.connect("exc", "exc", np.zeros((1000, 1000)))
    assert default_max_spikes_per_sample(dense) == DEFAULT_SAMPLE_WORK // (SPIKE_COST + 1000)


BAD_CAPS = [
    ({"max_spikes_per_sample": 0}, ValueError, r"max_spikes_per_sample must be an int >= 1, got 0"),
    ({"max_spikes_per_sample": 10.0}, TypeError, r"max_spikes_per_sample must be an int"),
    ({"max_spikes_per_sample": 2**64}, ValueError, r"max_spikes_per_sample must be an int <= 9223372036854775807"),
    ({"max_spikes_per_batch": -1}, ValueError, r"max_spikes_per_batch must be an int >= 1, got -1"),
    ({"max_spikes_per_batch": True}, TypeError, r"max_spikes_per_batch must be an int"),
    ({"max_spikes_per_neuron": 2**64}, ValueError, r"max_spikes_per_neuron must be an int <= "),
    ({"time_budget": 0.0}, ValueError, r"time_budget must be a finite number > 0, got 0.0"),
    ({"time_budget": np.inf}, ValueError, r"time_budget must be a finite number > 0, got inf"),
    ({"time_budget": "1"}, TypeError, r"time_budget must be a real number"),
]


@pytest.mark.parametrize("kwargs, exception, pattern", BAD_CAPS, ids=[next(iter(c[0])) + "-" + repr(next(
    iter(c[0].values()))) for c in BAD_CAPS])
def test_bad_caps_are_refused_before_any_work(kwargs, exception, pattern, objs, kernel_spy):  # noqa: F811 (fixtures)
    with pytest.raises(exception, match=pattern):
        es.simulate(objs.ff, objs.inputs, 50.0, n_threads=1, **kwargs)
    assert kernel_spy == []
