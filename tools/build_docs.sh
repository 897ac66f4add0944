#!/usr/bin/env bash
# Build the documentation site offline into docs/_build/html, warnings as errors.
# A broken cross-reference, a page missing from every toctree or a failing gallery example fails the build.
# Needs the docs extra: python -m pip install -e ".[docs]"
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg
# the executed gallery examples run single-threaded, as everything else in CI does
export NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-1}"
# -E: read every page again (the API index is generated from the package, which Sphinx does not track)
exec python -m sphinx -E -W --keep-going -b html docs docs/_build/html "$@"
