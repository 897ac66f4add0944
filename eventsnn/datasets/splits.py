"""Validation splits held out of a training set: fixed rules, written once, never drawn at random.

Hyper-parameters, presets and penalties are chosen on a validation split; the test split is only reported. Yin-Yang
needs no rule here: its validation split is a separate published set (:func:`eventsnn.datasets.load_yinyang`,
``"validation"``). For the other data sets a rule names which training samples are held out:

=====================  =========================================================================================
rule                   held-out samples (indices into the official training split, in file order)
=====================  =========================================================================================
``"last-10000"``       the last 10,000 (MNIST / Fashion-MNIST: images 50,000-59,999, the split of the classic
                       ``mnist.pkl.gz``); training keeps the first 50,000
``"first-5000"``       the first 5,000 (EventProp's ``eventprop/mnist.py``, ``valid_num = 5000``); training keeps
                       the other 55,000
``"last-tenth"``       the last ``n // 10`` (the N-MNIST subset: training ids 901-1000 of 1000); the full N-MNIST
                       training set (60,000, in MNIST's order) holds out its last 10,000 like MNIST
=====================  =========================================================================================

The rules depend on the size of the training split only, so a split is the same in every run, on every machine.
The training files list the digits in no particular order, so a contiguous block has every class: the last 10,000
images hold 915-1,090 of each digit (MNIST) and 955-1,050 of each class (Fashion-MNIST), the first 5,000 MNIST
images 434-563, the last 100 of the N-MNIST subset 6-19.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eventsnn import _validation as check


@dataclass(frozen=True)
class HoldOutRule:
    """One hold-out rule: which samples of a training split of a given size are held out for validation.

    Attributes
    ----------
    held_out : callable
        ``held_out(n)`` -> sorted int64 indices (into a training split of ``n`` samples) of the validation samples.
    needs : int
        Smallest training split the rule applies to (it must leave at least one training sample).
    """

    held_out: Callable[[int], np.ndarray]
    needs: int


def _last(count: int) -> HoldOutRule:
    return HoldOutRule(lambda n: np.arange(n - count, n, dtype=np.int64), needs=count + 1)


def _first(count: int) -> HoldOutRule:
    return HoldOutRule(lambda n: np.arange(count, dtype=np.int64), needs=count + 1)


def _last_tenth(n: int) -> np.ndarray:
    count = 10_000 if n == 60_000 else n // 10
    return np.arange(n - count, n, dtype=np.int64)


#: Rule name -> :class:`HoldOutRule` (module docstring).
HOLD_OUT_RULES: dict[str, HoldOutRule] = {
    "last-10000": _last(10_000),
    "first-5000": _first(5_000),
    "last-tenth": HoldOutRule(_last_tenth, needs=10),
}


def hold_out(rule: str, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices of a training split of ``n_samples`` samples under ``rule``.

    Parameters
    ----------
    rule : {"last-10000", "first-5000", "last-tenth"}
        A hold-out rule (module docstring).
    n_samples : int
        Size of the official training split the rule cuts, > the number of samples the rule holds out.

    Returns
    -------
    train, validation : numpy.ndarray of int64
        Disjoint, sorted indices that together cover ``range(n_samples)``.

    Raises
    ------
    ValueError
        If ``rule`` is unknown or the split is too small to keep training samples.

    Examples
    --------
    >>> train, validation = hold_out("last-10000", 60000)
    >>> train.size, validation.size, int(validation[0])
    (50000, 10000, 50000)
    >>> train, validation = hold_out("last-tenth", 1000)
    >>> validation.size, int(validation[0])
    (100, 900)
    """
    check.one_of("rule", rule, HOLD_OUT_RULES)
    n_samples = check.integer("n_samples", n_samples, minimum=1)
    selected = HOLD_OUT_RULES[rule]
    if n_samples < selected.needs:
        raise ValueError(f"the validation rule {rule!r} needs a training split of at least {selected.needs} "
                         f"samples, got {n_samples}; pass validation=False to train on the whole split")
    validation = selected.held_out(n_samples)
    keep = np.ones(n_samples, dtype=bool)
    keep[validation] = False
    return np.flatnonzero(keep).astype(np.int64), validation
