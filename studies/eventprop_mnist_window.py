"""Does the simulation window matter for the MNIST EventProp reproduction? EventProp's simulator has no window;
eventsnn's MNIST task ends at t_max = 50 ms. This evaluates each finished run of
`studies/eventprop_reproduction_mnist.toml` (its `model.npz`) on the 10,000 test images with the training window
and with longer ones: if nothing after 50 ms changes a hidden spike or a read-out maximum, the accuracies agree.

    EVENTSNN_DATA=<data> python studies/eventprop_mnist_window.py RUN_DIR [RUN_DIR ...] [--windows 50 100 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from eventsnn import saved, tasks, training  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories holding run.json and model.npz")
    parser.add_argument("--windows", type=float, nargs="+", default=[50.0, 100.0, 200.0], help="t_max values, ms")
    parser.add_argument("--data", default=None, help="data directory (default: $EVENTSNN_DATA, then the usual)")
    args = parser.parse_args()
    task = None
    for run in args.runs:
        with open(os.path.join(run, "run.json")) as handle:
            info = json.load(handle)
        if info.get("task") != "mnist" or info.get("preset") != "eventprop":
            raise SystemExit(f"{run}: not a `--preset eventprop` MNIST run (task {info.get('task')!r}, "
                             f"preset {info.get('preset')!r})")
        model = saved.load(os.path.join(run, "model.npz"))
        if task is None:   # the test set and the settings are those of every run of the study
            task = tasks.make_task("mnist", preset="eventprop", data_path=args.data)
            test = [task.test_inputs[i] for i in range(len(task.test_labels))]
        results = []
        for t_max in args.windows:
            config = dataclasses.replace(task.config, t_max=t_max, progress=False)
            trainer = training.Trainer(model.network, task.train_inputs, task.train_labels, config=config,
                                       readout=model.readout)
            evaluation = trainer.evaluate(test, task.test_labels)
            results.append(f"{t_max:g} ms: {100 * evaluation.accuracy:.2f} % "
                           f"({evaluation.spikes_per_sample[0]:.2f} hidden spikes)")
        print(f"{run} (seed {info.get('seed')}): " + "; ".join(results))


if __name__ == "__main__":
    main()
