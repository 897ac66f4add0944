"""The constraint table of :class:`~eventsnn.training.TrainConfig`: what each field accepts, in one place.

:data:`FIELD_RULES` maps every field to one small rule; ``TrainConfig.__post_init__`` walks it in field order and
keeps what each rule returns, the field's normalised value (``int``, ``float``, ``bool``, ``str``, a tuple shape, a
read-only options mapping), so that two configs built from equal values compare equal whatever types the values
came in. Then the constraints between fields (:data:`RELATIONS`) are checked. Every message names the field as
``TrainConfig.<name>``, shows the value and says what is accepted.

``tests/test_train_config.py`` checks that the table covers exactly ``dataclasses.fields(TrainConfig)`` (a new field
without a rule fails CI) and gives every field at least one bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Collection, Mapping

from eventsnn import _validation as check
from eventsnn.gradient_methods import METHODS, OPTION_NAMES, make_options
from eventsnn.losses import CLASSIFICATION_LOSSES
from eventsnn.optim import OPTIMIZERS

PREFIX = "TrainConfig."  # how a message names a field: TrainConfig.lr


@dataclass(frozen=True)
class Integer:
    """An int (numpy integers accepted, bools refused) >= ``minimum``; ``None`` too if ``optional``."""

    minimum: int
    optional: bool = False

    @property
    def accepts(self) -> str:
        return f"an int >= {self.minimum}" + (" or None" if self.optional else "")

    def __call__(self, name: str, value: object) -> int | None:
        if value is None and self.optional:
            return None
        return check.integer(name, value, minimum=self.minimum)


@dataclass(frozen=True)
class Real:
    """A finite real number (ints and numpy scalars accepted, bools refused) in a range, returned as float: >= ``low``
    (> ``low`` with ``open_low``) and, with ``below``, < ``below``."""

    low: float = 0.0
    open_low: bool = False
    below: float | None = None

    @property
    def accepts(self) -> str:
        if self.below is not None:
            return f"a finite number in [{self.low:g}, {self.below:g})"
        return f"a finite number {'>' if self.open_low else '>='} {self.low:g}"

    def __call__(self, name: str, value: object) -> float:
        number = check.finite(name, value)  # TypeError for non-numbers and bools, ValueError for NaN and inf
        if number < self.low or (self.open_low and number == self.low) or (
                self.below is not None and not number < self.below):
            raise ValueError(f"{name} must be {self.accepts}, got {value!r}")
        return number


@dataclass(frozen=True)
class Flag:
    """A bool (``numpy.bool_`` accepted; ints refused: ``1`` is no answer to a yes/no setting)."""

    accepts = "a bool"

    def __call__(self, name: str, value: object) -> bool:
        return check.boolean(name, value)


@dataclass(frozen=True)
class Choice:
    """A key of ``registry``. The registry itself is held, not a copy of its keys, so that a name added to it
    later is accepted too."""

    registry: Collection[str]

    @property
    def accepts(self) -> str:
        return "one of " + ", ".join(map(repr, self.registry))

    def __call__(self, name: str, value: object) -> str:
        if not isinstance(value, str):  # a number or None is never a name; say so before comparing
            raise TypeError(f"{name} must be {self.accepts}, got {type(value).__name__} {value!r}")
        return str(check.one_of(name, value, self.registry))


@dataclass(frozen=True)
class Text:
    """Any str."""

    accepts = "a str"

    def __call__(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
        return str(value)


@dataclass(frozen=True)
class ImageShape:
    """``None`` or ``(height, width)`` / ``(planes, height, width)`` of positive ints, returned as a tuple."""

    accepts = "None or (height, width) or (planes, height, width) with positive ints"

    def __call__(self, name: str, value: object) -> tuple[int, ...] | None:
        return None if value is None else check.image_shape(name, value)


@dataclass(frozen=True)
class OptionMapping:
    """A mapping from option names of :data:`eventsnn.gradient_methods.OPTION_NAMES` to values, returned as a
    read-only copy (``types.MappingProxyType`` of a new dict): neither the caller's dict nor the config's mapping
    can change the settings of a config afterwards. Whether the values suit the method is a relation
    (:func:`method_options_suit_method`)."""

    accepts = "a mapping of gradient-method option names to values"

    def __call__(self, name: str, value: object) -> Mapping[str, object]:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise TypeError(f"{name} must be {self.accepts} (e.g. {{'form': 'event'}}), got "
                            f"{type(value).__name__} {value!r}")
        check.known_options(name, dict(value), OPTION_NAMES)
        return MappingProxyType(dict(value))


POSITIVE = Real(open_low=True)
NONNEGATIVE = Real()

# One rule per TrainConfig field, in the order of the fields.
FIELD_RULES: dict[str, Callable[[str, object], object]] = {
    "epochs": Integer(1),
    "batch_size": Integer(1),
    "lr": POSITIVE,
    "optimizer": Choice(OPTIMIZERS),
    "lr_decay": POSITIVE,
    "lr_decay_every": Integer(1),
    "lr_decay_start": Integer(1),
    "t_max": POSITIVE,
    "softmax_tau": POSITIVE,
    "early_weight": NONNEGATIVE,
    "early_tau": POSITIVE,
    "silent_bump": NONNEGATIVE,
    "min_slope": NONNEGATIVE,
    "seed": Integer(0),
    "n_threads": Integer(1, optional=True),
    "progress": Flag(),
    "method": Choice(METHODS),
    "method_options": OptionMapping(),
    "spike_penalty": NONNEGATIVE,
    "grad_clip": NONNEGATIVE,
    "loss": Choice(CLASSIFICATION_LOSSES),
    "latency_beta": POSITIVE,
    "lambda_nospike": NONNEGATIVE,
    "input_jitter": NONNEGATIVE,
    "input_shift": Integer(0),
    "input_dropout": Real(below=1.0),  # a probability that leaves some input
    "input_shape": ImageShape(),
    "train_delays": Flag(),
    "delay_lr_scale": POSITIVE,
    "skip_silent_label": Flag(),
    "validation_split": Text(),
}


def skip_silent_label_needs_first_spike_loss(config) -> None:
    if config.skip_silent_label and config.loss != "first_spike":
        raise ValueError(f"{PREFIX}skip_silent_label applies to loss='first_spike' only, got loss={config.loss!r}")


def input_shift_needs_input_shape(config) -> None:
    if config.input_shift > 0 and config.input_shape is None:
        raise ValueError(f"{PREFIX}input_shift needs input_shape = (height, width) of the input image (the mnist, "
                         f"fashion-mnist and nmnist tasks set it)")


def train_delays_needs_timing_method(config) -> None:
    if config.train_delays and config.method != "timing":
        raise ValueError(f"{PREFIX}train_delays needs method='timing' (the creation/removal methods are implemented "
                         f"for layered networks with scalar delays), got method={config.method!r}")


def method_options_suit_method(config) -> None:
    """The exact adjoint takes no options; the other methods' options are resolved and range-checked by
    :func:`eventsnn.gradient_methods.make_options`, whose message is kept after the field's name."""
    if config.method == "timing":
        if config.method_options:
            raise ValueError(f"{PREFIX}method_options: method='timing' takes no method_options, got "
                             f"{sorted(config.method_options)}")
        return
    try:
        make_options(config.method, dict(config.method_options))
    except (TypeError, ValueError) as error:
        raise type(error)(f"{PREFIX}method_options: {error}") from None


# The constraints between fields, checked once every field is valid on its own.
RELATIONS: tuple[Callable[[object], None], ...] = (
    skip_silent_label_needs_first_spike_loss,
    input_shift_needs_input_shape,
    train_delays_needs_timing_method,
    method_options_suit_method,
)


def checked_fields(config) -> dict[str, object]:
    """The normalised value of every field of ``config``, by :data:`FIELD_RULES`; raises TypeError/ValueError
    naming the first bad field."""
    return {name: rule(PREFIX + name, getattr(config, name)) for name, rule in FIELD_RULES.items()}


def check_relations(config) -> None:
    for relation in RELATIONS:
        relation(config)

