"""Every script in ``examples/`` runs in CI: in the docs gallery build or in a test at a small size.

The gallery executes the fast examples (``EXECUTED_EXAMPLES`` in docs/conf.py); the training examples run here or
in tests/test_plot.py with size arguments that keep each under 30 s. ``test_every_example_is_executed`` fails
when a new example is added to neither.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _executed_in_gallery() -> set[str]:
    """File names listed in ``EXECUTED_EXAMPLES`` of docs/conf.py (read from the source, not imported)."""
    tree = ast.parse((REPO / "docs" / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXECUTED_EXAMPLES" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("docs/conf.py defines no EXECUTED_EXAMPLES")


def _run_in_tests() -> set[str]:
    """Example file names that a test runs as a script (``"examples", "<name>.py"`` or a ``_run_example`` call)."""
    names = set()
    for test in (REPO / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(test.read_text())):
            if isinstance(node, ast.Call):
                args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                for i, value in enumerate(args):
                    if value.endswith(".py") and ("examples" in args[:i] or getattr(node.func, "id", "") in
                                                  ("_run_example", "_run_script")):
                        names.add(value)
    return names


def test_every_example_is_executed():
    examples = {path.name for path in EXAMPLES.glob("*.py")}
    assert examples, "no examples found"
    covered = _executed_in_gallery() | _run_in_tests()
    assert examples - covered == set(), (f"examples run neither in the gallery (docs/conf.py EXECUTED_EXAMPLES) "
                                         f"nor in a test: {sorted(examples - covered)}")


def _run_script(name: str, tmp_path: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg",
               NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_example_torch_mnist_trains_on_a_small_subset(tmp_path):
    history_file = tmp_path / "history.json"
    out = _run_script("torch_mnist.py", tmp_path, "--epochs", "3", "--n-train", "64", "--n-test", "100",
                      "--threads", "1", "--seed", "0", "--json", str(history_file))
    assert "64 train / 100 test, 3 epochs" in out
    history = json.loads(history_file.read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 3
    losses = [row["loss"] for row in history]
    assert all(math.isfinite(loss) for loss in losses)
    # three passes over the same 64 images: the exact adjoint through torch must lower the training loss
    assert losses[0] > losses[1] > losses[2], losses
    for row in history:
        # accuracies are counts over the subsets, not placeholders
        assert math.isclose(row["test_accuracy"] * 100, round(row["test_accuracy"] * 100), abs_tol=1e-9)
        assert math.isclose(row["train_accuracy"] * 64, round(row["train_accuracy"] * 64), abs_tol=1e-9)
