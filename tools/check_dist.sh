#!/usr/bin/env bash
# Build the wheel and the sdist, install each into its own fresh virtual environment, and smoke-test it there:
# import, version, the py.typed marker, one exact simulation with its gradient, and the console script.
#
#   tools/check_dist.sh            # dependencies from the package index (network needed)
#   tools/check_dist.sh --offline  # dependencies from the running Python's site-packages, no network
#
# Run from the repository root. Exit status 0 = both distributions install and pass.
set -euo pipefail

offline=0
if [[ "${1:-}" == "--offline" ]]; then offline=1; elif [[ $# -gt 0 ]]; then
    echo "usage: tools/check_dist.sh [--offline]" >&2; exit 2
fi
python=${PYTHON:-python}
root=$(pwd)
[[ -f setup.cfg && -d eventsnn ]] || { echo "run from the repository root" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if (( offline )); then
    # the running environment's setuptools builds both; --skip-dependency-check because recent setuptools
    # brings its own bdist_wheel and no longer needs the separate wheel package that pyproject.toml lists
    "$python" -m build --no-isolation --skip-dependency-check --outdir "$work/dist" "$root"
else
    "$python" -m build --outdir "$work/dist" "$root"
fi
wheel=$(ls "$work"/dist/eventsnn-*.whl)
sdist=$(ls "$work"/dist/eventsnn-*.tar.gz)
echo "built: $(basename "$wheel") $(basename "$sdist")"

# The sdist must carry the metadata files; the wheel the type marker.
# (listings are read whole first: grep -q exiting early would fail the pipe under pipefail)
sdist_files=$(tar -tzf "$sdist")
wheel_files=$("$python" -m zipfile -l "$wheel")
for f in LICENSE CHANGELOG.md CITATION.cff README.md eventsnn/py.typed; do
    grep -q "^eventsnn-[^/]*/$f$" <<<"$sdist_files" || { echo "sdist lacks $f" >&2; exit 1; }
done
grep -q "eventsnn/py.typed" <<<"$wheel_files" || { echo "wheel lacks eventsnn/py.typed" >&2; exit 1; }
# ... and nothing else (MANIFEST.in): setuptools adds tests/test_*.py by default, without the conftest and helpers
# they import, so an sdist that carries them ships a test suite that cannot run
allowed='^eventsnn-[^/]*/((LICENSE|CHANGELOG\.md|CITATION\.cff|README\.md|MANIFEST\.in|PKG-INFO|pyproject\.toml|setup\.cfg)|(eventsnn|eventsnn\.egg-info)/.*)?$'
extra=$(grep -Ev "$allowed" <<<"$sdist_files" || true)
[[ -z "$extra" ]] || { echo "sdist carries files outside the package and its metadata:" >&2; echo "$extra" >&2; exit 1; }

smoke='
import os, sys, subprocess
import numpy as np
import eventsnn as es
here = os.path.realpath(es.__file__)
assert here.startswith(os.path.realpath(sys.prefix)), f"eventsnn imported from {here}, not from this venv"
assert os.path.exists(os.path.join(os.path.dirname(here), "py.typed")), "py.typed not installed"
net = es.Network.feedforward([2, 2], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0),
                             weights=[np.array([[3.0, 2.5], [3.0, 2.5]])])
inputs = es.SpikeTrains(times=[1.0, 2.0], neurons=[0, 1], n_neurons=2)
rec = es.simulate(net, inputs, t_max=50.0)
assert len(rec.layers[0]) == 2, rec.layers[0].times
loss = es.losses.first_spike_cross_entropy(rec, label=1)
grads = es.vjp(net, rec, loss.cotangents)
assert grads.weights[0].shape == (2, 2) and np.all(np.isfinite(grads.weights[0]))
out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "eventsnn"), "--help"],
                     capture_output=True, text=True, check=True).stdout
assert "train" in out, out
print("smoke test passed:", es.__name__, getattr(es, "__version__", "?"), "spike at %.6f ms" % rec.layers[0].times[0])
'

for dist in "$wheel" "$sdist"; do
    venv="$work/venv-$(basename "$dist")"
    if (( offline )); then
        "$python" -m venv --system-site-packages "$venv"
        # the venv's bundled setuptools may predate its own bdist_wheel: build the sdist with the outer one
        "$venv/bin/python" -m pip uninstall --quiet --yes setuptools 2>/dev/null || true
        "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation "$dist"
    else
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet "$dist"
    fi
    # run outside the repository, so that the checkout cannot shadow the installed package
    (cd "$work" && "$venv/bin/python" -c "$smoke")
done
echo "check_dist: wheel and sdist install and pass the smoke test"
