"""Training loop: exact-gradient time-to-first-spike classification with Adam/SGD.

One step: simulate the mini-batch (parallel over samples) -> ``first_spike_cross_entropy`` per sample ->
``vjp`` (exact, parallel) -> optimizer. Metrics per epoch: loss, train/test accuracy, mean spikes per sample per
layer, fraction of silent neurons per layer, wall time split into forward and backward, and how much the run leans on
the silent-neuron remedy (``train_silent_label_fraction``: training samples whose label output neuron stayed
silent; ``n_remedy_bumps``: bumps applied over the epoch, one per dead neuron per batch in which it had an
active input and one per sample whose label neuron stayed silent with some active input).

Silent neurons (documented remedy). Exact timing gradients cannot create a spike: a neuron that never fires
gets no gradient. Like EventProp and ANTLR's "timing penalty", the trainer adds ``silent_bump`` to the
*descent direction* of the incoming weights of (a) every neuron that was silent on the whole mini-batch and
(b) the label output neuron of every sample in which it stayed silent (weighted by the presynaptic spike
counts, so only connections that carried spikes grow). Set ``silent_bump=0`` to train with pure exact
gradients. The gradient methods of issue 4 (creation/removal terms) make this heuristic unnecessary.

Validation and test. Given a validation set, the trainer evaluates it after every epoch (``val_*`` metrics) and
the test set only once, after the last epoch (``test_*`` in that epoch's row): whatever is chosen from a run's
history (settings, presets, penalties) is chosen on validation, and the test set cannot have been looked at before.
Without a validation set (runs of older versions, or a final run on the whole training set) the test set is
evaluated after every epoch as before; nothing in the trainer selects on it.

Checkpoints are written atomically after every epoch; ``resume=True`` continues from the last one (refusing a
checkpoint written with other settings: only ``epochs`` may change), and a run with the same seed and data is
bit-identical whatever the number of threads.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import FrozenInstanceError, dataclass, field, fields, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from eventsnn import _config_rules
from eventsnn import _validation as check
from eventsnn import rundir
from eventsnn._atomic import write_json, write_npz
from eventsnn._file_validation import open_npz
from eventsnn.adjoint import vjp
from eventsnn.encoders import drop_spikes, jitter_times, shift_images
from eventsnn.losses import CLASSIFICATION_LOSSES, LossResult, spike_count_regularizer
from eventsnn.network import Network
from eventsnn.optim import make_optimizer
from eventsnn.readout import LIReadout
from eventsnn.simulate import simulate
from eventsnn.spikes import SpikeBatch

LOSSES = tuple(CLASSIFICATION_LOSSES)  # the names of the classification losses, in their table's order


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :class:`Trainer` (times in ms); immutable, validated on construction.

    Every field is checked by its rule in one constraint table (``eventsnn/_config_rules.py``), then the few
    constraints between fields; a bad value raises TypeError or ValueError naming the field
    (``TrainConfig.lr must be a finite number > 0, got -1.0``). Values are normalised (ints, floats, bools, str,
    ``input_shape`` a tuple, ``method_options`` a read-only mapping), so configs of equal settings compare equal.
    A variant is ``dataclasses.replace(config, lr=1e-3)``, validated like a new config. Assigning a field
    (``config.lr = 1e-3``) is deprecated: it still works in this release, with a DeprecationWarning, and is
    validated the same way.

    Attributes
    ----------
    epochs, batch_size : int
    lr : float
        Learning rate.
    optimizer : {"adam", "sgd"}
    lr_decay : float
        Multiplicative learning-rate factor applied after every ``lr_decay_every`` epochs (1 = constant).
    lr_decay_every : int
        Epochs between two applications of ``lr_decay`` (default 1; a step schedule such as PyTorch's
        ``StepLR(step_size=10, gamma=0.1)`` is ``lr_decay=0.1, lr_decay_every=10``).
    lr_decay_start : int
        First epoch (1-based) after which ``lr_decay`` may apply (default 1: from the first). EventProp's scripts
        decay after every epoch but the first (``epoch > 0`` in their loop), which is ``lr_decay_start=2``.
    t_max : float
        Simulation window (ms).
    softmax_tau : float
        Temperature (ms) of the first-spike softmax.
    early_weight, early_tau : float
        Early-spike term of the loss (``losses.first_spike_cross_entropy``); 0 disables it.
    silent_bump : float
        Strength of the silent-neuron remedy (module docstring); 0 disables it. Not applied with
        ``loss="count"``, whose own cotangent already asks a silent label neuron to fire.
    min_slope : float
        Opt-in clipping of dV/dt at crossings in the adjoint (1/ms); 0 = exact gradients.
    seed : int
        Seeds shuffling (and nothing else: initial weights come with the network).
    n_threads : int or None
        Threads over samples (None = all cores).
    progress : bool
        Show a tqdm progress bar per epoch.
    method : {"timing", "activation", "antlr", "na"}
        Gradient method (:func:`eventsnn.vjp`); "timing" is the exact adjoint.
    method_options : mapping
        Options of the method (:class:`eventsnn.gradient_methods.MethodOptions`), stored as a read-only copy
        (``types.MappingProxyType``): changing the dict given, or the config's mapping, cannot change a config.
    grad_clip : float
        If > 0, the gradient of each step is rescaled to at most this global L2 norm (a guard against the rare
        huge exact gradients of near-grazing crossings); 0 = off.
    loss : {"first_spike", "latency", "count", "vmax"}
        Classification loss: ``"first_spike"`` = ``losses.first_spike_cross_entropy`` (softmax of -t_first /
        softmax_tau, plus the early-spike term); ``"latency"`` = ANTLR's ``losses.latency_cross_entropy`` (logits
        latency_beta (t_max - t_first), silent output = logit 0, no-spike penalty ``lambda_nospike`` whose creation
        cotangent only creation/removal methods see); ``"count"`` = ANTLR's count loss
        ``losses.spike_count_mse`` with target 1 spike for the label neuron and 0 for the others (count
        cotangents only: the loss of ANTLR's activation-only baseline; timing gradients are blind to it). The
        decision rule follows the loss: earliest first output spike for the two time losses, most output spikes
        for "count" (ties go to the earliest first spike; no output spike = wrong). ``"vmax"`` =
        ``losses.vmax_cross_entropy``: cross-entropy over the potential maxima of a leaky-integrator read-out
        (:class:`eventsnn.readout.LIReadout`, passed to the Trainer) driven by the last spiking layer; decided
        by the largest maximum.
    latency_beta : float
        Logit slope (1/ms) of the latency loss.
    lambda_nospike : float
        No-spike penalty of the latency loss.
    input_jitter : float
        Standard deviation (ms) of Gaussian noise added to every training input spike time, drawn afresh at
        each presentation (``encoders.jitter_times``, clipped to [0, t_max]); 0 (default) trains on the data
        as given. Evaluation never jitters.
    input_dropout : float
        Probability in [0, 1) that each training input spike is left out at a presentation, drawn afresh each time
        (``encoders.drop_spikes``; EventProp's MNIST runs use 0.2); 0 (default) = none. Applied after the shift,
        before the jitter; evaluation never drops.
    input_shift : int
        Largest random translation (pixels) of each training image at each presentation
        (``encoders.shift_images``; spikes shifted off the image are dropped); 0 (default) = none. Needs
        ``input_shape``. Applied before the time jitter; evaluation never shifts.
    input_shape : tuple of int or None
        ``(height, width)`` of the input image (the MNIST tasks set ``(28, 28)``), or ``(planes, height, width)``
        (N-MNIST: ``(2, 34, 34)``, one plane per polarity); only read by ``input_shift``.
    train_delays : bool
        Also learn one transmission delay (ms) per synapse, by the exact gradient of the spike times with respect
        to delays (DelGrad's synaptic delays). The Trainer turns every scalar delay into a per-synapse array,
        so simulation runs on the general heap engine (about 3-4x slower than the layered fast path); delays are
        kept >= 0 after each step. Needs ``method="timing"``.
    delay_lr_scale : float
        Learning rate of the delays relative to ``lr`` (delays are in ms, weights in threshold units, and Adam's
        step is invariant to the gradient's scale): with Adam each step moves a delay by up to about
        ``lr * delay_lr_scale`` ms.
    spike_penalty : float
        Strength of the spike-count regulariser (``losses.spike_count_regularizer``, all layers) per spike and
        sample; only creation/removal methods see its gradient (counts have no timing gradient).
    skip_silent_label : bool
        With ``loss="first_spike"``: a sample whose label output neuron stays silent contributes no gradient at all
        (its value still counts in the reported training loss). This is EventProp's rule
        (``eventprop/loss_layer.py`` ``TTFSCrossEntropyLoss.backward``: the label's loss is NaN, and the sample's
        errors are skipped for every output neuron); the default (False) still pushes the other outputs' first
        spikes later with the label counted at ``t_max``.
    validation_split : str
        Which samples the run holds out for validation, as the task describes it (e.g. ``"mnist train[50000:60000]"``),
        or ``""`` for none. Only recorded (the Trainer takes the sets it is given), so that a checkpoint is never
        resumed on other training data.

    Examples
    --------
    >>> import dataclasses
    >>> config = TrainConfig(epochs=5, lr=1e-3, input_shape=[28, 28])
    >>> config.input_shape
    (28, 28)
    >>> dataclasses.replace(config, lr=2e-3).lr
    0.002
    >>> dataclasses.replace(config, lr=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: TrainConfig.lr must be a finite number > 0, got -1.0
    """

    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-3
    optimizer: str = "adam"
    lr_decay: float = 1.0
    lr_decay_every: int = 1
    lr_decay_start: int = 1
    t_max: float = 60.0
    softmax_tau: float = 5.0
    early_weight: float = 0.0
    early_tau: float = 20.0
    silent_bump: float = 1e-2
    min_slope: float = 0.0
    seed: int = 0
    n_threads: int | None = None
    progress: bool = True
    method: str = "timing"
    method_options: Mapping[str, object] = field(default_factory=dict, hash=False)  # a mappingproxy: not hashable
    spike_penalty: float = 0.0
    grad_clip: float = 0.0
    loss: str = "first_spike"
    latency_beta: float = 1.0 / 6.0
    lambda_nospike: float = 0.1
    input_jitter: float = 0.0
    input_shift: int = 0
    input_dropout: float = 0.0
    input_shape: tuple[int, ...] | None = None
    train_delays: bool = False
    delay_lr_scale: float = 10.0
    skip_silent_label: bool = False
    validation_split: str = ""

    def __post_init__(self) -> None:
        # every field by its rule in the constraint table (eventsnn/_config_rules.py), then the relations between
        # fields; the normalised values are stored through object.__setattr__, as a frozen dataclass must
        for name, value in _config_rules.checked_fields(self).items():
            object.__setattr__(self, name, value)
        _config_rules.check_relations(self)

    def __reduce__(self):
        # the read-only options mapping does not pickle: rebuild (and re-validate) from plain field values
        return (_config_from_fields, (_plain_fields(self),))


