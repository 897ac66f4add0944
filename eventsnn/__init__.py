"""eventsnn: exact event-driven simulation and exact-gradient training of spiking neural networks.

Times are in milliseconds throughout. Data flows one way: ``SpikeTrains`` (inputs) -> ``simulate`` -> ``Record``
-> ``losses`` (value, cotangents) -> ``vjp`` -> ``Gradients`` -> ``optim`` -> new weights in the ``Network``.
"""

from eventsnn import losses
from eventsnn._file_validation import FileFormatError
from eventsnn._validation import SpikeLimitError
from eventsnn.adjoint import Gradients, vjp
from eventsnn.network import Connection, Network, Population
from eventsnn.neuron import LIF
from eventsnn.record import Record
from eventsnn.saved import load
from eventsnn.simulate import simulate
from eventsnn.spikes import SpikeBatch, SpikeTrains

__all__ = ["LIF", "Network", "Population", "Connection", "SpikeTrains", "SpikeBatch", "Record", "simulate",
           "vjp", "Gradients", "losses", "SpikeLimitError", "FileFormatError", "load"]
__version__ = "0.1.0"
