"""Study 1: random spike-train matching (ANTLR's task), all gradient methods compared.

A 50-50-5 feed-forward LIF network (default tau_mem 10 ms, tau_syn 5 ms; ANTLR's neuron with
``--tau-mem T --tau-syn T --reset-current``) receives one fixed random Poisson input
pattern (50 inputs at --input-rate Hz for --t-max ms) and must emit fixed random Poisson target trains on its
5 outputs. Loss: van Rossum distance (tau 10 ms) to the targets, summed over outputs. Adam on the weights of
both layers, one sample, plain (scale-invariant) updates: no clipping. The same input, targets and initial
weights are used for every method of a (density, seed) pair; densities are target output rates.

    nice -n 15 env NUMBA_NUM_THREADS=1 python studies/spike_train_matching.py --seeds 10

Writes the raw results (every iteration of every run; atomically, after every finished (density, seed) pair)
to --out, outside the repository by default, then the compact record (final loss of every run, mean ± sem
curves, summary; docs/studies/spike_train_matching.json by default) and the figure drawn from it.
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

from _common import (COLORS, METHODS, add_method_options, add_record_options, band, checkpoint,  # noqa: E402
                     finish, fit_one_sample, mean_sem, new_results, parse_study_args, plot_band, pyplot, read_json,
                     rounded, save_figure)

NAME = "spike_train_matching"


def make_problem(seed: int, density: float, args):
    rng = np.random.default_rng([seed, int(round(density * 10))])
    inputs = poisson_encode(np.full((1, args.n_in), args.input_rate), args.t_max, seed=rng)[0]
    # targets from 5 ms on (an output cannot answer before its inputs have had time to charge it)
    targets = poisson_encode(np.full((1, args.n_out), density), args.t_max - 5.0, seed=rng, t_start=5.0)[0]
    lif = es.LIF(tau_mem=args.tau_mem, tau_syn=args.tau_syn, reset_current=args.reset_current)
    weights = init_weights([args.n_in, args.n_hidden, args.n_out], rng, input_spikes=max(len(inputs), 1),
                           neuron_psp_peak=lif.psp_peak(), drive=(args.drive, args.drive))
    net = es.Network.feedforward([args.n_in, args.n_hidden, args.n_out], neuron=lif, weights=weights)
    return net, inputs, targets


def run_one(net0, inputs, targets, label: str, args) -> dict:
    curve, hidden, output = [], [], []

    def observe(rec, loss):
        curve.append(loss.value)
        hidden.append(len(rec.layers[0]))
        output.append(len(rec.layers[1]))

    started = time.perf_counter()
    status, n_bad = fit_one_sample(net0.copy(), inputs, args.t_max,
                                   lambda r: losses.van_rossum_distance(r, targets, tau=args.vr_tau), label,
                                   args.lr, args.iterations, args.max_spikes, observe,
                                   overrides={"lambda_timing": args.lambda_timing})
    return {"loss": curve, "hidden_spikes": hidden, "output_spikes": output, "n_nonfinite": n_bad,
            "status": status, "wall_s": time.perf_counter() - started}


def final_loss(run: dict) -> float:
    """A run's final loss: mean of its last 10 recorded iterations (NaN if the run failed)."""
    return float(np.mean(np.asarray(run["loss"], dtype=float)[-10:])) if run["status"] == "ok" else np.nan