def _config_from_fields(values: dict) -> TrainConfig:
    return TrainConfig(**values)


def _plain_fields(config: TrainConfig) -> dict:
    """The fields of ``config`` by name, with ``method_options`` as a plain dict (JSON- and pickle-friendly)."""
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values["method_options"] = dict(config.method_options)
    return values


def _assign_deprecated(config: TrainConfig, name: str, value: object) -> None:
    """Deprecated: ``config.<field> = value``. Still works for one release, with a DeprecationWarning, and only for
    a value the whole config accepts (validated as ``dataclasses.replace`` validates it), so that an assignment can
    never make a run silently run as something else."""
    if name not in TrainConfig.__dataclass_fields__:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    warnings.warn(f"TrainConfig is immutable; use dataclasses.replace(config, {name}=...) (assigning a field is "
                  f"deprecated and will raise in the next release)", DeprecationWarning, stacklevel=2)
    object.__setattr__(config, name, getattr(replace(config, **{name: value}), name))


# A frozen dataclass may not define __setattr__ in its body, so the deprecation path is installed afterwards; in the
# next release this line goes and assignments raise dataclasses.FrozenInstanceError.
TrainConfig.__setattr__ = _assign_deprecated  # type: ignore[method-assign, assignment]


@dataclass
class Evaluation:
    """Metrics of a network on a labelled set of samples."""

    loss: float
    accuracy: float
    spikes_per_sample: list  # mean spikes per sample, one entry per layer
    silent_fraction: list    # fraction of neurons silent on every sample, per layer
    extra: dict = field(default_factory=dict)


