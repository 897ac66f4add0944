"""Norse and snnTorch peers: one BPTT training step on the W2 batch, and the forward pass of W1 / W3.

Training step (``benchmarks/w2.py``): run as a script in an interpreter that has ``torch``, ``snntorch`` and/or
``norse``; prints one JSON object on stdout. Forward pass (``benchmarks/forward.py``): ``forward_runner``, imported
in-process. Nothing from eventsnn is imported, so the peers' environment needs only its own packages.

Forward (WORKLOADS.md, "snnTorch" and "Norse"): two layers, the whole batch as one tensor, inputs binned once
onto the grid (``numpy_loop.bin_inputs``, outside the timing), float32, no autograd; the spike of step n is
reported at (n + 1) dt. Norse's ``LIFCell`` gets the weights unchanged (reset to 0); snnTorch's ``Synaptic``
(subtract reset, its default) gets them scaled by dt / tau_mem, since it adds the synaptic current undivided to the
membrane every step.

Model (WORKLOADS.md W2): 784 -> 350 -> 10 current-based LIF, tau_mem = 10 ms, tau_syn = 5 ms, threshold 1,
reset to 0, window 50 ms, the W2 initial weights, inputs binned once onto the grid (spike at t -> step
floor(t / dt)) outside the timing. Loss: cross-entropy of the output spike counts; gradients by BPTT through
each library's default surrogate. Step = forward + loss + backward + SGD update (lr 0, so every repeat does the
same work on the same weights).

* Norse: ``norse.torch.LIFCell`` (SuperSpike surrogate), parameters in seconds; its membrane integrates the
  synaptic current as tau_mem dV/dt = -V + I, so the weights are the eventsnn weights unchanged.
* snnTorch: ``snntorch.Synaptic`` (ATan surrogate, reset to zero); its membrane adds the synaptic current
  undivided every step, so the weights are scaled by (1 - beta) ~ dt / tau_mem to give the same dynamics.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time

TAU_MEM, TAU_SYN, T_MAX = 10.0, 5.0, 50.0  # ms


def load(path: str, dt: float):
    import numpy as np
    import torch
    data = np.load(path)
    offsets, times, neurons = data["offsets"], data["times"], data["neurons"]
    n_steps = int(round(T_MAX / dt))
    batch = offsets.size - 1
    dense = np.zeros((n_steps, batch, 784), dtype=np.float32)
    for b in range(batch):
        t = times[offsets[b]:offsets[b + 1]]
        n = neurons[offsets[b]:offsets[b + 1]]
        steps = np.minimum((t / dt).astype(np.int64), n_steps - 1)
        np.add.at(dense, (steps, b, n), 1.0)
    return (torch.from_numpy(dense), torch.from_numpy(data["labels"].astype(np.int64)),
            torch.from_numpy(data["W_hidden"].astype(np.float32)), torch.from_numpy(data["W_out"].astype(np.float32)))


def build_norse(dt: float, w_hidden, w_out):
    import torch
    from norse.torch import LIFCell, LIFParameters
    params = LIFParameters(tau_syn_inv=torch.tensor(1e3 / TAU_SYN), tau_mem_inv=torch.tensor(1e3 / TAU_MEM),
                           v_leak=torch.tensor(0.0), v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0))
    fc1 = torch.nn.Linear(784, 350, bias=False)
    fc2 = torch.nn.Linear(350, 10, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(w_hidden.T)
        fc2.weight.copy_(w_out.T)
    cell1, cell2 = LIFCell(params, dt=dt * 1e-3), LIFCell(params, dt=dt * 1e-3)

    def run(x):
        s1 = s2 = None
        out = []
        hidden = 0.0
        for t in range(x.shape[0]):
            z1, s1 = cell1(fc1(x[t]), s1)
            z2, s2 = cell2(fc2(z1), s2)
            out.append(z2)
            hidden = hidden + z1.detach().sum()
        return torch.stack(out), hidden

    return [fc1.weight, fc2.weight], run


def build_snntorch(dt: float, w_hidden, w_out):
    import torch
    import snntorch as snn
    alpha, beta = math.exp(-dt / TAU_SYN), math.exp(-dt / TAU_MEM)
    fc1 = torch.nn.Linear(784, 350, bias=False)
    fc2 = torch.nn.Linear(350, 10, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(w_hidden.T * (1.0 - beta))
        fc2.weight.copy_(w_out.T * (1.0 - beta))
    lif1 = snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="zero")
    lif2 = snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="zero")

    def run(x):
        syn1, mem1 = lif1.init_synaptic()
        syn2, mem2 = lif2.init_synaptic()
        out = []
        hidden = 0.0
        for t in range(x.shape[0]):
            z1, syn1, mem1 = lif1(fc1(x[t]), syn1, mem1)
            z2, syn2, mem2 = lif2(fc2(z1), syn2, mem2)
            out.append(z2)
            hidden = hidden + z1.detach().sum()
        return torch.stack(out), hidden

    return [fc1.weight, fc2.weight], run


def forward_runner(library: str, inputs, w_hidden, w_out, dt: float):
    """A function that runs the forward pass of the batch ``inputs`` ((steps, batch, n_in) counts, NumPy) through
    ``W_hidden``, ``W_out`` (``W[pre, post]``, NumPy) and returns, per sample, ``[(times, neurons), ...]`` per layer
    (hidden, output), sorted by time. One thread (``torch.set_num_threads(1)``)."""
    import numpy as np
    import torch
    torch.set_num_threads(1)
    x = torch.from_numpy(np.asarray(inputs, dtype=np.float32))
    scale = dt / TAU_MEM if library == "snntorch" else 1.0
    w1 = torch.from_numpy((np.asarray(w_hidden) * scale).astype(np.float32))
    w2 = torch.from_numpy((np.asarray(w_out) * scale).astype(np.float32))
    n_steps, batch = x.shape[0], x.shape[1]
    if library == "norse":
        from norse.torch import LIFCell, LIFParameters
        params = LIFParameters(tau_syn_inv=torch.tensor(1e3 / TAU_SYN), tau_mem_inv=torch.tensor(1e3 / TAU_MEM),
                               v_leak=torch.tensor(0.0), v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0))
        cells = LIFCell(params, dt=dt * 1e-3), LIFCell(params, dt=dt * 1e-3)

        def layers(t, state):
            s1, s2 = state
            z1, s1 = cells[0](x[t] @ w1, s1)
            z2, s2 = cells[1](z1 @ w2, s2)
            return z1, z2, (s1, s2)

        initial = (None, None)
    elif library == "snntorch":
        import snntorch as snn
        alpha, beta = math.exp(-dt / TAU_SYN), math.exp(-dt / TAU_MEM)
        lifs = (snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="subtract"),
                snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="subtract"))

        def layers(t, state):
            syn1, mem1, syn2, mem2 = state
            z1, syn1, mem1 = lifs[0](x[t] @ w1, syn1, mem1)
            z2, syn2, mem2 = lifs[1](z1 @ w2, syn2, mem2)
            return z1, z2, (syn1, mem1, syn2, mem2)

        initial = None
    else:
        raise ValueError(f"library must be 'norse' or 'snntorch', got {library!r}")

    def run():
        if library == "snntorch":
            state = (*lifs[0].init_synaptic(), *lifs[1].init_synaptic())
        else:
            state = initial
        hidden, output = [], []
        with torch.no_grad():
            for t in range(n_steps):
                z1, z2, state = layers(t, state)
                hidden.append(z1)
                output.append(z2)
        result = [[] for _ in range(batch)]
        for spikes in (torch.stack(hidden), torch.stack(output)):
            step, b, j = (a.numpy() for a in torch.nonzero(spikes, as_tuple=True))
            order = np.lexsort((j, step, b))
            step, b, j = step[order], b[order], j[order]
            bounds = np.searchsorted(b, np.arange(batch + 1))
            for sample in range(batch):
                lo, hi = bounds[sample], bounds[sample + 1]
                result[sample].append(((step[lo:hi] + 1) * dt, j[lo:hi].astype(np.int64)))
        return result

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=("norse", "snntorch"), required=True)
    parser.add_argument("--dt", type=float, required=True, help="time step (ms)")
    parser.add_argument("--batch-file", required=True, help="path of w2_batch.npz")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    x, labels, w_hidden, w_out = load(args.batch_file, args.dt)
    params, run = (build_norse if args.library == "norse" else build_snntorch)(args.dt, w_hidden, w_out)
    optimizer = torch.optim.SGD(params, lr=0.0)

    def step():
        t0 = time.perf_counter()
        optimizer.zero_grad()
        spikes, hidden = run(x)
        counts = spikes.sum(dim=0)
        loss = torch.nn.functional.cross_entropy(counts, labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        grad_norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
        return t1 - t0, t2 - t1, t3 - t0, float(hidden), float(counts.detach().sum()), grad_norm

    step()  # warm-up (allocator, lazy initialisation)
    forward, backward, total = [], [], []
    for _ in range(args.repeats):
        f, b, t, hidden, output, grad_norm = step()
        forward.append(f)
        backward.append(b)
        total.append(t)
    version = __import__(args.library).__version__ if hasattr(__import__(args.library), "__version__") else "?"
    print(json.dumps({
        "simulator": args.library, "version": version, "torch": torch.__version__, "dt_ms": args.dt,
        "n_steps": int(x.shape[0]), "repeats": args.repeats,
        "step_ms": 1e3 * statistics.median(total), "step_ms_min": 1e3 * min(total),
        "forward_ms": 1e3 * statistics.median(forward),
        "backward_ms": 1e3 * statistics.median(backward),
        "hidden_spikes_per_image": hidden / x.shape[1], "output_spikes_per_image": output / x.shape[1],
        "grad_norm": grad_norm, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "exact": False,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
