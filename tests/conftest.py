"""Shared test configuration.

* The numba cache is keyed by a hash of the kernel sources (eventsnn/_kernels/__init__.py), so tests never run a
  stale kernel.
* Hypothesis runs derandomised, so CI is reproducible (profile ``ci``; ``stress`` searches deeper at random).
* ``rng`` gives each test its own seeded generator; the seed is in the test id.
"""

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200)
# a deeper random search for a developer's machine: pytest --hypothesis-profile=stress tests/test_crossing.py
settings.register_profile("stress", deadline=None, max_examples=20000)
settings.load_profile("ci")


def pytest_configure(config):
    # assigning a TrainConfig field is deprecated: nothing in the package or the suite may still do it
    # (tests/test_train_config.py checks the deprecation path itself, under pytest.warns)
    config.addinivalue_line("filterwarnings", "error:TrainConfig is immutable:DeprecationWarning")


@pytest.fixture
def rng(request):
    """A generator seeded from the test's ``seed`` parameter if it has one, else 0."""
    seed = request.node.callspec.params.get("seed", 0) if hasattr(request.node, "callspec") else 0
    return np.random.default_rng(seed)
