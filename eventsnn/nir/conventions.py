"""What NIR leaves open, as eventsnn writes it: the unit of time, how far a spike moves the synaptic current, and
the rest of the conventions recorded in an exported graph's metadata (docs/nir.md)."""

FORMAT = "eventsnn-nir"
FORMAT_VERSION = 1
# graph units per ms
TIME_UNITS = {"s": 1e-3, "ms": 1.0}
# how far a spike of weight w moves I, as a factor on w_in * w: (tau_syn, pulse width), both in the graph's unit
SPIKE_READINGS = {
    "jump": lambda tau_syn, width: 1.0,
    "dirac": lambda tau_syn, width: 1.0 / tau_syn,
    "pulse": lambda tau_syn, width: width / tau_syn,
}
READOUT_NODE = "readout"
CONVENTIONS = {
    "spike": "jump",
    "spike_meaning": "a spike of weight w adds w_in * w to the synaptic current I (see SPIKE_READINGS)",
    "threshold": "a spike when v reaches v_threshold (v >= v_threshold; NIR writes v > v_threshold, which differs "
                 "only on a touch of measure zero)",
    "reset": "v := v_reset = 0 at a spike; I is kept",
    "initial_state": "v = I = 0 at t = 0",
    "refractory": "none",
    "readout": "CubaLI node 'readout': class = argmax over classes of max over t in [0, t_max] of v",
}
