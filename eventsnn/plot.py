"""Figures of simulated activity: spike rasters, exact membrane traces, spike counts, training curves (one run's
losses and accuracies; several runs' test accuracy with their mean).

Matplotlib is imported lazily inside the functions, so ``import eventsnn`` never pulls in a plotting backend,
and nothing here selects a backend or calls ``plt.show()``: in a headless script call
``matplotlib.use("Agg")`` first. Every function draws into the ``ax`` it is given (or a new figure) and returns
the Axes, so panels compose freely; :func:`save_figure` writes the result atomically. Times are in ms.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np, eventsnn as es
>>> from eventsnn import plot
>>> net = es.Network.feedforward([2, 3, 1], neuron=es.LIF(tau_mem=10.0, tau_syn=5.0),
...                              weights=[np.full((2, 3), 3.0), np.full((3, 1), 2.0)])
>>> rec = es.simulate(net, es.SpikeTrains(times=[1.0, 2.0], neurons=[0, 1], n_neurons=2), t_max=50.0)
>>> ax = plot.raster(rec)
>>> sum(len(c.get_offsets()) for c in ax.collections)   # 2 input + 3 hidden + 1 output spikes
6
>>> ax = plot.membrane_traces(rec, "layer1", [0, 1])
>>> import matplotlib.pyplot as plt; plt.close("all")
"""

from __future__ import annotations

import math
import numbers
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

from eventsnn._atomic import atomic_write
from eventsnn.record import Record
from eventsnn.spikes import SpikeTrains

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from eventsnn.readout import LIReadout
    from eventsnn.runs import RunSummary

__all__ = ["raster", "membrane_traces", "spike_count_histogram", "training_curves", "accuracy_curves", "save_figure"]

Color = Union[str, tuple]
SEPARATOR_COLOR = "0.6"
THRESHOLD_COLOR = "0.25"


# --------------------------------------------------------------------------------------------------
# helpers
def _new_axes(ax: "Axes | None") -> "Axes":
    if ax is not None:
        from matplotlib.axes import Axes
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        return ax
    import matplotlib.pyplot as plt
    _, ax = plt.subplots()
    return ax


def _check_record(record: object, name: str = "record") -> Record:
    if not isinstance(record, Record):
        raise TypeError(f"{name} must be an eventsnn.Record (what eventsnn.simulate returns), "
                        f"got {type(record).__name__}")
    return record


def _all_populations(record: Record) -> list[str]:
    """Inputs first (in the record's order), then the neuron populations."""
    return list(record.inputs) + list(record.layer_names)


def _default_colors(record: Record) -> dict[str, str]:
    """One matplotlib cycle colour per population, stable across the functions of this module."""
    return {name: f"C{k % 10}" for k, name in enumerate(_all_populations(record))}


def _layer_name(record: Record, layer: object) -> str:
    """Resolve a layer given by name or (possibly negative) index into ``record.layer_names``."""
    names = list(record.layer_names)
    if isinstance(layer, (bool, np.bool_)):
        raise TypeError(f"layer must be a population name or an index, got {layer!r}")
    if isinstance(layer, (int, np.integer)):
        if not -len(names) <= layer < len(names):
            raise ValueError(f"layer index {int(layer)} out of range for the {len(names)} neuron populations "
                             f"{names}")
        return names[int(layer)]
    if isinstance(layer, str):
        if layer not in names:
            hint = " (an input population has no membrane potential)" if layer in record.inputs else ""
            raise ValueError(f"unknown layer {layer!r}{hint}; valid layer names are {names}")
        return layer
    raise TypeError(f"layer must be a population name (str) or an index (int), got {type(layer).__name__}")


def _neuron_list(neurons: object, size: int, layer: str) -> list[int]:
    items = [neurons] if isinstance(neurons, (int, np.integer)) else neurons
    if isinstance(items, (str, bytes)) or not isinstance(items, (Sequence, np.ndarray)):
        raise TypeError(f"neurons must be an int or a sequence of ints, got {type(neurons).__name__}")
    result = []
    for n in items:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"neuron indices must be ints, got {n!r}")
        if not 0 <= n < size:
            raise ValueError(f"neuron index {int(n)} out of range: layer {layer!r} has {size} neurons "
                             f"(valid indices 0..{size - 1})")
        result.append(int(n))
    if not result:
        raise ValueError("neurons must name at least one neuron")
    return result