def summarize(results: dict) -> dict:
    """Final loss (mean of the last 10 recorded iterations) per density and method, and ANTLR's claim."""
    summary = {}
    for dkey, per_seed in results["runs"].items():
        finals = {}
        for label in METHODS:
            vals = []
            for seed_runs in per_seed.values():
                if label in seed_runs:
                    vals.append(final_loss(seed_runs[label]))
            finals[label] = vals
        row = {}
        for label, vals in finals.items():
            if vals:
                m, s = mean_sem(np.array(vals))
                row[label] = {"mean": float(m), "sem": float(s), "n": len(vals),
                              "initial": float(np.mean([r[label]["loss"][0] for r in per_seed.values()
                                                        if label in r]))}
        # paired per seed: does antlr beat timing AND the better activation variant?
        for unified in ("antlr grid", "antlr event", "antlr grid (reset detached)", "antlr event (reset detached)"):
            if not finals[unified] or not finals["timing"]:  # every label has a (possibly empty) list
                continue
            u = np.array(finals[unified])
            t = np.array(finals["timing"])
            a = np.fmin(np.array(finals["activation (reset detached)"] or [np.inf] * u.size),
                        np.array(finals["activation (reset term)"] or [np.inf] * u.size))
            n = min(u.size, t.size, a.size)
            row[f"{unified}: seeds beating both"] = int(np.sum((u[:n] < t[:n]) & (u[:n] < a[:n])))
            row[f"{unified}: mean beats both"] = bool(np.nanmean(u) < min(np.nanmean(t), np.nanmean(a)))
            # paired against each part alone: the activation part of a unified method is the activation variant
            # with the same reset-term choice
            detached = "reset detached" in unified
            for part in ("timing", "activation (reset detached)" if detached else "activation (reset term)"):
                if len(finals[part]) == u.size and u.size > 1:
                    diff = u - np.array(finals[part])
                    row[f"{unified} - {part}"] = {"mean": float(np.mean(diff)),
                                                   "sem": float(np.std(diff, ddof=1) / np.sqrt(diff.size)),
                                                   "seeds lower": int(np.sum(diff < 0)), "n": int(diff.size)}
        summary[dkey] = row
    return summary


def compact(results: dict) -> dict:
    """The record kept in the repository: settings, summary, each run's final loss and status, and per density
    and method the mean ± sem loss curve over seeds (4 significant digits); :func:`plot` draws it."""
    record = {k: results[k] for k in ("study", "config", "provenance", "wall_s", "summary") if k in results}
    record["final_loss"], record["status"], record["curves"] = {}, {}, {}
    for dkey, per_seed in results["runs"].items():
        record["final_loss"][dkey] = {seed: {label: final_loss(r[label]) for label in METHODS if label in r}
                                      for seed, r in per_seed.items()}
        record["status"][dkey] = {seed: {label: r[label]["status"] for label in METHODS
                                         if label in r and r[label]["status"] != "ok"}
                                  for seed, r in per_seed.items()}
        record["curves"][dkey] = {label: band([r[label]["loss"] for r in per_seed.values()])
                                  for label in METHODS if any(label in r for r in per_seed.values())}
    return rounded(record)


def finals(record: dict, dkey: str, label: str) -> np.ndarray:
    """Final loss of ``label`` on every seed of density ``dkey`` in a compact record (NaN: the run failed)."""
    return np.array([row[label] for row in record["final_loss"][dkey].values() if label in row], dtype=float)


def plot(record: dict, path: str) -> None:
    plt = pyplot()
    dkeys = list(record["curves"])
    fig, axes = plt.subplots(1, len(dkeys), figsize=(4.3 * len(dkeys), 3.8), squeeze=False)
    for ax, dkey in zip(axes[0], dkeys):
        for label, stats in record["curves"][dkey].items():
            plot_band(ax, np.arange(len(stats["mean"])), stats, COLORS[label], alpha=0.2,
                      label=label, lw=1.6 if "antlr" in label else 1.2,
                      ls="-" if "antlr" in label or label in ("timing", "na") else "--")
        ax.set_yscale("log")
        ax.set_title(f"target {dkey} Hz per output ({len(record['final_loss'][dkey])} seeds)")
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("van Rossum distance to target (mean ± sem)")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    cfg = record["config"]  # files written before the neuron options existed used 10 / 5 ms, current kept
    neuron = (f"tau_mem {cfg.get('tau_mem', 10.0):g} ms, tau_syn {cfg.get('tau_syn', 5.0):g} ms"
              + (", current reset" if cfg.get("reset_current") else ""))
    weighting = f", antlr lambda_timing {cfg['lambda_timing']:g}" if cfg.get("lambda_timing", 1.0) != 1.0 else ""
    save_figure(fig, path, f"Random spike-train matching, 50-50-5 LIF net ({neuron}), Adam lr {cfg['lr']:g}"
                + weighting, fontsize=11)


