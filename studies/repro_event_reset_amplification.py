"""Reproducer (not a study): the event form with the surrogate reset term amplifies the adjoint.

antlr/activation with form="event" and detach_reset=False add, at each creation candidate, the source
lambda_V(t_c-) += gain * (drive - V(t_c) lambda_V(t_c+)) with gain = sigma'(V - theta) * width, width up to
max_width (5 ms). The adjoint of V is multiplied by (1 - gain V); when gain * V > 2 that factor exceeds 1 in
magnitude and flips sign, and several near-misses per neuron compound it. The grid form (width dt = 1 ms,
gain <= 1) does not. Run: python studies/repro_event_reset_amplification.py
"""
import numpy as np

import eventsnn as es
from eventsnn import losses
from eventsnn.encoders import poisson_encode
from eventsnn.training import init_weights

rng = np.random.default_rng([0, 300])  # study 1, seed 0, 30 Hz
inputs = poisson_encode(np.full((1, 50), 20.0), 100.0, seed=rng)[0]
targets = poisson_encode(np.full((1, 5), 30.0), 95.0, seed=rng, t_start=5.0)[0]
lif = es.LIF(tau_mem=10.0, tau_syn=5.0)
net = es.Network.feedforward([50, 50, 5], neuron=lif, weights=init_weights(
    [50, 50, 5], rng, input_spikes=len(inputs), neuron_psp_peak=lif.psp_peak(), drive=(4.0, 4.0)))
rec = es.simulate(net, inputs, 100.0, n_threads=1)
loss = losses.van_rossum_distance(rec, targets, tau=10.0)


def show(name, g):
    print(f"{name:45s} max|dW1| {np.abs(g.weights[0]).max():10.2f}   max|dW2| {np.abs(g.weights[1]).max():8.2f}")


show("timing", es.vjp(net, rec, loss.cotangents, n_threads=1))
for kw in [dict(form="grid"), dict(form="event", detach_reset=True), dict(form="event"),
           dict(form="event", max_width=1.0)]:
    show(f"antlr {kw}", es.vjp(net, rec, loss, method="antlr", n_threads=1, **kw))
    show(f"activation {kw}", es.vjp(net, rec, loss, method="activation", n_threads=1, **kw))