def _set_time_xlabel(ax: "Axes") -> None:
    """Label the x axis "time (ms)", except on an inner panel of a column sharing x (like ``label_outer``)."""
    spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
    shared = len(ax.get_shared_x_axes().get_siblings(ax)) > 1
    ax.set_xlabel("" if spec is not None and shared and not spec.is_last_row() else "time (ms)")


def _is_number(value: object) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(float(value)))


# --------------------------------------------------------------------------------------------------
# raster
def raster(record: Record, ax: "Axes | None" = None, populations: Sequence[str] | None = None,
           colors: Mapping[str, Color] | Sequence[Color] | None = None, include_inputs: bool = True,
           marker_size: float | None = None, equal_bands: bool = False, min_band: float = 0.15) -> "Axes":
    """Spike raster of a simulated sample, populations stacked vertically.

    Each spike is a short vertical tick at (time, row); the rows of the first population drawn are at the
    bottom (inputs first by default, then every neuron population in ``record.layer_names`` order, so the
    output is on top). Each population has one colour; its name labels the y axis at the middle of its block
    (in the same colour) and thin horizontal lines separate the blocks. A block's height is proportional to the
    population's size, but at least ``min_band`` of the axes, so that 3 output or 5 input neurons next to
    hundreds of hidden ones stay readable (``equal_bands``: every block the same height).

    Parameters
    ----------
    record : Record
        What :func:`eventsnn.simulate` returned for one sample.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    populations : sequence of str, optional
        Names (inputs or neuron populations) to draw, bottom to top. Default: the inputs (if
        ``include_inputs``) then all neuron populations.
    colors : dict of str to colour, or sequence of colours, optional
        Colour per population (a dict may name only some of them), or one per drawn population in drawing
        order. Default: matplotlib's colour cycle, one colour per population of the network.
    include_inputs : bool
        Draw the input populations (only used when ``populations`` is None). Default True.
    marker_size : float, optional
        Height of a spike tick in points. Default: fit each population's row height (2.5 to 8 points).
    equal_bands : bool
        Give every population a block of the same height. Default False.
    min_band : float
        Smallest block height as a fraction of the axes, in [0, 1) (0: heights exactly proportional to the
        population sizes). Default 0.15; with more populations than ``1 / min_band``, blocks are equal.

    Returns
    -------
    matplotlib Axes
        One scatter collection per population (``ax.collections``), holding exactly the spikes in the
        simulated window [0, ``record.t_max``] ms (input spikes after ``t_max`` were ignored by the
        simulation and are not drawn). The x axis spans [0, t_max] ms.
    """
    record = _check_record(record)
    valid = _all_populations(record)
    if populations is None:
        names = (list(record.inputs) if include_inputs else []) + list(record.layer_names)
    else:
        if isinstance(populations, str) or not isinstance(populations, Sequence):
            raise TypeError(f"populations must be a sequence of population names, got {populations!r}")
        names = list(populations)
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ValueError(f"unknown population(s) {unknown}; valid population names are {valid}")
        if len(set(names)) != len(names):
            raise ValueError(f"populations lists a name twice: {names}")
        if not names:
            raise ValueError(f"populations is empty; valid population names are {valid}")
    palette = _default_colors(record)
    if colors is None:
        pass
    elif isinstance(colors, Mapping):
        unknown = [n for n in colors if n not in valid]
        if unknown:
            raise ValueError(f"colors names unknown population(s) {unknown}; valid population names are {valid}")
        palette.update(colors)
    elif isinstance(colors, Sequence) and not isinstance(colors, str):
        if len(colors) != len(names):
            raise ValueError(f"colors must hold one colour per drawn population ({len(names)}: {names}), "
                             f"got {len(colors)}")
        palette.update(zip(names, colors))
    else:
        raise TypeError(f"colors must be a dict name -> colour or a sequence of colours, got {colors!r}")
    if marker_size is not None:
        marker_size = float(marker_size)
        if not (math.isfinite(marker_size) and marker_size > 0.0):
            raise ValueError(f"marker_size must be a finite number > 0 (points), got {marker_size!r}")
    if not isinstance(equal_bands, (bool, np.bool_)):
        raise TypeError(f"equal_bands must be True or False, got {equal_bands!r}")
    min_band = float(min_band)
    if not 0.0 <= min_band < 1.0:
        raise ValueError(f"min_band must be a fraction of the axes height in [0, 1), got {min_band!r}")

    ax = _new_axes(ax)
    sizes = [record.population(n).n_neurons for n in names]
    n_rows = sum(sizes)
    # the y axis keeps one unit per neuron overall ([-0.5, n_rows - 0.5]); each population's block is a share of it
    fractions = _band_fractions(sizes, min_band=min_band, equal=bool(equal_bands))
    fig = ax.get_figure()
    height_points = ax.get_position().height * fig.get_figheight() * 72.0
    bottom = -0.5
    centres, separators = [], []
    for name, size, fraction in zip(names, sizes, fractions):
        band = fraction * n_rows
        row = band / max(size, 1)  # height of one neuron's row in y units
        size_points = marker_size if marker_size is not None else \
            float(np.clip(1.2 * height_points * row / max(n_rows, 1), 2.5, 8.0))
        spikes = record.population(name)
        keep = spikes.times <= record.t_max
        ax.scatter(spikes.times[keep], bottom + (spikes.neurons[keep] + 0.5) * row, s=size_points ** 2, marker="|",
                   color=palette[name], linewidths=max(0.6, min(1.5, size_points / 4.0)), label=name)
        centres.append(bottom + band / 2.0)
        bottom += band
        separators.append(bottom)
    for y in separators[:-1]:
        ax.axhline(y, color=SEPARATOR_COLOR, linewidth=0.8, zorder=0)
    ax.set_xlim(0.0, record.t_max)
    ax.set_ylim(-0.5, n_rows - 0.5)
    ax.set_yticks(centres)
    ax.set_yticklabels(names)
    for label, name in zip(ax.get_yticklabels(), names):
        label.set_color(palette[name])
    ax.tick_params(axis="y", length=0)
    _set_time_xlabel(ax)
    ax.set_ylabel("neuron (by population)")
    return ax