class Trainer:
    """Train a feed-forward network for classification (first-spike, latency, count or read-out losses).

    Parameters
    ----------
    net : Network
        Trained in place (its weights are updated).
    train_inputs, train_labels : SpikeBatch, array of int
    test_inputs, test_labels : SpikeBatch, array of int, optional
    validation_inputs, validation_labels : SpikeBatch, array of int, optional
        Held-out set evaluated after every epoch (``val_*`` metrics); with it the test set is evaluated only after
        the last epoch (module docstring).
    config : TrainConfig
    out_dir : str, optional
        Where ``checkpoint.npz`` and ``metrics.json`` are written (atomically) after every epoch.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` if it exists.
    readout : LIReadout, optional
        Leaky-integrator read-out driven by the last layer of ``net``, trained with it; required by (and only
        allowed with) ``config.loss="vmax"``. The silent-neuron remedy then only acts on dead spiking neurons.
    run_id : str, optional
        Identifier of the run, written into every checkpoint; a resumed checkpoint with another id is refused (a
        checkpoint without one, from an older version, takes this id on).
    """

    def __init__(self, net: Network, train_inputs: SpikeBatch, train_labels: np.ndarray,
                 test_inputs: SpikeBatch | None = None, test_labels: np.ndarray | None = None, *,
                 config: TrainConfig | None = None, out_dir: str | None = None, resume: bool = False,
                 readout: LIReadout | None = None, run_id: str | None = None,
                 validation_inputs: SpikeBatch | None = None, validation_labels: np.ndarray | None = None) -> None:
        if not isinstance(net, Network):
            raise TypeError(f"net must be an eventsnn.Network, got {type(net).__name__}")
        self.net = net
        self.config = config or TrainConfig()
        n_out = net.populations[net.layer_names[-1]].size
        if (readout is None) != (not CLASSIFICATION_LOSSES[self.config.loss].readout):
            raise ValueError("loss='vmax' needs a readout (eventsnn.readout.LIReadout) and a readout needs "
                             f"loss='vmax'; got loss={self.config.loss!r}, readout={readout!r}")
        if readout is not None:
            if not isinstance(readout, LIReadout):
                raise TypeError(f"readout must be an eventsnn.readout.LIReadout, got {type(readout).__name__}")
            if readout.n_inputs != n_out:
                raise ValueError(f"the readout has {readout.n_inputs} inputs but the last layer has {n_out} neurons")
            n_out = readout.n_classes
        self.readout = readout
        if self.config.train_delays:
            for connection in net.connections:
                if connection.has_scalar_delay:
                    connection.delays = np.full(connection.weights.shape, float(connection.delays))
                else:
                    connection.delays = np.array(connection.delays, dtype=np.float64)
        self.train_inputs, self.train_labels = _checked_set(train_inputs, train_labels, n_out, "train")
        if self.config.input_shift > 0:  # fail before any work, not at the first batch
            n_inputs = self.train_inputs.n_neurons
            check.image_shape("input_shape", self.config.input_shape, n_inputs=n_inputs,
                              inputs=f"{n_inputs} input neurons of the training set")
        self.test_inputs, self.test_labels = (None, None) if test_inputs is None else \
            _checked_set(test_inputs, test_labels, n_out, "test")
        self.validation_inputs, self.validation_labels = (None, None) if validation_inputs is None else \
            _checked_set(validation_inputs, validation_labels, n_out, "validation")
        self.optimizer = make_optimizer(self.config.optimizer, self.config.lr)
        self.rng = np.random.default_rng(self.config.seed)
        self.epoch = 0
        self.history: list[dict] = []
        self.out_dir = out_dir
        self.run_id = None if run_id is None else str(run_id)
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
            if resume and os.path.exists(self.checkpoint_path):
                self.load_checkpoint(self.checkpoint_path)

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.out_dir or ".", "checkpoint.npz")

    # ----------------------------------------------------------------------------------------------
    def fit(self, on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
        """Train for the remaining epochs; returns the per-epoch metrics (also stored in ``history``).

        ``on_epoch(metrics)`` is called after each epoch, once its checkpoint is written (e.g. to log it).
        With ``out_dir``, the directory's lock (:mod:`eventsnn.rundir`) is held while training, so that two
        trainers never write into one run directory; RunDirectoryError if another process holds it.
        """
        if self.out_dir is None or rundir.held_here(self.out_dir):  # the command line took it for this run
            return self._fit(on_epoch)
        with rundir.acquire(self.out_dir):
            return self._fit(on_epoch)

    def _fit(self, on_epoch: Callable[[dict], None] | None) -> list[dict]:
        cfg = self.config
        while self.epoch < cfg.epochs:
            started = time.perf_counter()
            order = self.rng.permutation(len(self.train_inputs))
            totals = {"loss": 0.0, "correct": 0, "forward_s": 0.0, "backward_s": 0.0, "n_near_grazing": 0,
                      "n_silent_label": 0, "n_remedy_bumps": 0}
            batches = [order[i:i + cfg.batch_size] for i in range(0, order.size, cfg.batch_size)]
            iterator = batches
            if cfg.progress:
                from tqdm.auto import tqdm
                iterator = tqdm(batches, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
            for number, batch in enumerate(iterator, start=1):
                stats = self.train_step(batch)
                self._check_finite(stats["loss"], number, len(batches))
                for key in totals:
                    totals[key] += stats[key]
            self.epoch += 1
            if self.epoch >= cfg.lr_decay_start and self.epoch % cfg.lr_decay_every == 0:
                self.optimizer.lr *= cfg.lr_decay
            n = len(self.train_inputs)
            metrics = {"epoch": self.epoch, "loss": totals["loss"] / n, "train_accuracy": totals["correct"] / n,
                       "forward_s": totals["forward_s"], "backward_s": totals["backward_s"],
                       "n_near_grazing": totals["n_near_grazing"], "n_remedy_bumps": totals["n_remedy_bumps"]}
            if self.readout is None:
                metrics["train_silent_label_fraction"] = totals["n_silent_label"] / n
            if self.validation_inputs is not None:
                ev = self.evaluate(self.validation_inputs, self.validation_labels)
                metrics.update(val_loss=ev.loss, val_accuracy=ev.accuracy,
                               val_spikes_per_sample=ev.spikes_per_sample, val_silent_fraction=ev.silent_fraction,
                               val_spikes_until_first_output=ev.extra["spikes_until_first_output"])
            # with a validation set the test set is the final evaluation only (module docstring)
            if self.test_inputs is not None and (self.validation_inputs is None or self.epoch == cfg.epochs):
                ev = self.evaluate(self.test_inputs, self.test_labels)
                metrics.update(test_loss=ev.loss, test_accuracy=ev.accuracy,
                               test_spikes_per_sample=ev.spikes_per_sample, test_silent_fraction=ev.silent_fraction,
                               test_spikes_until_first_output=ev.extra["spikes_until_first_output"])
            metrics["epoch_s"] = time.perf_counter() - started
            self.history.append(metrics)
            if self.out_dir is not None:
                self.save_checkpoint(self.checkpoint_path)
                write_json(os.path.join(self.out_dir, "metrics.json"), self.history)
            if cfg.progress:
                print(format_metrics(metrics, self.net.layer_names), flush=True)
            if on_epoch is not None:
                on_epoch(metrics)
        return self.history

    def _check_finite(self, loss: float, batch: int, n_batches: int) -> None:
        """TrainingDivergedError if the loss of the last step or a trained parameter is not finite (checked after
        every step; nothing of the epoch in progress has been written yet)."""
        problem = None
        if not np.isfinite(loss):
            problem = f"the loss is {loss!r}"
        else:
            names = ([f"weights[{k}]" for k in range(len(self.net.weights))]
                     + (["readout weights"] if self.readout is not None else [])
                     + ([f"delays[{k}]" for k in range(len(self.net.connections))] if self.config.train_delays else []))
            for name, parameter in zip(names, self.parameters):
                if not check.all_finite(parameter):
                    problem = f"{name} hold non-finite values after the optimizer step"
                    break
        if problem is None:
            return
        kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.checkpoint_path}"
                if self.out_dir is not None and os.path.exists(self.checkpoint_path) else "no checkpoint was written")
        raise TrainingDivergedError(f"training diverged in epoch {self.epoch + 1}, batch {batch}/{n_batches}: "
                                    f"{problem}; {kept}. Lower the learning rate or set grad_clip")

    def train_step(self, batch: Sequence[int]) -> dict:
        """One optimisation step on the samples ``batch`` (indices into the training set)."""
        cfg = self.config
        samples = [self.train_inputs[int(b)] for b in batch]
        if cfg.input_shift > 0 or cfg.input_dropout > 0.0 or cfg.input_jitter > 0.0:
            augmented = SpikeBatch.from_list(samples)  # each augmentation takes the batch the previous one returned
            if cfg.input_shift > 0:
                augmented = shift_images(augmented, cfg.input_shape, cfg.input_shift, self.rng)
            if cfg.input_dropout > 0.0:
                augmented = drop_spikes(augmented, cfg.input_dropout, self.rng)
            if cfg.input_jitter > 0.0:
                augmented = jitter_times(augmented, cfg.input_jitter, self.rng, cfg.t_max)
            samples = list(augmented)
        labels = self.train_labels[np.asarray(batch)]
        t0 = time.perf_counter()
        records = simulate(self.net, samples, cfg.t_max, n_threads=cfg.n_threads, progress=False)
        t1 = time.perf_counter()
        scale = 1.0 / len(records)
        losses = [loss.scaled(scale) for loss in self._losses(records, [int(y) for y in labels])]
        value = sum(l.value for l in losses) * len(records)
        if cfg.skip_silent_label:
            losses = [_without_gradient(l) if l.silent[int(y)] else l for l, y in zip(losses, labels)]
        if cfg.method == "timing":
            grads = vjp(self.net, records, [l.cotangents for l in losses], min_slope=cfg.min_slope,
                        n_threads=cfg.n_threads)
        else:
            grads = vjp(self.net, records, losses, method=cfg.method, min_slope=cfg.min_slope,
                        n_threads=cfg.n_threads, **cfg.method_options)
        t2 = time.perf_counter()
        directions = list(grads.weights)  # vjp's own fresh arrays: nothing else holds them
        if self.readout is not None:
            directions.append(sum(l.readout_gradient for l in losses))
        if cfg.train_delays:
            directions.extend(np.array(d, dtype=np.float64) for d in grads.delays)
        if cfg.grad_clip > 0.0:
            norm = float(np.sqrt(sum(float(np.sum(d * d)) for d in directions)))
            if norm > cfg.grad_clip:
                directions = [d * (cfg.grad_clip / norm) for d in directions]
        # The count loss asks a silent label neuron for a spike through its own cotangent (-1); the remedy on top,
        # magnified by Adam where the loss gradient is small, made activation-only MNIST training diverge
        # (docs/studies/accuracy_sparsity.md)
        n_bumped = 0
        if cfg.silent_bump > 0.0 and CLASSIFICATION_LOSSES[cfg.loss].silent_remedy:
            n_bumped = self._add_silent_remedy(directions, records, labels)
        self.optimizer.step(self.parameters, directions, self._lr_scales())
        if cfg.train_delays:
            for connection in self.net.connections:
                np.maximum(connection.delays, 0.0, out=connection.delays)
        correct = sum(int(_prediction(r, cfg.loss, l.extra.get("v_max")) == y)
                      for r, y, l in zip(records, labels, losses))
        # a label output neuron that stays silent gets no timing gradient: how often that happens says how much a
        # timing-only run leans on the remedy (meaningless with a read-out, whose classes are not neurons)
        silent_labels = 0 if self.readout is not None else sum(
            int(r.layers[-1].counts()[y] == 0) for r, y in zip(records, labels))
        return {"loss": value, "correct": correct,
                "forward_s": t1 - t0, "backward_s": t2 - t1, "n_near_grazing": grads.n_near_grazing,
                "n_silent_label": silent_labels, "n_remedy_bumps": n_bumped}

    @property
    def parameters(self) -> list[np.ndarray]:
        """The trained arrays (views, updated in place): the network's weight matrices, then the read-out's, then
        the per-synapse delays when ``config.train_delays``."""
        delays = [c.delays for c in self.net.connections] if self.config.train_delays else []
        return self.net.weights + ([self.readout.weights] if self.readout is not None else []) + delays

    def _lr_scales(self) -> list[float]:
        n_delays = len(self.net.connections) if self.config.train_delays else 0
        return [1.0] * (len(self.parameters) - n_delays) + [self.config.delay_lr_scale] * n_delays

    def _losses(self, records: list, labels: list[int]) -> list:
        """The training loss of each record (the classification loss, plus the spike-count regulariser)."""
        cfg = self.config
        losses = CLASSIFICATION_LOSSES[cfg.loss].train_all(records, labels, cfg, self.readout)
        if cfg.spike_penalty > 0.0:
            losses = [loss + spike_count_regularizer(rec, strength=cfg.spike_penalty)
                      for loss, rec in zip(losses, records)]
        return losses

    def _add_silent_remedy(self, directions: list[np.ndarray], records: list, labels: np.ndarray) -> int:
        """Add the remedy to ``directions`` in place; returns the number of bumps applied: dead neurons of the batch
        with at least one active input, plus samples whose label output neuron stayed silent while some of its
        inputs fired."""
        bump = self.config.silent_bump
        n_bumped = 0
        n_layers = len(self.net.weights)  # a read-out's direction (last) has no spikes to revive
        batch = len(records)
        for k in range(n_layers):
            pre_counts = np.stack([_pre_counts(r, k) for r in records]).astype(np.float64)  # (B, n_pre)
            post_counts = np.stack([r.layers[k].counts() for r in records])                 # (B, n_post)
            dead = post_counts.sum(axis=0) == 0
            active_inputs = pre_counts.mean(axis=0) > 0
            if dead.any() and active_inputs.any():
                directions[k][:, dead] -= bump * active_inputs[:, None]
                n_bumped += int(dead.sum())
            if k == n_layers - 1 and self.readout is None:
                for b, y in enumerate(labels):
                    if post_counts[b, y] == 0 and pre_counts[b].any():
                        directions[k][:, y] -= bump * np.minimum(pre_counts[b], 1.0) / batch
                        n_bumped += 1
        return n_bumped

    # ----------------------------------------------------------------------------------------------
    def evaluate(self, inputs: SpikeBatch, labels: np.ndarray) -> Evaluation:
        """Loss, accuracy, spikes per sample and silent fractions on a labelled set (no training)."""
        # progress=False silences simulate's automatic bar on large test sets too (--no-progress means none)
        records = simulate(self.net, inputs, self.config.t_max, n_threads=self.config.n_threads,
                           progress=None if self.config.progress else False)
        return evaluate_records(records, labels, self.config.softmax_tau, loss=self.config.loss,
                                latency_beta=self.config.latency_beta, readout=self.readout)

    # ----------------------------------------------------------------------------------------------
    def save_checkpoint(self, path: str) -> None:
        """Weights, optimizer state, epoch, shuffling RNG state and metrics in one atomic .npz."""
        arrays = {f"weight_{k}": w for k, w in enumerate(self.net.weights)}
        if self.readout is not None:
            arrays["readout_weight"] = self.readout.weights
        if self.config.train_delays:
            arrays.update({f"delay_{k}": c.delays for k, c in enumerate(self.net.connections)})
        arrays.update({f"optimizer_{key}": value for key, value in self.optimizer.state().items()})
        arrays["epoch"] = np.int64(self.epoch)
        arrays["rng_state"] = np.array(json.dumps(self.rng.bit_generator.state))
        arrays["history"] = np.array(json.dumps(self.history))
        arrays["optimizer_lr"] = np.float64(self.optimizer.lr)
        arrays["config"] = np.array(json.dumps(run_settings(self.config)))
        if self.run_id is not None:
            arrays["run_id"] = np.array(self.run_id)
        write_npz(path, **arrays)

    def load_checkpoint(self, path: str) -> None:
        """Restore a checkpoint of this run; settings other than ``epochs``, ``progress`` and ``n_threads`` must
        equal the ones it was written with (ValueError naming the differences), so that a resumed run is the run
        it continues.

        Every field is checked before anything is restored (shape exactly that of this network, dtype,
        finiteness, ranges: learning rate > 0, step count and epoch >= 0, one history row per epoch, Adam
        moments of the parameters' sizes); a bad field raises
        :class:`~eventsnn.FileFormatError` (a ValueError) naming the file and the field, and
        leaves the trainer unchanged.
        """
        with open_npz(path) as data:
            if "config" in data:  # checkpoints of older versions carry no settings
                stored = data.json("config")
                if not isinstance(stored, dict):
                    raise data.error("config", f"must be a JSON object of settings, got {type(stored).__name__}")
                # a setting added after the checkpoint was written had its default value then
                saved = {**_settings_as_stored(TrainConfig()), **stored}
                now = _settings_as_stored(self.config)
                # a run may be extended: epochs is the one setting allowed to change
                changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k != "epochs")
                if changed:
                    raise ValueError(f"cannot resume from {path}: it was written with other settings ("
                                     + ", ".join(f"{k}: {saved.get(k)!r} there, {now.get(k)!r} now" for k in changed)
                                     + "); resume with the same settings (only epochs may grow) or use a new output "
                                       "directory"
                                     + ("; a checkpoint of a version without validation splits resumes with "
                                        "validation=False (--no-validation)" if "validation_split" in changed
                                        and not saved.get("validation_split") else ""))
            run_id = None
            if "run_id" in data:
                run_id = str(data.array("run_id", kinds="U", ndim=0))
                if self.run_id is not None and run_id != self.run_id:
                    raise data.error("run_id", f"is {run_id!r}, but this run is {self.run_id!r}: the checkpoint "
                                               f"belongs to another run")
            weights = [data.parameters(f"weight_{k}", c.weights.shape)
                       for k, c in enumerate(self.net.connections)]
            readout = None if self.readout is None else data.parameters("readout_weight",
                                                                         self.readout.weights.shape)
            delays = [data.parameters(f"delay_{k}", c.weights.shape, nonnegative=True)
                      for k, c in enumerate(self.net.connections)] if self.config.train_delays else []
            shapes = [w.shape for w in weights] + ([readout.shape] if readout is not None else []) + \
                [d.shape for d in delays]
            state = _checked_optimizer_state(data, self.config.optimizer, shapes)
            lr = data.real("optimizer_lr", positive=True)
            epoch = data.integer("epoch", minimum=0, maximum=10**9)
            rng = np.random.default_rng()
            rng_state = data.json("rng_state")
            try:
                rng.bit_generator.state = rng_state
            except (TypeError, ValueError, KeyError, OverflowError) as error:
                raise data.error("rng_state", f"is not a state of numpy's {type(rng.bit_generator).__name__} "
                                              f"({type(error).__name__}: {error})") from None
            history = data.json("history")
            if not isinstance(history, list) or len(history) != epoch or not all(
                    isinstance(row, dict) and row.get("epoch") == k + 1 for k, row in enumerate(history)):
                raise data.error("history", f"must list one metrics dict per finished epoch (epochs 1..{epoch}, "
                                            f"as field 'epoch' says)")
        # every field is valid: restore them all
        self.net.set_weights(weights)
        if readout is not None:
            self.readout.weights[...] = readout
        for c, d in zip(self.net.connections, delays):
            c.delays = d.copy()
        self.optimizer.load_state(state)
        self.optimizer.lr = lr
        self.epoch = epoch
        self.rng.bit_generator.state = rng.bit_generator.state
        self.history = history
        if run_id is not None:
            self.run_id = run_id