def build_parser() -> argparse.ArgumentParser:
    """The study's options; their defaults define the problem (other studies reuse them)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (first-seed .. first-seed + seeds - 1)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="first seed (e.g. 10: fresh problems to confirm a setting chosen on seeds 0-9)")
    p.add_argument("--quick", action="store_true", help="2 seeds, 40 iterations (debugging)")
    add_record_options(p, NAME)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--densities", default="10,30,60", help="target output rates (Hz), comma-separated")
    p.add_argument("--input-rate", type=float, default=20.0, help="input Poisson rate (Hz)")
    p.add_argument("--t-max", type=float, default=100.0, help="window (ms)")
    p.add_argument("--n-in", type=int, default=50)
    p.add_argument("--n-hidden", type=int, default=50)
    p.add_argument("--n-out", type=int, default=5)
    p.add_argument("--drive", type=float, default=4.0, help="init drive (eventsnn.training.init_weights)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--vr-tau", type=float, default=10.0, help="van Rossum kernel time constant (ms)")
    p.add_argument("--tau-mem", type=float, default=10.0, help="membrane time constant (ms)")
    p.add_argument("--tau-syn", type=float, default=5.0, help="synaptic time constant (ms)")
    p.add_argument("--lambda-timing", type=float, default=1.0,
                   help="weight of the timing term in the unified methods (ANTLR: 1; activation weight stays 1)")
    p.add_argument("--reset-current", action="store_true",
                   help="a spike also zeroes the synaptic current (ANTLR's neuron; use with --tau-syn = --tau-mem)")
    add_method_options(p, METHODS, max_spikes=200)
    return p


def main(argv=None) -> None:
    p = build_parser()
    args, labels = parse_study_args(p, argv, plot, METHODS, {"seeds": 2, "iterations": 40}, compact)
    if args is None:  # --plot-only / --compact-only: the figure is redrawn; print the stored summary as well
        print_summary(read_json(p.parse_args(argv).record)["summary"])
        return
    from tqdm import tqdm
    densities = [float(d) for d in args.densities.split(",")]
    results = new_results(NAME, args)
    started = time.perf_counter()
    bar = tqdm(total=len(densities) * args.seeds * len(labels), desc=NAME, unit="run")
    for density in densities:
        dkey = f"{density:g}"
        results["runs"][dkey] = {}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            net0, inputs, targets = make_problem(seed, density, args)
            seed_runs = {"n_input_spikes": len(inputs), "n_target_spikes": len(targets)}
            for label in labels:
                bar.set_postfix_str(f"{dkey} Hz seed {seed} {label}")
                seed_runs[label] = run_one(net0, inputs, targets, label, args)
                bar.update()
            results["runs"][dkey][str(seed)] = seed_runs
            checkpoint(results, started, args.out)
    bar.close()
    # per-seed dicts also hold two ints; strip them for the summaries/plots
    for dkey in results["runs"]:
        for seed in results["runs"][dkey]:
            r = results["runs"][dkey][seed]
            r["problem"] = {"n_input_spikes": r.pop("n_input_spikes"), "n_target_spikes": r.pop("n_target_spikes")}
    finish(results, summarize(results), started, args.out, plot, compact, args.record)
    print_summary(results["summary"])


def print_summary(summary: dict) -> None:
    for dkey, row in summary.items():
        print(f"target {dkey} Hz")
        for k, v in row.items():
            print(f"  {k}: {v}")


if __name__ == "__main__":
    main()
