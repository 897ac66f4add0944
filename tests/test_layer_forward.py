"""The feed-forward kernel ``eventsnn._kernels.forward.layer_forward`` on layers wide enough that hundreds of
neurons need the exact path in one gap: the flag words it skips and the list it builds must give the same spikes
compiled and as plain Python (where an int plus a uint8 flag stays uint8 and wrapped at 256)."""

import numpy as np
import pytest

import eventsnn as es
from eventsnn._kernels.forward import layer_forward


@pytest.mark.parametrize("n_post", [1, 7, 8, 9, 600])
def test_compiled_and_plain_python_agree_on_wide_layers(n_post):
    rng = np.random.default_rng(n_post)
    weights = rng.normal(0.5, 0.2, (5, n_post))
    times = np.sort(rng.uniform(0.0, 20.0, 40))
    sources = rng.integers(0, 5, 40)
    params = es.LIF(tau_mem=10.0, tau_syn=5.0, refractory=0.5).kernel_parameters()
    compiled = layer_forward(times, sources, weights, params, 30.0, 1000)
    plain = layer_forward.py_func(times, sources, weights, params, 30.0, 1000)
    assert compiled[2] == plain[2] == 0
    assert compiled[0].size > 2 * n_post  # every neuron fires several times: many flagged per gap
    np.testing.assert_array_equal(compiled[0], plain[0])
    np.testing.assert_array_equal(compiled[1], plain[1])
