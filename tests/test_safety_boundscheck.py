"""Memory-safety net (issue 19): kernel entries run with NUMBA_BOUNDSCHECK=1, so an out-of-bounds access is an
IndexError instead of silent memory corruption.

A subprocess compiles the kernels with bounds checks into its own NUMBA_CACHE_DIR (a fresh temporary directory:
numba's cache index does not record the flag, so bounds-checked and normal machine code must never share a cache)
and runs a fast set of scenarios through the public API: both engines (ties, large gaps, delays, recurrence,
refractoriness, every cap's early exit), record replay, the losses, the read-out, the optimizers and the layered
adjoint (the general adjoint's kernels would add ~7 s of compilation; as it is, about 22 s of CPU, 40 s of wall time
on a loaded two-core machine).
A canary first proves the checks are on: an out-of-range index handed to a kernel directly must raise IndexError.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCENARIOS = r"""
import numpy as np
import numba
import eventsnn as es
from eventsnn import losses, optim
from eventsnn._kernels import classify
from eventsnn.readout import LIReadout

assert numba.config.BOUNDSCHECK, "NUMBA_BOUNDSCHECK was not picked up"
try:
    classify.first_spike_index(np.array([5], dtype=np.int64), 2)
except IndexError:
    print("canary: IndexError")
else:
    raise SystemExit("canary: an out-of-bounds write went unnoticed")

rng = np.random.default_rng(0)
lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
ran = []

# layered fast path and heap engine on the same random network (refractory, delay), 2 threads
net = es.Network.feedforward([20, 30, 5], neuron=[es.LIF(refractory=1.0), lif],
                             weights=[rng.normal(0.4, 0.6, (20, 30)), rng.normal(0.4, 0.6, (30, 5))], delays=[0.0, 1.5])
inputs = [es.SpikeTrains(np.sort(rng.uniform(0, 40, 50)), rng.integers(0, 20, 50), 20, sort=True) for _ in range(3)]
inputs.append(es.SpikeTrains([], [], 20))
inputs.append(es.SpikeTrains([0.0, 0.0, 50.0], [1, 2, 3], 20))  # at 0 and exactly at t_max
for engine in ("feedforward", "general"):
    recs = es.simulate(net, inputs, 50.0, engine=engine, n_threads=2)
    ran.append(f"{engine}: {sum(len(l) for r in recs for l in r.layers)} spikes")

# a gap holding hundreds of tied spikes (merge sort) and every cap's early exit
tonic = es.Network.feedforward([1, 100], neuron=es.LIF(bias=1.5), weights=[np.zeros((1, 100))])
silent = es.SpikeTrains([], [], 1)
es.simulate(tonic, silent, 100.0, engine="feedforward")
for engine in ("feedforward", "general"):
    for caps in ({"max_spikes_per_neuron": 3}, {"max_spikes_per_sample": 250}, {"max_spikes_per_batch": 10}):
        try:
            es.simulate(tonic, [silent, silent], 100.0, engine=engine, n_threads=1, **caps)
            raise SystemExit(f"{caps} did not stop {engine}")
        except es.SpikeLimitError:
            pass
ran.append("caps")

# recurrent network with per-synapse delays and inhibition
rec_net = es.Network()
rec_net.add_input("in", 10)
rec_net.add_population("exc", 25, es.LIF(refractory=1.0, bias=0.3))
rec_net.add_population("inh", 8, lif)
rec_net.connect("in", "exc", rng.normal(0.6, 0.5, (10, 25)), delays=rng.uniform(0, 3, (10, 25)))
rec_net.connect("exc", "exc", rng.normal(0.05, 0.2, (25, 25)), delays=rng.uniform(0.5, 3, (25, 25)))
rec_net.connect("exc", "inh", rng.normal(0.3, 0.2, (25, 8)), delays=1.0)
rec_net.connect("inh", "exc", -np.abs(rng.normal(0.5, 0.2, (8, 25))), delays=0.5)
rec_in = es.SpikeTrains(np.sort(rng.uniform(0, 50, 80)), rng.integers(0, 10, 80), 10, sort=True)
general = es.simulate(rec_net, rec_in, 80.0)
general.membrane_potential("exc", 3, np.linspace(0.0, 80.0, 33))
general.synaptic_current("inh", 0, [0.0, 80.0])
ran.append(f"recurrent: {sum(len(l) for l in general.layers)} spikes")

# losses, read-out, adjoint and optimizers on a layered record
rec = es.simulate(net, inputs[0], 50.0)
loss = losses.first_spike_cross_entropy(rec, 2) + losses.latency_cross_entropy(rec, 1)
losses.spike_count_cross_entropy(rec, 0)
losses.softmax_cross_entropy(np.array([1.0, -2.0, 3.0]), 2)
readout = LIReadout(rng.normal(0, 1, (5, 4)), lif)
vmax = losses.vmax_cross_entropy(rec, readout, 3)
readout.potentials(rec.layers[-1], np.linspace(0.0, 50.0, 11))
vmax.creation_cotangent(1, np.linspace(0.0, 50.0, 7))
vmax.creation_cotangent(1, np.array([1.0, 2.0]), np.array([0, 4]))
grads = es.vjp(rec.network, rec, loss.cotangents)
params = [w.copy() for w in net.weights]
optim.Adam(0.01).step(params, grads.weights)
optim.SGD(0.01, 0.9).step(params, grads.weights)
ran.append("losses, read-out, vjp, optimizers")
print("; ".join(ran))
"""


def test_kernel_entries_under_numba_boundscheck(tmp_path):
    # NUMBA_OPT=0: compiling is most of this test's time, and LLVM's optimisations do not change what is checked
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_OPT="0", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCENARIOS], env=env, capture_output=True, text=True, check=False,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "canary: IndexError" in done.stdout
    assert "losses, read-out, vjp, optimizers" in done.stdout, done.stdout
