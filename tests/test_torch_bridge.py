"""eventsnn.torch: the torch layer is eventsnn.simulate forward and eventsnn.vjp backward, exactly.

Three routes meet here: torch.autograd.gradcheck (central finite differences of the layer itself, float64,
networks and perturbations chosen so that no spike appears or disappears), eventsnn's own simulate/vjp/losses
(bit-identical spikes and gradients), and the native trainer's loss (the same gradient through the read-out).
"""

import pathlib
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import eventsnn as es
from eventsnn.losses import vmax_cross_entropy
from bridge_networks import NEURON, feedforward_net, recurrent_net
from eventsnn.readout import LIReadout
from eventsnn.torch import (LIReadoutLayer, PaddedSpikes, ReadoutMaxFunction, SimulateFunction, SpikingNetwork,
                            SimulationSetup, _ReadoutSetup, _trains_of_row, pad_spikes)

INF = float("inf")


def inputs_for(n_inputs: int) -> PaddedSpikes:
    """Two samples; the second one's slots out of time order with padding in the middle."""
    times = torch.tensor([[1.0, 2.0, 3.5, 4.0, INF], [2.5, INF, 0.5, 3.0, 1.2]], dtype=torch.float64)
    neurons = torch.tensor([[0, 1, 2, 3 % n_inputs, -1], [1, -1, 0, 2, 1]])
    return PaddedSpikes(times, neurons, n_inputs)


def finite_times(model: SpikingNetwork, x: PaddedSpikes):
    """The layer as a function of (input times, *parameters) with padding replaced by 0, for gradcheck."""
    def f(times, *params):
        setup = SimulationSetup(model.net, model.t_max, 1, 10_000)
        outputs = SimulateFunction.apply(setup, times, x.neurons, *params)
        return tuple(torch.where(torch.isinf(t), torch.zeros_like(t), t) for t in outputs[0::2])
    return f


@pytest.mark.parametrize("make_net", [feedforward_net, recurrent_net])
def test_gradcheck_all_gradients(make_net):
    rng = np.random.default_rng(3)
    net = make_net(rng)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    x = inputs_for(net.populations[net.input_names[0]].size)
    outputs = model(x)
    assert all(len(r.layers[-1]) > 0 for r in model.records)   # every sample reaches the output
    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    times = x.times.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(finite_times(model, x), (times, *params), eps=1e-6, atol=1e-6, rtol=1e-4)
    assert sum(o.neurons.ge(0).sum() for o in outputs) > 5