def _band_fractions(sizes: Sequence[int], *, min_band: float = 0.15, equal: bool = False) -> list[float]:
    """Share of a raster's height given to each population: proportional to its size, but at least ``min_band``
    (the larger populations give up height in proportion to their sizes); equal shares with ``equal`` or when
    ``min_band`` times the number of populations reaches 1.

    Examples
    --------
    >>> [round(f, 3) for f in _band_fractions([5, 200, 3])]
    [0.15, 0.7, 0.15]
    >>> _band_fractions([5, 200, 3], min_band=0.0) == [5 / 208, 200 / 208, 3 / 208]
    True
    >>> _band_fractions([5, 200, 3], equal=True)
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    weights = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    n = len(weights)
    if n == 0:
        return []
    if equal or min_band * n >= 1.0:
        return [1.0 / n] * n
    fractions = weights / weights.sum()
    raised = np.zeros(n, dtype=bool)
    # raising a small population shrinks the others, which may push another one below the minimum: repeat (at most
    # n times; some population always stays above the minimum since min_band * n < 1)
    while np.any(small := (fractions < min_band) & ~raised):
        raised |= small
        free = ~raised
        fractions[raised] = min_band
        fractions[free] = weights[free] / weights[free].sum() * (1.0 - min_band * raised.sum())
    return [float(f) for f in fractions]


# --------------------------------------------------------------------------------------------------
# membrane potential
def membrane_traces(record: Record, layer: str | int, neurons: int | Sequence[int], ax: "Axes | None" = None,
                    n_points: int = 2000, show_threshold: bool = True) -> "Axes":
    """Exact membrane potential V(t) of some neurons of one layer over the simulated window.

    V is evaluated analytically (:meth:`~eventsnn.record.Record.membrane_potential`) on a uniform grid of
    ``n_points`` times
    in [0, t_max] ms, plus every synaptic arrival time (where dV/dt has a kink) and, for each of the neuron's
    spikes, the time just before it (the largest float below the spike time, where V equals the threshold to
    rounding) and the spike time itself (where V is the reset value). The trace therefore visibly touches
    the threshold and drops at every spike, whatever the grid spacing.

    Parameters
    ----------
    record : Record
        What :func:`eventsnn.simulate` returned for one sample.
    layer : str or int
        Neuron population, by name or index into ``record.layer_names`` (``-1`` is the output).
    neurons : int or sequence of int
        Neuron indices within the layer.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    n_points : int
        Number of uniform grid times (>= 2). Default 2000.
    show_threshold : bool
        Draw the firing threshold as a dashed horizontal line. Default True.

    Returns
    -------
    matplotlib Axes
        One line per neuron (``gid`` ``"membrane:<layer>:<neuron>"``, legend label ``"neuron <k>"``), its
        spikes marked by dots at threshold level (``gid`` ``"spikes:<layer>:<neuron>"``), and the threshold
        line (label ``"threshold"``). The x axis is time (ms) over [0, t_max]; the y range leaves room above
        the threshold for the legend.
    """
    record = _check_record(record)
    name = _layer_name(record, layer)
    population = record.network.populations[name]
    neurons = _neuron_list(neurons, population.size, name)
    if isinstance(n_points, (bool, np.bool_)) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an int >= 2, got {n_points!r}")
    threshold = float(population.neuron.threshold)

    ax = _new_axes(ax)
    t_max = float(record.t_max)
    grid = np.linspace(0.0, t_max, int(n_points))
    own = record.population(name)
    v_low, v_high = 0.0, threshold
    for k, neuron in enumerate(neurons):
        color = f"C{k % 10}"
        spike_times = own.times[own.neurons == neuron]
        arrival_times, _ = record.arrivals(name, neuron)
        arrival_times = arrival_times[arrival_times <= t_max]
        just_before = np.maximum(np.nextafter(spike_times, -np.inf), 0.0)
        times = np.unique(np.concatenate([grid, arrival_times, just_before, spike_times]))
        v = record.membrane_potential(name, neuron, times)
        v_low, v_high = min(v_low, float(v.min())), max(v_high, float(v.max()))
        line, = ax.plot(times, v, color=color, linewidth=1.1, label=f"neuron {neuron}")
        line.set_gid(f"membrane:{name}:{neuron}")
        marks, = ax.plot(spike_times, np.full(spike_times.shape, threshold), linestyle="none", marker="o",
                         markersize=3.5, color=color, label="_nolegend_", zorder=3)
        marks.set_gid(f"spikes:{name}:{neuron}")
    if show_threshold:
        line = ax.axhline(threshold, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.0, label="threshold")
        line.set_gid(f"threshold:{name}")
    ax.set_xlim(0.0, t_max)
    span = v_high - v_low
    ax.set_ylim(v_low - 0.05 * span, v_high + 0.3 * span)   # headroom above threshold for the legend
    _set_time_xlabel(ax)
    ax.set_ylabel(f"membrane potential V ({name})")
    ax.legend(loc="upper center", fontsize="small", ncol=min(len(neurons) + show_threshold, 6), framealpha=0.9)
    return ax


def readout_potentials(readout: "LIReadout", spikes: SpikeTrains, t_max: float, ax: "Axes | None" = None,
                       n_points: int = 1000, label: int | None = None) -> "Axes":
    """Exact potentials of a leaky-integrator read-out (:class:`eventsnn.readout.LIReadout`) over [0, t_max] ms,
    each with its maximum marked; the winning class is drawn thick.

    Parameters
    ----------
    readout : LIReadout
    spikes : SpikeTrains
        The spikes driving the read-out for one sample (e.g. ``record.layers[-1]``).
    t_max : float
        Window (ms), > 0.
    ax : matplotlib Axes, optional
    n_points : int
        Uniform grid times (>= 2); the driving spike times and each maximum's time are added to the grid.
    label : int, optional
        Correct class, drawn solid (others dashed) if given.

    Returns
    -------
    matplotlib Axes
        One line per class (``gid`` ``"readout:<c>"``) and one marker per maximum (``gid`` ``"readout-max:<c>"``).
    """
    from eventsnn.readout import LIReadout
    if not isinstance(readout, LIReadout):
        raise TypeError(f"readout must be an eventsnn.readout.LIReadout, got {type(readout).__name__}")
    if isinstance(n_points, (bool, np.bool_)) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an int >= 2, got {n_points!r}")
    maxima = readout.maxima(spikes, t_max)
    times = np.unique(np.concatenate([np.linspace(0.0, float(t_max), int(n_points)),
                                      spikes.times[spikes.times <= t_max], maxima.times]))
    v = readout.potentials(spikes, times)
    winner = int(np.argmax(maxima.values))
    ax = _new_axes(ax)
    for c in range(readout.n_classes):
        color = f"C{c % 10}"
        style = "-" if label is None or c == label else "--"
        line, = ax.plot(times, v[:, c], color=color, linestyle=style, linewidth=2.2 if c == winner else 1.0,
                        label=f"class {c}" + (" (max)" if c == winner else ""))
        line.set_gid(f"readout:{c}")
        mark, = ax.plot([maxima.times[c]], [maxima.values[c]], marker="o", markersize=4, color=color,
                        linestyle="none", label="_nolegend_")
        mark.set_gid(f"readout-max:{c}")
    ax.set_xlim(0.0, float(t_max))
    _set_time_xlabel(ax)
    ax.set_ylabel("read-out potential")
    ax.legend(loc="best", fontsize="x-small", ncol=min(readout.n_classes, 5), framealpha=0.9)
    return ax


# --------------------------------------------------------------------------------------------------
# spike counts
def spike_count_histogram(record_or_records: Record | Sequence[Record], ax: "Axes | None" = None,
                          layers: Sequence[str | int] | None = None) -> "Axes":
    """Histogram of the number of spikes per neuron in the simulated window, one outline per layer.

    Parameters
    ----------
    record_or_records : Record or sequence of Record
        One sample, or several samples of the same network (their per-neuron counts are pooled: each
        neuron of each sample is one entry). Counts are over the window [0, t_max] ms; divide by t_max / 1000
        for rates in Hz.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    layers : sequence of str or int, optional
        Neuron populations to show (names or indices). Default all.

    Returns
    -------
    matplotlib Axes
        One step outline per layer (legend: layer name and mean count). Bins are integers (or equal groups of
        integers when counts exceed 60).
    """
    if isinstance(record_or_records, Record):
        records = [record_or_records]
    elif isinstance(record_or_records, Sequence) and not isinstance(record_or_records, str):
        records = [_check_record(r, f"record_or_records[{k}]") for k, r in enumerate(record_or_records)]
        if not records:
            raise ValueError("record_or_records is an empty sequence")
    else:
        raise TypeError("record_or_records must be a Record or a sequence of Records, "
                        f"got {type(record_or_records).__name__}")
    first = records[0]
    for k, r in enumerate(records[1:], start=1):
        if list(r.layer_names) != list(first.layer_names):
            raise ValueError(f"all records must come from the same network: record {k} has layers "
                             f"{r.layer_names}, record 0 has {first.layer_names}")
    names = list(first.layer_names) if layers is None else [_layer_name(first, layer) for layer in layers]
    if not names:
        raise ValueError(f"layers is empty; valid layer names are {first.layer_names}")
    counts = {n: np.concatenate([r.population(n).counts() for r in records]) for n in names}
    top = max(int(c.max()) for c in counts.values())
    width = max(1, math.ceil((top + 1) / 60))
    edges = np.arange(0, top + width + 1, width) - 0.5
    palette = _default_colors(first)

    ax = _new_axes(ax)
    for name in names:
        hist, _ = np.histogram(counts[name], bins=edges)
        ax.stairs(hist, edges, color=palette[name], linewidth=1.5,
                  label=f"{name} (mean {counts[name].mean():.2f})")
    several = len(records) > 1
    ax.set_xlabel("spikes per neuron" + (" per sample" if several else "") + f" in {first.t_max:g} ms")
    ax.set_ylabel("neurons × samples" if several else "neurons")
    ax.set_xlim(edges[0], edges[-1])
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------------
# training
def training_curves(metrics: Sequence[Mapping[str, Any]], ax: "Axes | None" = None) -> "Axes":
    """Loss and accuracy per epoch from a list of metric dicts (e.g. ``Trainer.fit()`` or ``metrics.json``).

    Keys containing ``"loss"`` (``loss``, ``test_loss``, ...) are drawn on ``ax``; keys containing
    ``"accuracy"`` (``train_accuracy``, ``test_accuracy``, ...) on a twin y axis on the right (or on ``ax``
    itself when there is no loss). Epochs where a key is missing, ``None``, non-numeric or not finite are
    skipped. Other keys (timings, per-layer lists) are ignored.

    Parameters
    ----------
    metrics : sequence of dict
        One dict per epoch. The x axis is ``"epoch"`` if every dict has it, else 1, 2, ...
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib Axes
        The loss axes (accuracy curves are on its twin, ``ax.figure.axes``); one legend for all curves.
    """
    if isinstance(metrics, (str, Mapping)) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a list of dicts (one per epoch), got {type(metrics).__name__}")
    if not metrics:
        raise ValueError("metrics is empty: nothing to plot")
    for k, m in enumerate(metrics):
        if not isinstance(m, Mapping):
            raise TypeError(f"metrics[{k}] must be a dict, got {type(m).__name__}")
    if all("epoch" in m and _is_number(m["epoch"]) for m in metrics):
        epochs = np.array([float(m["epoch"]) for m in metrics])
    else:
        epochs = np.arange(1.0, len(metrics) + 1.0)
    keys: list[str] = []
    for m in metrics:
        keys += [key for key in m if key not in keys and isinstance(key, str)]
    loss_keys = [key for key in keys if "loss" in key and any(_is_number(m.get(key)) for m in metrics)]
    accuracy_keys = [key for key in keys if "accuracy" in key and any(_is_number(m.get(key)) for m in metrics)]
    if not loss_keys and not accuracy_keys:
        raise ValueError(f"metrics hold no numeric key containing 'loss' or 'accuracy'; keys found: {keys}")

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [(x, float(m[key])) for x, m in zip(epochs, metrics) if _is_number(m.get(key))]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    ax = _new_axes(ax)
    handles = []
    for k, key in enumerate(loss_keys):
        x, y = series(key)
        handles += ax.plot(x, y, marker="o", markersize=3, color=f"C{k % 10}", label=key)
    if loss_keys:
        ax.set_ylabel("loss")
    if accuracy_keys:
        acc_ax = ax.twinx() if loss_keys else ax
        values = []
        for k, key in enumerate(accuracy_keys, start=len(loss_keys)):
            x, y = series(key)
            values.append(y)
            handles += acc_ax.plot(x, y, marker="s", markersize=3, linestyle="-" if not loss_keys else "--",
                                   color=f"C{k % 10}", label=key)
        acc_ax.set_ylabel("accuracy")
        all_values = np.concatenate(values)
        if all_values.min() >= 0.0 and all_values.max() <= 1.0:
            acc_ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("epoch")
    if epochs.size <= 20:
        ax.set_xticks(epochs)
    ax.legend(handles, [h.get_label() for h in handles], fontsize="small", loc="center right")
    return ax


def accuracy_curves(runs: Sequence["RunSummary"], ax: "Axes | None" = None, labels: Sequence[str] | None = None
                    ) -> "Axes":
    """Test accuracy (%) per epoch of several runs (e.g. seeds) on one axes, with their mean.

    Each run is a thin line; the mean over the runs that reached an epoch is drawn thick where at least two runs
    have that epoch, one mean per group of runs with the same settings (:func:`eventsnn.runs.group_runs`). Use
    :func:`eventsnn.runs.read_run` to load run directories.

    Parameters
    ----------
    runs : sequence of eventsnn.runs.RunSummary
    ax : matplotlib Axes, optional
    labels : sequence of str, optional
        One legend label per run (default: the run directory's name).

    Returns
    -------
    matplotlib Axes
    """
    from eventsnn.runs import RunSummary
    if isinstance(runs, RunSummary) or not isinstance(runs, Sequence) or not runs:
        raise TypeError("runs must be a non-empty list of eventsnn.runs.RunSummary (see eventsnn.runs.read_run)")
    for k, r in enumerate(runs):
        if not isinstance(r, RunSummary):
            raise TypeError(f"runs[{k}] must be an eventsnn.runs.RunSummary, got {type(r).__name__}")
    if labels is None:
        labels = [os.path.basename(os.path.normpath(r.path)) or r.path for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"got {len(labels)} labels for {len(runs)} runs")
    ax = _new_axes(ax)
    from eventsnn.runs import group_runs
    # runs with different settings are never averaged together: one mean per group of like runs (seeds)
    groups = group_runs(runs)
    group_of = {id(r): g for g, group in enumerate(groups) for r in group}
    by_epoch: list[dict[float, list[float]]] = [{} for _ in groups]
    for k, (r, label) in enumerate(zip(runs, labels)):
        rows = [(float(m["epoch"]), 100.0 * float(m["test_accuracy"])) for m in r.history
                if _is_number(m.get("epoch")) and _is_number(m.get("test_accuracy"))]
        if not rows:
            continue
        x, y = np.array(rows).T
        ax.plot(x, y, linewidth=0.8, alpha=0.7, color=f"C{k % 10}", label=label)
        for epoch, accuracy in rows:
            by_epoch[group_of[id(r)]].setdefault(epoch, []).append(accuracy)
    for g, values_by_epoch in enumerate(by_epoch):
        shared = sorted(e for e, values in values_by_epoch.items() if len(values) >= 2)
        if shared:
            ax.plot(shared, [float(np.mean(values_by_epoch[e])) for e in shared], color="black", linewidth=2.0,
                    linestyle=("-", "--", ":", "-.")[g % 4],
                    label="mean of runs" if len(groups) == 1 else f"mean of group {g + 1}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return ax


# --------------------------------------------------------------------------------------------------
# saving
def save_figure(fig: "Figure", path: str | os.PathLike, **savefig_kwargs: Any) -> str:
    """Save a figure atomically: write a temporary file in the target directory, then rename it.

    A reader (or a crash) never sees a half-written file, and an existing file at ``path`` is only replaced
    once the new one is complete. The format follows the extension (``.png``, ``.pdf``, ``.svg``, ...); a
    path without extension gets ``.png``. The file gets the permissions of the file it replaces, or the
    usual ones for a new file (0666 minus the umask).

    Parameters
    ----------
    fig : matplotlib Figure
    path : str or path-like
        Destination; its directory must exist.
    **savefig_kwargs
        Passed to ``Figure.savefig`` (e.g. ``dpi=150``, ``bbox_inches="tight"``); not ``format``.

    Returns
    -------
    str
        The path written.
    """
    from matplotlib.figure import Figure
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if "format" in savefig_kwargs:
        raise TypeError("save_figure takes the format from the file extension; do not pass format=")
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    root, ext = os.path.splitext(path)
    if not ext:
        ext = ".png"
        path += ext
    fmt = ext[1:].lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"unsupported figure format {ext!r}; supported extensions are "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    with atomic_write(path) as handle:
        fig.savefig(handle, format=fmt, **savefig_kwargs)
    return path