class TrainingDivergedError(FloatingPointError):
    """The loss or a trained parameter became non-finite (NaN or infinite) during training.

    Raised before anything is written for the epoch in progress: the checkpoint of the last finished epoch stays
    the last one on disk.
    """


def _checked_optimizer_state(data, optimizer: str, shapes: list[tuple[int, ...]]) -> dict:
    """The optimizer state fields of a checkpoint (``optimizer_*``), each checked against the parameters' shapes
    (Adam: step count ``t`` >= 0 and moments ``m_k``, ``v_k >= 0``; SGD: ``velocity_k``); none, or one per
    parameter array."""
    prefixes = ("m", "v") if optimizer == "adam" else ("velocity",)
    present = [name for name in data.files if name.startswith("optimizer_") and name != "optimizer_lr"]
    known = {f"optimizer_{p}_{k}" for p in prefixes for k in range(len(shapes))} | {"optimizer_t"}
    unknown = sorted(set(present) - known)
    if unknown:
        raise data.error(unknown[0], f"is not a state field of {optimizer} for {len(shapes)} parameter arrays "
                                     f"(expected {sorted(known)})")
    state = {}
    if optimizer == "adam":
        state["t"] = np.int64(data.integer("optimizer_t", minimum=0, maximum=10**12))
    for prefix in prefixes:
        names = [f"optimizer_{prefix}_{k}" for k in range(len(shapes))]
        found = [name in data for name in names]
        if any(found) and not all(found):
            raise data.error(names[found.index(False)], f"is missing: the {prefix} state needs one array per "
                                                        f"parameter ({len(shapes)})")
        if optimizer == "adam" and all(found) != (int(state["t"]) > 0):
            raise data.error("optimizer_t", f"is {int(state['t'])}, but the moments are "
                                            f"{'present' if all(found) else 'absent'}")
        if all(found):
            for k, (name, shape) in enumerate(zip(names, shapes)):
                state[f"{prefix}_{k}"] = data.floats(name, shape, nonnegative=prefix == "v")
    return state