def test_gradcheck_first_spike_times_and_readout():
    rng = np.random.default_rng(4)
    net = feedforward_net(rng)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    readout = LIReadoutLayer(rng.normal(0.0, 1.0, (3, 2)), es.LIF(tau_mem=10.0, tau_syn=5.0), 40.0)
    x = inputs_for(4)

    def f(times, w0, w1, w_readout):
        setup = SimulationSetup(model.net, 40.0, 1, 10_000)
        params = [w0, w1, *[b.detach() for b in model.biases], *[d.detach() for d in model.delays]]
        outputs = SimulateFunction.apply(setup, times, x.neurons, *params)
        hidden = PaddedSpikes(outputs[0], outputs[1], 5)
        first = hidden.first_spike_times()
        out = PaddedSpikes(outputs[2], outputs[3], 3)
        v_max = readout_fn(out, w_readout)
        return torch.where(torch.isinf(first), torch.zeros_like(first), first), v_max

    def readout_fn(spikes, weight):
        rows = [_trains_of_row(spikes.times[b], spikes.neurons[b], 3, f"spikes[{b}]")
                for b in range(spikes.times.shape[0])]
        setup = _ReadoutSetup(readout.neuron, 40.0, [r[0] for r in rows], [r[1] for r in rows])
        return ReadoutMaxFunction.apply(setup, spikes.times, weight)

    args = (x.times.clone().requires_grad_(True), *[w.detach().clone().requires_grad_(True) for w in model.weights],
            readout.weight.detach().clone().requires_grad_(True))
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("make_net", [feedforward_net, recurrent_net])
def test_forward_and_backward_equal_simulate_and_vjp(make_net):
    rng = np.random.default_rng(5)
    net = make_net(rng)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    x = inputs_for(net.populations[net.input_names[0]].size)
    outputs = model(x)
    records = es.simulate(net, x.to_spike_trains(), 40.0, n_threads=1)
    cotangents = []
    for b, rec in enumerate(records):
        per_layer = []
        for k, layer in enumerate(rec.layers):
            n = len(layer)
            assert np.array_equal(outputs[k].times[b, :n].detach().numpy(), layer.times)
            assert np.array_equal(outputs[k].neurons[b, :n].detach().numpy(), layer.neurons)
            assert torch.isinf(outputs[k].times[b, n:]).all() and (outputs[k].neurons[b, n:] == -1).all()
            assert model.records[b].layers[k] == layer
            per_layer.append(np.cos(layer.times + k))
        cotangents.append(per_layer)
    # a loss whose gradient on spike k is cos(t_k + layer): torch and vjp must agree bit for bit
    loss = sum((torch.sin(torch.where(torch.isinf(o.times), torch.zeros_like(o.times), o.times) + k)
                * o.neurons.ge(0)).sum() for k, o in enumerate(outputs))
    loss.backward()
    g = es.vjp(net, records, cotangents, n_threads=1)
    for k in range(len(net.connections)):
        np.testing.assert_allclose(model.weights[k].grad.numpy(), g.weights[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.delays[k].grad.numpy(), g.delays[k], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([b.grad.item() for b in model.biases], g.biases, rtol=1e-12, atol=1e-12)


def test_input_gradients_land_in_their_slots():
    rng = np.random.default_rng(6)
    net = feedforward_net(rng)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    x = inputs_for(4)
    times = x.times.clone().requires_grad_(True)
    out = model(times, x.neurons)[-1]
    out.first_spike_times().nan_to_num(posinf=0.0).sum().backward()
    for b, trains in enumerate(x.to_spike_trains()):
        rec = es.simulate(net, trains, 40.0)
        first = out.first_spike_times()[b].detach().numpy()
        cot = [np.zeros(len(rec.layers[0])), np.isin(np.arange(len(rec.layers[1])),
                                                      [list(rec.layers[1].neurons).index(j) for j in
                                                       np.unique(rec.layers[1].neurons)]).astype(float)]
        assert np.isfinite(first).sum() == len(np.unique(rec.layers[1].neurons))
        expected = es.vjp(net, rec, cot).input_times["input"]
        real = torch.isfinite(x.times[b]).numpy()
        slot_times = x.times[b].numpy()[real]
        slot_neurons = x.neurons[b].numpy()[real]
        slot_grads = times.grad[b].numpy()[real]
        for t, n, gr in zip(slot_times, slot_neurons, slot_grads):
            k = np.flatnonzero((trains.times == t) & (trains.neurons == n))[0]
            assert gr == expected[k]
        assert (times.grad[b].numpy()[~real] == 0.0).all()


def test_thread_count_and_dtypes():
    rng = np.random.default_rng(7)
    net = feedforward_net(rng)
    x = inputs_for(4)
    grads = []
    for n_threads in (1, 2):
        model = SpikingNetwork(net, 40.0, n_threads=n_threads)
        out = model(x)[-1]
        out.first_spike_times().nan_to_num(posinf=0.0).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    # float32 at the boundary: outputs and gradients keep the caller's dtypes, the engine stays float64
    model = SpikingNetwork(net, 40.0, n_threads=1).float()
    times = x.times.float().requires_grad_(True)
    out = model(times, x.neurons)[-1]
    assert out.times.dtype == torch.float32
    out.first_spike_times().nan_to_num(posinf=0.0).sum().backward()
    assert times.grad.dtype == torch.float32 and model.weights[0].grad.dtype == torch.float32
    np.testing.assert_allclose(model.weights[0].grad.numpy(), grads[0][0].numpy(), rtol=1e-5, atol=1e-6)
    # bfloat16, which NumPy lacks, at the boundary too
    times = x.times.to(torch.bfloat16).requires_grad_(True)
    out = SpikingNetwork(net, 40.0, n_threads=1)(times, x.neurons)[-1]
    out.first_spike_times().nan_to_num(posinf=0.0).sum().backward()
    assert out.times.dtype == times.grad.dtype == torch.bfloat16


def test_readout_gradient_equals_native_loss():
    """Cross-entropy on the read-out's maxima through both layers = the native trainer's vmax loss + vjp."""
    rng = np.random.default_rng(8)
    net = feedforward_net(rng)
    readout = LIReadout(rng.normal(0.0, 1.0, (3, 4)), es.LIF(tau_mem=20.0, tau_syn=5.0))
    labels = np.array([2, 0])
    x = inputs_for(4)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    layer = LIReadoutLayer(readout.weights, readout.neuron, 40.0)
    loss = F.cross_entropy(layer(model(x)[-1]), torch.from_numpy(labels))
    loss.backward()
    records = es.simulate(net, x.to_spike_trains(), 40.0)
    losses = [vmax_cross_entropy(r, readout, int(y)).scaled(0.5) for r, y in zip(records, labels)]
    g = es.vjp(net, records, [term.cotangents for term in losses])
    assert loss.item() == pytest.approx(sum(term.value for term in losses), rel=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), sum(term.readout_gradient for term in losses), rtol=1e-10,
                               atol=1e-13)
    for k in range(2):
        np.testing.assert_allclose(model.weights[k].grad.numpy(), g.weights[k], rtol=1e-10, atol=1e-13)


def test_pad_spikes_round_trip_and_counts():
    trains = [es.SpikeTrains([1.0, 3.0, 3.0], [0, 1, 1], 3), es.SpikeTrains([], [], 3)]
    padded = pad_spikes(trains)
    assert padded.times.shape == (2, 3)
    assert padded.counts().tolist() == [[1, 2, 0], [0, 0, 0]]
    assert [t == u for t, u in zip(padded.to_spike_trains(), trains)] == [True, True]
    assert torch.isinf(padded.first_spike_times()[1]).all()


def test_a_few_adam_steps_lower_a_first_spike_loss():
    rng = np.random.default_rng(9)
    model = SpikingNetwork(feedforward_net(rng), 40.0, n_threads=1)
    x = inputs_for(4)
    with torch.no_grad():
        target = model(x)[-1].first_spike_times() + 1.0   # every output neuron 1 ms later
    optimizer = torch.optim.Adam(model.weights.parameters(), lr=1e-2)
    values = []
    for _ in range(10):
        first = model(x)[-1].first_spike_times()
        assert torch.isfinite(first).all()
        loss = ((first - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        values.append(loss.item())
    assert values[-1] < 0.5 * values[0]


BAD_INPUTS = [
    (lambda x: (x.times.long(), x.neurons), TypeError, "floating torch tensor"),
    (lambda x: (x.times, x.neurons.double()), TypeError, "integer torch tensor"),
    (lambda x: (x.times[:, :3], x.neurons), ValueError, "shape (batch, n_slots)"),
    (lambda x: (x.times[:0], x.neurons[:0]), ValueError, "batch size 0"),
    (lambda x: (x.times, torch.where(x.neurons == 3, -1, x.neurons)), ValueError, "inputs[0]: a spike with a finite"),
    (lambda x: (x.times, torch.where(x.neurons == 3, 9, x.neurons)), ValueError, "neuron index 9"),
    (lambda x: (torch.where(x.times == 2.0, -1.0, x.times), x.neurons), ValueError,
     "inputs[0]: spike times must be >= 0"),
    (lambda x: (torch.where(x.times == 2.0, float("nan"), x.times), x.neurons), ValueError, "finite or +inf"),
]


@pytest.mark.parametrize("case", range(len(BAD_INPUTS)))
def test_bad_inputs_raise_before_any_work(case):
    make, error, fragment = BAD_INPUTS[case]
    model = SpikingNetwork(feedforward_net(np.random.default_rng(0)), 40.0, n_threads=1)
    with pytest.raises(error, match=re.escape(fragment)):
        model(*make(inputs_for(4)))
    assert model.records == []


def test_bad_construction():
    rng = np.random.default_rng(0)
    net = recurrent_net(rng)
    net.add_input("second", 2)
    net.connect("second", "out", np.ones((2, 2)))
    with pytest.raises(ValueError, match="one input population"):
        SpikingNetwork(net, 40.0)
    with pytest.raises(TypeError, match="eventsnn.Network"):
        SpikingNetwork("net", 40.0)
    with pytest.raises(ValueError, match="t_max"):
        SpikingNetwork(feedforward_net(rng), -1.0)
    model = SpikingNetwork(feedforward_net(rng), 40.0)
    with pytest.raises(ValueError, match="n_neurons=3"):
        model(pad_spikes([es.SpikeTrains([1.0], [0], 3)]))
    with pytest.raises(TypeError, match="PaddedSpikes"):
        LIReadoutLayer(np.ones((3, 2)), NEURON, 40.0)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="3 inputs"):
        LIReadoutLayer(np.ones((3, 2)), NEURON, 40.0)(pad_spikes([es.SpikeTrains([1.0], [0], 5)]))


def test_docs_example_runs():
    """The example of docs/torch.md, executed as written."""
    page = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "torch.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks
    exec(compile(blocks[0], "docs/torch.md", "exec"), {})


def test_silent_inputs_to_network_and_repr():
    rng = np.random.default_rng(10)
    net = feedforward_net(rng)
    model = SpikingNetwork(net, 40.0, n_threads=1)
    hidden, out = model(pad_spikes([es.SpikeTrains([], [], 4)] * 2))   # no input spike: (2, 0) tensors
    assert hidden.times.shape == (2, 0) and torch.isinf(out.first_spike_times()).all()
    with torch.no_grad():
        model.weights[0] *= 1.1
        model.biases[0] += 0.01
        model.delays[1] += 0.25
    x = inputs_for(4)
    out = model(x)[-1]
    again = es.simulate(model.to_network(), x.to_spike_trains(), 40.0)
    assert all(r.layers[-1] == s for r, s in zip(again, out.to_spike_trains()))
    assert "input 4, layer1 5, layer2 3; t_max=40.0 ms" in repr(model)


def test_bad_parameters_are_named():
    model = SpikingNetwork(feedforward_net(np.random.default_rng(0)), 40.0, n_threads=1)
    x = inputs_for(4)
    with torch.no_grad():
        model.weights[1][2, 1] = float("nan")
    with pytest.raises(ValueError, match=re.escape("weights[1] is not finite (at index (2, 1))")):
        model(x)
    model = SpikingNetwork(feedforward_net(np.random.default_rng(0)), 40.0, n_threads=1)
    with torch.no_grad():
        model.delays[0] -= 1.0
    with pytest.raises(ValueError, match=re.escape("delays[0] must be >= 0 ms, got -0.5")):
        model(x)
    setup = SimulationSetup(model.net, 40.0)
    params = [p.detach() for p in model.parameters()]
    with pytest.raises(ValueError, match=re.escape("weights[0] must have shape (4, 5), got (5, 4)")):
        SimulateFunction.apply(setup, x.times, x.neurons, params[0].T, *params[1:])
    with pytest.raises(ValueError, match="expected 2 weight, 2 bias and 2 delay arrays"):
        SimulateFunction.apply(setup, x.times, x.neurons, *params[:-1])


def test_replaced_or_edited_tensors_are_simulated_not_the_cached_trains():
    # PaddedSpikes keeps eventsnn trains to skip a conversion; once its tensors are replaced or edited in place,
    # the layer must simulate the tensors, never the stale trains
    import eventsnn as es
    from eventsnn.torch import SpikingNetwork, pad_spikes

    net = es.Network.feedforward([2, 3], es.LIF(), [np.full((2, 3), 3.0)])
    model = SpikingNetwork(net, t_max=40.0)
    spikes = pad_spikes([es.SpikeTrains([1.0, 2.0], [0, 1], 2)])
    first = model(spikes)[0].times.detach().clone()
    spikes.times = spikes.times + 10.0
    shifted = model(spikes)[0].times.detach()
    direct = model(spikes.times, spikes.neurons)[0].times.detach()
    assert torch.equal(shifted, direct) and torch.allclose(shifted, first + 10.0)
    again = pad_spikes([es.SpikeTrains([1.0, 2.0], [0, 1], 2)])
    with torch.no_grad():
        again.times += 5.0  # in place: same tensor object, new version
    assert torch.allclose(model(again)[0].times.detach(), first + 5.0)


def test_large_finite_parameters_are_not_reported_as_non_finite():
    # the parameter check sums each array first; a sum that overflows must not flag finite values
    from eventsnn._padded import checked_parameters

    import eventsnn as es
    net = es.Network.feedforward([2, 2], es.LIF(), [np.ones((2, 2))])
    big = np.full((2, 2), 1e308)
    checked_parameters(net, [big, np.zeros(()), np.zeros(())])
    with pytest.raises(ValueError, match=r"weights\[0\] is not finite \(at index \(1, 0\)\)"):
        checked_parameters(net, [np.array([[1.0, 1.0], [np.inf, 1.0]]), np.zeros(()), np.zeros(())])
