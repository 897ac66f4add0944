"""Small networks shared by the PyTorch and JAX bridge tests: strongly driven, so that a finite-difference step
creates or removes no spike."""

import eventsnn as es

NEURON = es.LIF(tau_mem=10.0, tau_syn=5.0, bias=0.05)


def feedforward_net(rng) -> es.Network:
    return es.Network.feedforward([4, 5, 3], neuron=NEURON, weights=[rng.uniform(1.5, 3.0, (4, 5)),
                                                                     rng.uniform(0.5, 1.2, (5, 3))],
                                  delays=[0.5, 1.0])


def recurrent_net(rng, n_inputs: int = 3) -> es.Network:
    net = es.Network()
    net.add_input("in", n_inputs)
    net.add_population("hidden", 4, NEURON)
    net.add_population("out", 2, es.LIF(tau_mem=8.0, tau_syn=4.0))
    net.connect("in", "hidden", rng.uniform(1.5, 3.0, (n_inputs, 4)), delays=rng.uniform(0.2, 1.0, (n_inputs, 4)))
    net.connect("hidden", "hidden", rng.uniform(-0.2, 0.2, (4, 4)), delays=1.5)
    net.connect("hidden", "out", rng.uniform(0.5, 1.5, (4, 2)), delays=0.3)
    return net