def evaluate_records(records: list, labels: np.ndarray, softmax_tau: float, *, loss: str = "first_spike",
                     latency_beta: float = 1.0 / 6.0, readout: LIReadout | None = None) -> Evaluation:
    """Metrics of simulated records. The loss reported is the classification loss alone (no regularisers);
    ``extra["spikes_until_first_output"]`` counts spikes of all layers up to the first output spike (all of them
    for a sample without output spike), ANTLR's measure of the spikes a decision costs; with a read-out
    (``loss="vmax"``) the decision needs the whole window, so it counts every spike."""
    check.one_of("loss", loss, LOSSES)
    kind = CLASSIFICATION_LOSSES[loss]
    scored = [kind.evaluate(r, int(y), softmax_tau, latency_beta, readout) for r, y in zip(records, labels)]
    losses = [value for value, _ in scored]
    predictions = np.array([kind.predict(r, logits) for r, (_, logits) in zip(records, scored)])
    n_layers = len(records[0].layers)
    spikes = [float(np.mean([len(r.layers[k]) for r in records])) for k in range(n_layers)]
    silent = []
    for k in range(n_layers):
        fired = np.zeros(records[0].layers[k].n_neurons, dtype=bool)
        for r in records:
            fired[r.layers[k].neurons] = True
        silent.append(float(1.0 - fired.mean()))
    return Evaluation(loss=float(np.mean(losses)), accuracy=float(np.mean(predictions == labels)),
                      spikes_per_sample=spikes, silent_fraction=silent,
                      extra={"spikes_until_first_output": float(np.mean([_spikes_until_decision(r, loss)
                                                                          for r in records]))})


