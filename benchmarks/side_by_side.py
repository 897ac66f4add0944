"""Two commits side by side in one invocation: W2's training step, the backward cost of every gradient method and,
on request, the feed-forward path on W1 and W3.

Exports ``--old`` (and ``--new``, default: this working tree) with ``git archive`` into a temporary directory
outside the repository, then alternates runs of each tree's own ``benchmarks/train_step.py --json`` and
``benchmarks/methods_backward.py --json`` (and, with ``--forward``, this checkout's ``benchmarks/profile_phases.py
--times-only`` with the tree under test on ``PYTHONPATH``) in subprocesses (one thread each; the order of the two
trees swaps every round, so a slow phase of a shared machine hits both). Prints, per figure, the median and the
minimum over rounds of each tree and their ratios new / old; on a loaded machine the minimum (the least disturbed
round) is the steadier figure.

    python benchmarks/side_by_side.py --old 4fe6ac6 --rounds 5 --data ../shared/data [--json out.json]
    taskset -c 1 python benchmarks/side_by_side.py --old 97116c6 --forward w1,h1000_20,h1000_200 --no-methods
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def export(rev: str, into: pathlib.Path) -> pathlib.Path:
    """The tree of commit ``rev`` as plain files under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(tree: pathlib.Path, argv: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), **ONE_THREAD)
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} in {tree} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def one_round(tree: pathlib.Path, args: argparse.Namespace, scratch: pathlib.Path) -> dict:
    figures = {}
    if args.forward:
        # this checkout's profiler, run with the tree under test on PYTHONPATH: old commits need not have it
        forward = json.loads(run(tree, [str(HERE / "profile_phases.py"), "--times-only", "--cases", args.forward,
                                        "--repeats", str(args.forward_repeats)]).strip().splitlines()[-1])
        for case, times in forward.items():
            figures[f"{case} simulate CPU ms/sample"] = times["simulate_ms"]
            figures[f"{case} hidden kernel CPU ms/sample"] = times["hidden"]["kernel_ms"]
            figures[f"{case} output kernel CPU ms/sample"] = times["output"]["kernel_ms"]
    if not args.no_w2:
        w2 = json.loads(run(tree, ["benchmarks/train_step.py", "--json", "--repeats", str(args.w2_repeats),
                                   "--data", args.data]).strip().splitlines()[-1])
        fastest = w2.get("step_ms_min", float("nan"))  # older trees print no minimum
        figures.update({"W2 step ms (median of repeats)": w2["step_ms"], "W2 step ms (fastest)": fastest,
                        "W2 forward ms": w2["forward_ms"], "W2 loss+backward ms": w2["backward_ms"]})
    if not args.no_methods:
        out = scratch / "methods.json"
        run(tree, ["benchmarks/methods_backward.py", "--samples", str(args.samples), "--repeats", "3", "--data",
                   args.data, "--json", str(out)])
        methods = json.loads(out.read_text())
        figures["MNIST forward ms/sample"] = methods["forward_ms"]
        for row in methods["methods"]:
            label = row["method"] + "".join(f" {k}={v}" for k, v in row["options"].items())
            figures[f"{label}: backward ms/sample"] = row["backward_ms"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="commit to compare against")
    parser.add_argument("--new", default=None, help="commit (default: this working tree as it is)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--w2-repeats", type=int, default=10)
    parser.add_argument("--samples", type=int, default=64, help="MNIST samples of methods_backward.py")
    parser.add_argument("--data", default=os.environ.get("EVENTSNN_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--forward", default=None, metavar="CASES",
                        help="also time the feed-forward path on these cases of profile_phases.py (e.g. w1,h1000_20; "
                             "CPU time per sample, simulate and each layer's kernel)")
    parser.add_argument("--forward-repeats", type=int, default=5)
    parser.add_argument("--no-w2", action="store_true", help="skip W2's training step")
    parser.add_argument("--no-methods", action="store_true", help="skip the backward of the gradient methods")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.data = str(pathlib.Path(args.data).resolve())
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="eventsnn-side-by-side-"))
    try:
        trees = {"old": export(args.old, scratch / "old"),
                 "new": export(args.new, scratch / "new") if args.new else ROOT}
        samples: dict[str, list[dict]] = {"old": [], "new": []}
        for r in range(args.rounds):
            for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                samples[name].append(one_round(trees[name], args, scratch))
                print(f"round {r + 1}/{args.rounds} {name} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    print(f"{'figure':40s} {'median old':>10s} {'new':>8s} {'new/old':>7s}   {'min old':>8s} {'new':>8s} "
          f"{'new/old':>7s}   ({args.rounds} rounds)")
    for key in samples["old"][0]:
        old_runs, new_runs = [s[key] for s in samples["old"]], [s[key] for s in samples["new"]]
        old, new = statistics.median(old_runs), statistics.median(new_runs)
        rows.append({"figure": key, "old": old, "new": new, "ratio": new / old, "old_min": min(old_runs),
                     "new_min": min(new_runs), "ratio_min": min(new_runs) / min(old_runs), "old_runs": old_runs,
                     "new_runs": new_runs})
        print(f"{key:40s} {old:10.3f} {new:8.3f} {new / old:7.3f}   {min(old_runs):8.3f} {min(new_runs):8.3f} "
              f"{min(new_runs) / min(old_runs):7.3f}")
    if args.json:
        payload = {"old": args.old, "new": args.new or "working tree", "rounds": args.rounds,
                   "w2_repeats": args.w2_repeats, "samples": args.samples, "figures": rows}
        pathlib.Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
