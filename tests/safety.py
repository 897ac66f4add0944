"""Shared pieces of the safety tests (tests/test_safety_*.py): a kernel spy and a small set of objects to break.

``kernel_spy`` replaces every kernel the public layer calls (at the names the public modules look them up under)
by a function that records the call and fails. A bad input must be refused before any of them runs, so a case that
reaches a kernel fails with the spy's AssertionError instead of the expected exception.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest

import eventsnn as es
from eventsnn.readout import LIReadout

# (module, attribute) of every kernel entry of the public layer that the library half owns
KERNEL_ENTRIES = [
    ("eventsnn.simulate", "layer_forward"),
    ("eventsnn.simulate", "network_forward"),
    ("eventsnn.simulate", "layer_forward_range"),
    ("eventsnn.record", "replay_neuron"),
    ("eventsnn.optim", "adam_update"),
    ("eventsnn._kernels.classify", "first_spike_index"),
    ("eventsnn._kernels.classify", "softmax_cross_entropy"),
    ("eventsnn._kernels.classify", "first_spike_cross_entropy"),
    ("eventsnn._kernels.classify", "first_spike_cross_entropy_batch"),
    ("eventsnn._kernels.readout", "potential_maxima"),
    ("eventsnn._kernels.readout", "potentials_at"),
    ("eventsnn._kernels.readout", "maxima_backward"),
    ("eventsnn._kernels.readout", "creation_values"),
    ("eventsnn._kernels.readout", "creation_values_at"),
]


@pytest.fixture
def objs() -> SimpleNamespace:
    return objects()


@pytest.fixture
def kernel_spy(monkeypatch, objs):
    """Make every kernel entry fail if called (after ``objs`` is built); ``calls`` lists the ones that were."""
    calls: list[str] = []
    for module_name, attribute in KERNEL_ENTRIES:
        module = importlib.import_module(module_name)

        def refuse(*args, _name=f"{module_name}.{attribute}", **kwargs):
            calls.append(_name)
            raise AssertionError(f"kernel {_name} was called: the bad input was not refused before any work")

        monkeypatch.setattr(module, attribute, refuse)
    return calls


def objects() -> SimpleNamespace:
    """Fresh, valid objects (a layered and a recurrent network, inputs, records, a read-out) for one case."""
    lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
    ff = es.Network.feedforward([2, 3, 2], neuron=lif, weights=[np.full((2, 3), 3.0), np.full((3, 2), 2.0)])
    inputs = es.SpikeTrains([1.0, 2.0, 3.0], [0, 1, 0], 2)
    rec = es.simulate(ff, inputs, t_max=50.0, n_threads=1)
    recurrent = es.Network()
    recurrent.add_input("in", 2)
    recurrent.add_population("exc", 3, lif)
    recurrent.connect("in", "exc", np.full((2, 3), 3.0), delays=np.full((2, 3), 0.5))
    recurrent.connect("exc", "exc", np.full((3, 3), 0.1), delays=1.0)
    batch = es.SpikeBatch.from_list([inputs, inputs])
    readout = LIReadout(np.ones((2, 3)), lif)
    maxima = readout.maxima(rec.layers[-1], 50.0)
    return SimpleNamespace(lif=lif, ff=ff, inputs=inputs, rec=rec, recurrent=recurrent, batch=batch,
                           readout=readout, maxima=maxima)