def _spikes_until_decision(rec, loss: str = "first_spike") -> int:
    out = rec.layers[-1]
    if CLASSIFICATION_LOSSES[loss].readout or not len(out):  # a read-out decides at the end of the window
        return sum(len(layer) for layer in rec.layers)
    t_decision = out.times[0]
    return sum(int(np.searchsorted(layer.times, t_decision, side="right")) for layer in rec.layers)


def _prediction(rec, loss: str = "first_spike", v_max: np.ndarray | None = None) -> int:
    """Decision of the output layer: earliest first spike, or (count loss) most spikes with ties going to the
    earliest first spike; -1 (always wrong) without any output spike. With a read-out (``loss="vmax"``, its
    potential maxima in ``v_max``): the largest maximum."""
    return CLASSIFICATION_LOSSES[loss].predict(rec, v_max)


def _without_gradient(loss: LossResult) -> LossResult:
    """The same loss value with every cotangent zero (a sample that contributes no gradient)."""
    return LossResult(loss.value, [np.zeros_like(c) for c in loss.cotangents],
                      [np.zeros_like(c) for c in loss.count_cotangents], loss.silent, loss.extra)


def _pre_counts(rec, k: int) -> np.ndarray:
    if k == 0:
        return next(iter(rec.inputs.values())).counts()
    return rec.layers[k - 1].counts()


