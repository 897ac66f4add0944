"""Slow, obviously-correct twins of the package's fast kernels (tests only).

Each oracle is written from the model equations and docs/theory.md alone and imports nothing from
``eventsnn._kernels``: it reads plain arrays and an ``eventsnn.LIF`` (as a parameter record), so agreement with
a kernel checks the kernel's rules, not a shared helper.

* ``model``: the closed-form free step of (V, I);
* ``adjoint_per_neuron``: the adjoint of one dense layer (A1-A4, with optional sources and queries), each neuron's
  events walked alone, against ``_kernels/backward.layer_backward``'s gap sweep over all neurons at once;
* ``na_flip``: one neuron re-simulated in small exact steps with one spike forced or suppressed, against NA's
  neighbours (``_kernels/candidates.resimulate_candidates``).

The independent network simulator is ``tests/reference.py``.
"""
