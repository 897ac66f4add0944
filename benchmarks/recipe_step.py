"""Time one training step of a task's recipe, as `eventsnn train` runs it (augmentation, forward, loss, backward,
update): what an epoch of a long study costs, e.g. EventProp's MNIST recipe (batch 5, 11,000 steps an epoch) or
the accuracy-vs-sparsity front's creation/removal methods (batch 32).

The task is built by `eventsnn.tasks.make_task` exactly as the command line builds it; the steps draw their batches
from the first `--n-train` training samples; the first `--warm-up` steps (compilation, cache loading) are not
timed. Prints the median and the fastest process-CPU time per step and the wall time, one thread unless told.

    python benchmarks/recipe_step.py mnist --preset eventprop                    # EventProp's MNIST step, batch 5
    python benchmarks/recipe_step.py mnist --preset eventprop --seed 2 \\
        --checkpoint RUN/checkpoint.npz                                          # later in training
    python benchmarks/recipe_step.py mnist --method activation --spike-penalty 1e-3 --set input_jitter=1.0 \\
        --set input_shift=1                                                     # a point of the front, batch 32
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from eventsnn import tasks, training  # noqa: E402


def _setting(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, int(value)
    except ValueError:
        try:
            return name, float(value)
        except ValueError:
            return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("yinyang", "mnist", "fashion-mnist", "nmnist"))
    parser.add_argument("--preset", default=None)
    parser.add_argument("--method", default=None, help="gradient method (default: the recipe's)")
    parser.add_argument("--spike-penalty", type=float, default=None)
    parser.add_argument("--set", dest="settings", type=_setting, action="append", default=[],
                        help="a TrainConfig field, NAME=VALUE (repeatable)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    parser.add_argument("--warm-up", type=int, default=10, help="untimed steps first (default 10)")
    parser.add_argument("--n-train", type=int, default=2000, help="samples the batches are drawn from")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the task's seed (a --checkpoint's run's seed)")
    parser.add_argument("--data", default=None, help="data directory (default: $EVENTSNN_DATA, then the usual)")
    parser.add_argument("--checkpoint", default=None,
                        help="start from a run's checkpoint.npz (its weights and optimizer state; the run's task, "
                             "preset and settings), e.g. to time a step late in training (default: initial weights)")
    args = parser.parse_args()

    task = tasks.make_task(args.task, preset=args.preset, n_train=args.n_train, n_test=10, seed=args.seed,
                           data_path=args.data)
    changes = dict(args.settings, n_threads=args.threads)
    if args.method is not None:
        changes["method"] = args.method
    if args.spike_penalty is not None:
        changes["spike_penalty"] = args.spike_penalty
    config = dataclasses.replace(task.config, **changes)
    trainer = training.Trainer(task.net, task.train_inputs, task.train_labels, config=config, readout=task.readout)
    if args.checkpoint is not None:
        trainer.load_checkpoint(args.checkpoint)
        # what makes an update slow late in training: moments decayed into subnormal floats (eventsnn's Adam zeroes
        # them at its next step; a checkpoint written before it did may hold them)
        moments = [a for a in (getattr(trainer.optimizer, "m", None) or []) if a.size]
        if moments:
            tiny = np.finfo(np.float64).tiny
            subnormal = [int(np.count_nonzero((a != 0.0) & (np.abs(a) < tiny))) for a in moments]
            print("subnormal first moments in the checkpoint, per array: "
                  + ", ".join(f"{n} of {a.size} ({100 * n / a.size:.1f} %)" for n, a in zip(subnormal, moments)))
    rng = np.random.default_rng(0)
    n = len(task.train_labels)
    batches = [rng.choice(n, min(config.batch_size, n), replace=False) for _ in range(args.warm_up + args.steps)]
    for batch in batches[:args.warm_up]:
        trainer.train_step(batch)
    cpu, wall = [], []
    for batch in batches[args.warm_up:]:
        c0, w0 = time.process_time(), time.perf_counter()
        trainer.train_step(batch)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    load = os.getloadavg()[0]
    print(f"{args.task} preset={args.preset} method={config.method} batch={config.batch_size} "
          f"threads={args.threads}: {args.steps} steps, load average {load:.1f}")
    print(f"  CPU per step: median {1e3 * statistics.median(cpu):.2f} ms, fastest {1e3 * min(cpu):.2f} ms; "
          f"wall median {1e3 * statistics.median(wall):.2f} ms")


if __name__ == "__main__":
    main()