def _checked_set(inputs: SpikeBatch, labels: np.ndarray, n_classes: int, name: str):
    if not isinstance(inputs, SpikeBatch):
        raise TypeError(f"{name}_inputs must be a SpikeBatch, got {type(inputs).__name__}")
    labels = np.asarray(labels)
    if labels.shape != (len(inputs),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name}_labels must be an int array of shape ({len(inputs)},), got {labels.dtype} "
                         f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name}_labels must lie in [0, {n_classes - 1}]")
    return inputs, labels.astype(np.int64)


def format_metrics(m: dict, layer_names: Sequence[str] | None = None) -> str:
    """One log line of an epoch's metrics (a row of ``Trainer.history``), in fixed columns.

    Which columns appear depends only on which keys the row has, and a run's rows all have the same keys, so the
    columns of a run never appear or disappear from one epoch to the next; numbers have fixed widths so that they
    line up. The columns: epoch, training loss and accuracy; ``no label spike``, the share of training samples
    whose label output neuron fired no spike (spiking outputs only); validation accuracy (with a validation split)
    and test accuracy (``-`` for epochs without a test evaluation); ``spikes/sample``, mean spikes per sample of
    each layer, and ``never fired``, the share of each layer's neurons that fired on no sample, both on the
    validation set if there is one, else on the test set; the epoch's wall time (s) and its forward and backward
    parts.

    Parameters
    ----------
    m : dict
        Metrics of one epoch (``epoch``, ``loss``, ``train_accuracy``, ``epoch_s``, ``forward_s``, ``backward_s``
        and optionally ``train_silent_label_fraction``, ``val_*`` and ``test_*``).
    layer_names : sequence of str, optional
        Names of the network's layers, in order (``Network.layer_names``); default ``layer1``, ``layer2``, ...

    Examples
    --------
    >>> row = {"epoch": 3, "loss": 0.25, "train_accuracy": 0.9, "train_silent_label_fraction": 0.0,
    ...        "test_accuracy": 0.875, "test_spikes_per_sample": [160.62, 10.0], "test_silent_fraction": [0.03, 0.0],
    ...        "epoch_s": 2.5, "forward_s": 1.0, "backward_s": 1.25}
    >>> print(format_metrics(row, ["hidden", "output"]))  # doctest: +NORMALIZE_WHITESPACE
    epoch   3 | loss 0.2500 | train acc  90.00% | no label spike   0.0% | test acc  87.50% |
    test spikes/sample hidden   160.6 output    10.0 | never fired hidden   3% output   0% |
    2.5 s (fwd 1.0 s, bwd 1.2 s)
    """
    def per_layer(values: Sequence[float], form: str, unit: str = "") -> str:
        names = list(layer_names) if layer_names is not None and len(layer_names) == len(values) else \
            [f"layer{k + 1}" for k in range(len(values))]
        return " ".join(f"{name} {format(value, form)}{unit}" for name, value in zip(names, values))

    parts = [f"epoch {m['epoch']:3d}", f"loss {m['loss']:.4f}", f"train acc {100 * m['train_accuracy']:6.2f}%"]
    if "train_silent_label_fraction" in m:
        parts.append(f"no label spike {100 * m['train_silent_label_fraction']:5.1f}%")
    # with a validation split the test set is evaluated after the last epoch only: its column is there from the
    # first epoch on (a dash until then), and the per-layer activity columns follow the set evaluated every epoch
    watched = "val" if "val_accuracy" in m else "test" if "test_accuracy" in m else None
    if watched == "val":
        parts.append(f"val acc {100 * m['val_accuracy']:6.2f}%")
    if watched is not None:
        parts.append(f"test acc {100 * m['test_accuracy']:6.2f}%" if "test_accuracy" in m else f"test acc {'-':>7}")
        parts += [f"{watched} spikes/sample {per_layer(m[f'{watched}_spikes_per_sample'], '7.1f')}",
                  f"never fired {per_layer([100 * s for s in m[f'{watched}_silent_fraction']], '3.0f', '%')}"]
    parts.append(f"{m['epoch_s']:.1f} s (fwd {m['forward_s']:.1f} s, bwd {m['backward_s']:.1f} s)")
    return " | ".join(parts)


