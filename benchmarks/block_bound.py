"""Would bounding a whole block of K input arrivals at once, instead of every gap, cut the 200 Hz sweep?

At 200 Hz the feed-forward kernel propagates every neuron over every gap between input arrivals (about 1 ns per
neuron and gap; docs/performance.md, "Where the time goes"), where a dt = 1 ms loop steps 100 times per sample. A
block method would advance the neurons that provably stay below threshold over K arrivals in one matrix product
and keep the per-gap exact path for the others. Its gain hinges on how many neurons the block bound flags:

    V(t) <= V0 + (bias + max(I0, 0) + P - V0)^+ (1 - e^{-(t_b - t_a) / tau_mem}),   P = sum of the positive
                                                                                     weights of the K arrivals

(eq. 8 of docs/theory.md with every positive input of the block added at its start). This script counts the
flagged share of neuron-blocks on the first W3 samples, the states taken at each arrival from the exact spikes
(propagated with the kernel's own decay factors, reset at each spike; refractory period 0, no bias).

    python benchmarks/block_bound.py [--hidden 1000] [--rate 200] [--samples 2]
"""

from __future__ import annotations

import argparse

import numpy as np

import eventsnn as es
from _workloads import data_dir
from eventsnn._kernels.lif import decay_factors

TAU_MEM, TAU_SYN, T_MAX = 10.0, 5.0, 100.0


def states_at_arrivals(t_in, s_in, w_hidden, spike_times, spike_neurons, params):
    """(V, I) of every hidden neuron just before each arrival is added, and the arrival times."""
    n = w_hidden.shape[1]
    v, i, t = np.zeros(n), np.zeros(n), 0.0
    order = np.argsort(spike_times, kind="stable")
    spike_times, spike_neurons = spike_times[order], spike_neurons[order]
    p = 0
    states = []
    for k, t_next in enumerate(t_in):
        while p < spike_times.size and spike_times[p] <= t_next:
            em, es_, kern = decay_factors(spike_times[p] - t, params)
            v, i, t = v * em + i * kern, i * es_, spike_times[p]
            v[spike_neurons[p]] = 0.0
            p += 1
        em, es_, kern = decay_factors(t_next - t, params)
        v, i, t = v * em + i * kern, i * es_, t_next
        states.append((v.copy(), i.copy()))
        i = i + w_hidden[s_in[k]]
    return states


def flagged_share(t_in, s_in, w_hidden, states, block, threshold=1.0):
    flagged = total = 0
    for a in range(0, t_in.size - block, block):
        v0, i0 = states[a]
        positive = np.maximum(w_hidden[s_in[a:a + block]], 0.0).sum(axis=0)
        drive = np.maximum(np.maximum(i0, 0.0) + positive - v0, 0.0)
        bound = v0 + drive * -np.expm1(-(t_in[a + block] - t_in[a]) / TAU_MEM)
        flagged += int(np.count_nonzero(bound >= threshold))
        total += v0.size
    return flagged / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1000, choices=(100, 1000, 10000))
    parser.add_argument("--rate", type=int, default=200, choices=(20, 200))
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    directory = data_dir(args.data)
    inputs = np.load(directory / f"w3_inputs_{args.rate}Hz.npz")
    weights = np.load(directory / f"w3_weights_h{args.hidden}_{args.rate}Hz.npz")
    neuron = es.LIF(tau_mem=TAU_MEM, tau_syn=TAU_SYN)
    params = neuron.kernel_parameters()
    net = es.Network.feedforward([100, args.hidden, 10], neuron=neuron,
                                 weights=[weights["W_hidden"].copy(), weights["W_out"].copy()])
    offsets = inputs["offsets"]
    blocks = (1, 2, 4, 8, 16, 32)
    shares = np.zeros((args.samples, len(blocks)))
    for b in range(args.samples):
        t_in = inputs["times"][offsets[b]:offsets[b + 1]]
        s_in = inputs["neurons"][offsets[b]:offsets[b + 1]]
        hidden = es.simulate(net, es.SpikeTrains(t_in, s_in, 100), T_MAX).layers[0]
        states = states_at_arrivals(t_in, s_in, weights["W_hidden"], np.asarray(hidden.times),
                                    np.asarray(hidden.neurons), params)
        for c, block in enumerate(blocks):
            shares[b, c] = flagged_share(t_in, s_in, weights["W_hidden"], states, block)
        print(f"sample {b}: {t_in.size} arrivals, {hidden.times.size} hidden spikes")
    print(f"W3 N_h {args.hidden}, {args.rate} Hz, {args.samples} samples: share of neuron-blocks the bound flags")
    for c, block in enumerate(blocks):
        print(f"  K = {block:2d}: {100 * shares[:, c].mean():6.2f} %")


if __name__ == "__main__":
    main()
