"""Event-camera data in an exact simulator: one N-MNIST recording, its events as input spikes, no binning.

What it shows (one test sample of the N-MNIST subset in ../shared/data, or of ``--data PATH``):

* top row: the recording as three event-count images, one per saccade (ON minus OFF events per pixel);
* bottom: the spike raster of the 2312 input neurons (one spike per camera event, at its microsecond time;
  neuron = polarity x 1156 + row x 34 + column) and of 100 hidden LIF neurons with random weights (tau_mem 20 ms,
  tau_syn 5 ms) simulated exactly over 320 ms.

It also prints what binning the events would change: the same network driven by the event times floored to a
1 ms grid (what a time-stepped simulator at dt = 1 ms is given) fires its hidden spikes at other times (and, in
some neurons, a different number of them); the exact engine takes the microsecond times as they are.

Expected runtime: a few seconds, mostly imports (the simulation of sample 0's 3330 input events takes
milliseconds): 3.8 s for ``python examples/nmnist_events.py --out DIR`` on 2026-12-07 at commit 97116c6 on a
shared 2-core machine under a load average of 13.

Usage::

    PYTHONPATH=. python examples/nmnist_events.py --out /tmp [--sample 0] [--data PATH]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import eventsnn as es  # noqa: E402
from eventsnn import plot  # noqa: E402
from eventsnn.datasets import load_nmnist  # noqa: E402
from eventsnn.encoders import events_encode  # noqa: E402

T_MAX = 320.0                      # ms, the nmnist task's window
SACCADES = (0.0, 105.0, 210.0, T_MAX)  # ms, approximate boundaries of the three saccades
N_HIDDEN = 100


def hidden_network(n_inputs: int, seed: int = 0) -> es.Network:
    """2312 -> 100 LIF with Gaussian weights large enough that a few dozen recent events make a neuron fire."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.02, 0.05, (n_inputs, N_HIDDEN))
    return es.Network.feedforward([n_inputs, N_HIDDEN], neuron=es.LIF(tau_mem=20.0, tau_syn=5.0), weights=[weights])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory for nmnist_events.png (default: .)")
    parser.add_argument("--sample", type=int, default=0, help="index of the test sample (0-99 in the subset)")
    parser.add_argument("--data", default=None, help="data directory (default: ../shared/data or $EVENTSNN_DATA)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.out):
        parser.error(f"--out {args.out!r} is not a directory")
    if args.sample < 0:
        parser.error(f"--sample must be >= 0, got {args.sample}")

    events, labels = load_nmnist("test", path=args.data, n=args.sample + 1)
    if len(events) <= args.sample:
        parser.error(f"--sample {args.sample}: the test split holds only {len(events)} samples")
    sample, label = events[args.sample], int(labels[args.sample])
    inputs = events_encode([sample], t_max=T_MAX)[0]
    net = hidden_network(inputs.n_neurons)
    exact = es.simulate(net, inputs, T_MAX)

    binned = es.SpikeTrains(np.floor(inputs.times), inputs.neurons, inputs.n_neurons, sort=True)
    on_grid = es.simulate(net, binned, T_MAX)
    exact_counts, grid_counts = exact.layers[0].counts(), on_grid.layers[0].counts()
    print(f"sample {args.sample} (digit {label}): {sample.size} events in {sample['t'][-1]:.1f} ms, "
          f"{inputs.times.size} input spikes within {T_MAX:.0f} ms")
    print(f"hidden spikes, exact event times: {exact_counts.sum()} "
          f"({np.count_nonzero(exact_counts)} of {N_HIDDEN} neurons fire)")
    same = np.flatnonzero(grid_counts == exact_counts)
    # neurons with as many spikes as before: pair their k-th spikes
    shifts = np.concatenate([np.zeros(0)] + [on_grid.layers[0].to_lists()[j] - exact.layers[0].to_lists()[j]
                                             for j in same])
    moved = (f"; in the others the k-th spike moves by {np.mean(np.abs(shifts)):.3f} ms on average, "
             f"{np.max(np.abs(shifts)):.3f} ms at most") if shifts.size else ""
    print(f"hidden spikes, event times floored to 1 ms: {grid_counts.sum()}; "
          f"{N_HIDDEN - same.size} of {N_HIDDEN} neurons fire a different number of spikes{moved}")

    fig = plt.figure(figsize=(9.0, 7.0))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.0, 1.6])
    for k in range(3):
        ax = fig.add_subplot(grid[0, k])
        lo, hi = SACCADES[k], SACCADES[k + 1]
        window = sample[(sample["t"] >= lo) & (sample["t"] < hi)]
        image = np.zeros((34, 34))
        np.add.at(image, (window["y"], window["x"]), np.where(window["p"] == 1, 1.0, -1.0))
        limit = max(1.0, float(np.abs(image).max()))
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{lo:.0f}-{hi:.0f} ms: {window.size} events", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    plot.raster(exact, ax=ax)
    ax.set_xlim(0.0, T_MAX)
    fig.suptitle(f"N-MNIST test sample {args.sample} (digit {label}): ON - OFF events per saccade, then every event "
                 f"as an input spike", fontsize=10)
    fig.tight_layout()
    path = plot.save_figure(fig, os.path.join(args.out, "nmnist_events.png"), dpi=110)
    plt.close(fig)
    print(f"figure: {path}")
    return path


if __name__ == "__main__":
    main()