def init_weights(sizes: Sequence[int], rng: np.random.Generator, *, input_spikes: float, neuron_psp_peak: float,
                 threshold: float = 1.0, drive: Sequence[float] = (), spread: float = 1.0) -> list[np.ndarray]:
    """Gaussian weights scaled so that every layer starts active.

    For layer k the mean weight is chosen so that ``drive[k]`` * threshold would be reached if the expected
    presynaptic spikes arrived together: mean = drive * threshold / (n_pre_spikes * psp_peak); the standard
    deviation is ``spread`` times the mean. ``input_spikes`` is the expected number of input spikes per
    sample; deeper layers assume one spike per presynaptic neuron.
    """
    weights = []
    pre_spikes = float(input_spikes)
    for k in range(len(sizes) - 1):
        gain = drive[k] if k < len(drive) else 1.5
        mean = gain * threshold / (max(pre_spikes, 1.0) * neuron_psp_peak)
        weights.append(rng.normal(mean, spread * mean, (sizes[k], sizes[k + 1])))
        pre_spikes = float(sizes[k + 1])
    return weights


def _settings_as_stored(config: TrainConfig) -> dict:
    """``run_settings`` as a checkpoint reads back (JSON round trip: tuples become lists)."""
    return json.loads(json.dumps(run_settings(config)))


def run_settings(config: TrainConfig) -> dict:
    """Every setting that shapes a run's result (all fields but ``progress`` and ``n_threads``, which change
    neither weights nor metrics): what checkpoints and the command line's ``run.json`` record."""
    settings = _plain_fields(config)
    for name in ("progress", "n_threads"):
        settings.pop(name)
    return settings
