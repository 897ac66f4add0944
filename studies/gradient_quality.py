"""Study 4: gradient quality. Cosine similarity of each method's gradient with the gradient of a smoothed loss.

Smoothed loss: L_s(W) = E_xi[ L(W; input times + xi) ], xi ~ N(0, sigma^2) independently per input spike
(sigma = --jitter ms). Averaging over input jitter turns the jumps of L at spike creation/removal into smooth
changes, so L_s has a proper gradient that includes creation/removal effects. Reference estimator: central
finite differences of L_s on every weight, dL_s/dW ~ [mean_m L(W + eps e_i; x + xi_m) - mean_m L(W - eps e_i;
x + xi_m)] / (2 eps), with the same M jitter draws xi_1..xi_M on both sides (common random numbers). Its own noise
is measured by splitting the M draws in two halves and taking the cosine between the two half-estimates
("reference reliability"); a method cannot be expected to score above about that level.
Method gradient: the mean of the method's gradient over the same M jittered inputs.

Network 20-20-3 LIF (10 ms / 5 ms), window 50 ms, random Poisson input at --densities Hz per input, random
Poisson targets at 20 Hz, van Rossum loss (tau 10 ms).

    nice -n 15 env NUMBA_NUM_THREADS=1 python studies/gradient_quality.py --seeds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import eventsnn as es  # noqa: E402
from eventsnn import losses  # noqa: E402
from eventsnn.encoders import poisson_encode  # noqa: E402
from eventsnn.training import init_weights  # noqa: E402

from _common import (COLORS, METHODS, checkpoint, default_out, figure_path, gradient, mean_sem,  # noqa: E402
                     new_results, pyplot, replot, save_figure)

NAME = "gradient_quality"
SIZES = [20, 20, 3]
T = 50.0


def cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


def problem(seed, density, args):
    rng = np.random.default_rng([seed, int(density), 11])
    inputs = poisson_encode(np.full((1, SIZES[0]), density), T, seed=rng)[0]
    targets = poisson_encode(np.full((1, SIZES[-1]), 20.0), T - 5.0, seed=rng, t_start=5.0)[0]
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    w = init_weights(SIZES, rng, input_spikes=max(len(inputs), 1), neuron_psp_peak=lif.psp_peak(), drive=(4.0, 4.0))
    net = es.Network.feedforward(SIZES, neuron=lif, weights=w)
    jitters = []
    for _ in range(args.samples):
        t = np.clip(inputs.times + rng.normal(0.0, args.jitter, len(inputs)), 0.0, T)
        jitters.append(es.SpikeTrains(t, inputs.neurons, SIZES[0], sort=True))
    return net, jitters, targets


def mean_losses(net, jitters, targets, args):
    recs = es.simulate(net, jitters, T, n_threads=1)
    return np.array([losses.van_rossum_distance(r, targets, tau=10.0).value for r in recs])


def one(seed, density, args):
    net, jitters, targets = problem(seed, density, args)
    flat = [w.copy() for w in net.weights]
    half = args.samples // 2
    ref_a, ref_b = [np.zeros_like(w) for w in flat], [np.zeros_like(w) for w in flat]
    for k, w in enumerate(flat):
        eps = args.eps * float(np.std(w))
        for idx in np.ndindex(w.shape):
            vals = []
            for sign in (1.0, -1.0):
                ws = [x.copy() for x in flat]
                ws[k][idx] += sign * eps
                net.set_weights(ws)
                vals.append(mean_losses(net, jitters, targets, args))
            d = (vals[0] - vals[1]) / (2 * eps)
            ref_a[k][idx], ref_b[k][idx] = d[:half].mean(), d[half:].mean()
    net.set_weights(flat)
    ref = [(a + b) / 2 for a, b in zip(ref_a, ref_b)]
    reliability = cos(np.concatenate([a.ravel() for a in ref_a]), np.concatenate([b.ravel() for b in ref_b]))
    ref_flat = np.concatenate([r.ravel() for r in ref])
    recs = es.simulate(net, jitters, T, n_threads=1)
    ls = [losses.van_rossum_distance(r, targets, tau=10.0) for r in recs]
    out = {"reliability": reliability, "ref_norm": float(np.linalg.norm(ref_flat)),
           "hidden_spikes": float(np.mean([len(r.layers[0]) for r in recs])),
           "output_spikes": float(np.mean([len(r.layers[1]) for r in recs])),
           "input_spikes": len(jitters[0]), "cos": {}, "cos_per_layer": {}}

    def lf(r):
        return losses.van_rossum_distance(r, targets, tau=10.0).value

    for label in METHODS:
        g = None
        for r, l in zip(recs, ls):
            gi = gradient(net, r, l, label, loss_fn=lf)
            g = gi.weights if g is None else [a + b for a, b in zip(g, gi.weights)]
        g = [x / len(recs) for x in g]
        out["cos"][label] = cos(np.concatenate([x.ravel() for x in g]), ref_flat)
        out["cos_per_layer"][label] = [cos(a, b) for a, b in zip(g, ref)]
    return out


def labels_run(runs: dict) -> list[str]:
    """The METHODS labels that the runs of one density hold (older result files lack the newer labels)."""
    return [k for k in METHODS if k in next(iter(runs.values()))["cos"]]


def plot(results, path):
    plt = pyplot()
    dens = [float(d) for d in results["runs"]]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label in labels_run(next(iter(results["runs"].values()))):
        m, s = mean_sem(np.array([[r["cos"][label] for r in results["runs"][d].values()] for d in results["runs"]]).T)
        ax.errorbar(dens, m, yerr=s, color=COLORS[label], label=label, marker="o", capsize=3,
                    ls="--" if label.startswith("activation") else "-")
    m, s = mean_sem(np.array([[r["reliability"] for r in results["runs"][d].values()] for d in results["runs"]]).T)
    ax.errorbar(dens, m, yerr=s, color="k", ls=":", marker="x", label="reference vs itself (split halves)")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel("input rate (Hz per input, 20 inputs, 50 ms)")
    ax.set_ylabel("cosine with smoothed-loss gradient")
    ax.set_title(f"Gradient quality, 20-20-3 net, jitter {results['config']['jitter']} ms, "
                 f"{len(next(iter(results['runs'].values())))} seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="1 seed, 16 jitter samples")
    p.add_argument("--out", default=default_out(NAME))
    p.add_argument("--densities", default="10,30,60")
    p.add_argument("--samples", type=int, default=64, help="jitter draws M")
    p.add_argument("--jitter", type=float, default=1.0, help="input-time jitter sigma (ms)")
    p.add_argument("--eps", type=float, default=0.05, help="finite-difference step, in units of the layer's weight std")
    p.add_argument("--plot-only", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.samples = 1, 16
    if replot(args, plot):
        return
    fig_path = figure_path(args.out)
    from tqdm import tqdm
    dens = [float(d) for d in args.densities.split(",")]
    results = new_results(NAME, args)
    started = time.perf_counter()
    bar = tqdm(total=len(dens) * args.seeds, desc=NAME, unit="problem")
    for d in dens:
        results["runs"][f"{d:g}"] = {}
        for seed in range(args.seeds):
            results["runs"][f"{d:g}"][str(seed)] = one(seed, d, args)
            bar.update()
            checkpoint(results, started, args.out)
    bar.close()
    plot(results, fig_path)
    print(f"wall {results['wall_s']:.0f} s")
    for d, runs in results["runs"].items():
        print(d, "reliability", np.mean([r["reliability"] for r in runs.values()]),
              {k: round(float(np.mean([r["cos"][k] for r in runs.values()])), 3) for k in labels_run(runs)},
              "spikes h/o", np.mean([r["hidden_spikes"] for r in runs.values()]),
              np.mean([r["output_spikes"] for r in runs.values()]))


if __name__ == "__main__":
    main()
