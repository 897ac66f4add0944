"""Status codes returned by kernels. Must agree with ``eventsnn._validation.STATUS_MESSAGES``."""

OK = 0
SPIKE_LIMIT = 1  # a neuron exceeded max_spikes_per_neuron
SAMPLE_SPIKE_LIMIT = 2  # the sample's spikes (all populations) exceeded max_spikes_per_sample
