"""Share of the exact crossing solver in W2's hidden-layer forward: the (V0, I0, window) arguments of every
``first_crossing`` call on 8 W2 images are captured in a Python-mode run (NUMBA_DISABLE_JIT=1, a subprocess),
then replayed through the compiled solver and compared with the compiled hidden-layer kernel on the same images.

    python benchmarks/crossing_share.py
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import numpy as np

ARGS = os.path.join(tempfile.gettempdir(), "eventsnn_crossing_args.npy")
ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("EVENTSNN_DATA", ROOT.parent / "shared" / "data"))
if len(sys.argv) > 1 and sys.argv[1] == "capture":
    os.environ["NUMBA_DISABLE_JIT"] = "1"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import eventsnn as es
    from eventsnn._kernels import forward as F
    import train_step as ts
    args = []
    orig = F.first_crossing
    def fc(v, i, w, p):
        args.append((v, i, w))
        return orig(v, i, w, p)
    F.first_crossing = fc
    inputs, labels, weights = ts.load_w2(DATA / "workloads" / "w2_batch.npz")
    params = es.LIF(tau_mem=10.0, tau_syn=5.0).kernel_parameters()
    for x in inputs[:8]:
        F.layer_forward(x.times, x.neurons, weights[0], params, 50.0, 1000)
    np.save(ARGS, np.array(args))
    sys.exit(0)
subprocess.run([sys.executable, __file__, "capture"], check=True)
import eventsnn as es
from numba import njit
from eventsnn._kernels.crossing import first_crossing
from eventsnn._kernels.lif import state_after
from eventsnn._kernels.forward import layer_forward
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_step as ts
A = np.load(ARGS)
params = es.LIF(tau_mem=10.0, tau_syn=5.0).kernel_parameters()
@njit
def run_fc(A, p, reps):
    s = 0.0
    for _ in range(reps):
        for k in range(A.shape[0]):
            r = first_crossing(A[k, 0], A[k, 1], A[k, 2], p)
            if r < 1e300:
                s += r
    return s
@njit
def run_sa(A, p, reps):
    s = 0.0
    for _ in range(reps):
        for k in range(A.shape[0]):
            a, b = state_after(A[k, 2] * 0.5, A[k, 0], A[k, 1], p)
            s += a
    return s
run_fc(A[:10], params, 1)
run_sa(A[:10], params, 1)
t = time.perf_counter()
run_fc(A, params, 20)
fc_t = (time.perf_counter() - t) / 20
t = time.perf_counter()
run_sa(A, params, 20)
sa_t = (time.perf_counter() - t) / 20
inputs, labels, weights = ts.load_w2(DATA / "workloads" / "w2_batch.npz")
layer_forward(inputs[0].times, inputs[0].neurons, weights[0], params, 50.0, 1000)
best = 1e9
for _ in range(10):
    t = time.perf_counter()
    for x in inputs[:8]:
        layer_forward(x.times, x.neurons, weights[0], params, 50.0, 1000)
    best = min(best, time.perf_counter() - t)
print(f"8 images: {A.shape[0]} first_crossing calls: {fc_t*1e3:.3f} ms total ({fc_t/A.shape[0]*1e9:.0f} ns each); "
      f"same count of state_after {sa_t*1e3:.3f} ms; hidden layer_forward {best*1e3:.3f} ms")
