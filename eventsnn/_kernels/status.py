"""Status codes returned by kernels. Must agree with ``eventsnn._validation.STATUS_MESSAGES``."""

OK = 0
SPIKE_LIMIT = 1  # a neuron exceeded max_spikes_per_neuron
SAMPLE_SPIKE_LIMIT = 2  # the sample's spikes (all populations) exceeded max_spikes_per_sample
# spike-train checks (indexing.spike_train_status): the first offending spike is returned with the code
NEURON_OUT_OF_RANGE = 3  # a neuron index outside [0, n_neurons)
TIME_NOT_FINITE_OR_NEGATIVE = 4  # a NaN, an infinite or a negative time
TIME_NOT_SORTED = 5  # a time smaller than the one before it
