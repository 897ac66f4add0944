"""NIR (Neuromorphic Intermediate Representation) export and import, and spike data as NIR ``EventData``.

Needs the optional ``nir`` package (``pip install eventsnn[nir]``); ``import eventsnn`` does not load this package.
Modules: :mod:`~eventsnn.nir.conventions` (units, spike readings, metadata), :mod:`~eventsnn.nir.export`
(:func:`to_nir`), :mod:`~eventsnn.nir.importer` (:func:`from_nir`, with the synapse-list algebra of
:mod:`~eventsnn.nir.synapses`), :mod:`~eventsnn.nir.files` (``.nir`` files), :mod:`~eventsnn.nir.events`
(``EventData``).

Mapping (docs/nir.md gives the reasons and what other frameworks do):

* a population of ``LIF`` neurons <-> ``CubaLIF`` with ``tau_mem``, ``tau_syn`` in the graph's time unit (seconds
  by default), ``r = 1``, ``v_leak = bias``, ``v_threshold = threshold``, ``v_reset = 0``, ``w_in = 1``;
* the weights ``W`` (n_pre, n_post) of a connection <-> ``Linear(weight=W.T)`` (NIR is out x in);
* a connection delay <-> ``Delay`` after the ``Linear`` (a scalar, or one per postsynaptic neuron) or before it
  (one per presynaptic neuron); a general per-synapse delay matrix only with ``expand_delays=True``;
* the leaky-integrator read-out (:class:`eventsnn.readout.LIReadout`) <-> ``Linear`` + ``CubaLI``;
* an input population <-> ``Input``; a recurrent connection <-> an edge back into the population's node.

NIR leaves two things open that change a simulation by large factors: the **unit of time** and the **size of the
jump** of the synaptic current when a spike arrives. eventsnn writes both into the graph's metadata
(``time_unit``, ``spike``) and never guesses them when it reads a graph that lacks them: pass ``time_unit=`` and
``spike=`` to :func:`from_nir`. Spike readings (a spike of weight ``w`` arriving at a node)::

    "jump"   I += w_in * w                     (Norse's LIFCell export, jaxsnn, eventsnn)
    "dirac"  I += w_in * w / tau_syn           (the literal ODE with a unit-area delta; tau_syn in the graph's unit)
    "pulse"  I += w_in * w * width / tau_syn   (a unit-height pulse of one time step ``width``: snnTorch's
                                                exporter and importer with width = 0.1 ms, Norse's importer)

Everything eventsnn's model and NIR's disagree on raises a ValueError naming the node or the feature: refractory
periods, ``reset_current``, ``v_reset != 0``, time constants that differ within a node, ``LIF``/``LI``/``IF``
nodes (no synaptic current), convolutions and pooling, ``Affine`` with a non-zero bias. Nothing is approximated.
"""

from __future__ import annotations

try:
    import nir  # noqa: F401  (only to fail early with the message below)
except ImportError as error:  # an optional extra: say how to get it
    raise ImportError('eventsnn.nir needs the optional package nir: pip install "eventsnn[nir]"') from error

from eventsnn.nir.conventions import SPIKE_READINGS, TIME_UNITS
from eventsnn.nir.events import from_event_data, to_event_data
from eventsnn.nir.export import to_nir
from eventsnn.nir.files import read, write
from eventsnn.nir.importer import ImportedGraph, from_nir

__all__ = ["to_nir", "from_nir", "ImportedGraph", "write", "read", "to_event_data", "from_event_data",
           "TIME_UNITS", "SPIKE_READINGS"]
