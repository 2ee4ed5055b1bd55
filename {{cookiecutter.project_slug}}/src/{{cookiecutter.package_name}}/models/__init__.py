"""The nets of this project, found by file name: ``model=<name>`` picks one.

A net is one file, ``models/<name>net.py``, with a function ``build_<name>(...)`` that returns
a functional keras.Model whose last layer, named "logits", gives unnormalised scores, plus
one YAML file, ``configs/model/<name>.yaml``, that holds the values of its options. Nothing
else registers it: this module finds the builder, and the builder's signature is the schema
of its options.

A builder takes keyword-only arguments without defaults, of two kinds:

- the data's, named like those of `Metadata.model_arguments` (e.g. num_classes), which
  model.build_model passes from the data's metadata;
- its options, one for each key of its YAML file but `name`. Their annotations type them
  (int, float, bool, str, `str | None`, Literal[...] for a choice): a missing or unknown key,
  or a value of the wrong type or out of a Literal's choices, is refused before training
  starts, with what was wrong.

A keyword argument with a default (e.g. `unroll=False`) is not an option: export sets it
for the TFLite file, where the builder has it. A module may also give DATA_DEFAULTS, the
values of data options that the data config leaves to the net (`${net_default:...}` in
configs/config.yaml), and INITIAL_WEIGHTS, the options that name the starting weights of a
fresh model (a file), which a model rebuilt for its checkpoint does without.
"""

import dataclasses
import enum
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

# The builder arguments whose values come from the data (Metadata.model_arguments), not from
# configs/model/: a net takes those of them it needs.
{%- if cookiecutter.model_type == "cnn" %}
DATA_ARGUMENTS = ("num_classes", "input_shape", "mean", "std")
{%- else %}
DATA_ARGUMENTS = ("num_classes", "sequence_length", "vocab_size", "vocabulary_file")
{%- endif %}


@dataclass(frozen=True)
class FineTune:
    """Training in two phases, which a builder may give its model as `model.fine_tune`.

    The first `freeze_epochs` epochs train what `set_trainable(model, 0)` leaves trainable
    (e.g. a new classifier on a frozen pretrained backbone) at train.learning_rate; the rest
    train what `set_trainable(model, blocks)` does at `learning_rate`. The training loop
    builds the optimizer for the second phase's weights (a superset of the first's), sets
    the phase of the epoch it starts or resumes at, and retraces its step when the phase
    changes.
    """

    freeze_epochs: int
    blocks: int
    learning_rate: float
    set_trainable: Callable[[keras.Model, int], None]

    def phase(self, epoch: int) -> int:
        """0 while the epoch (counted from 0) is a frozen one, else 1."""
        return int(epoch >= self.freeze_epochs)

    def set_phase(self, model: keras.Model, epoch: int) -> None:
        self.set_trainable(model, self.blocks if self.phase(epoch) else 0)


@dataclass(frozen=True)
class Net:
    """A builder and the typed schema of its options."""

    name: str
    build: Callable[..., keras.Model]
    options: type  # a dataclass, one field per option
    data_defaults: dict  # data options the data config may leave to the net (DATA_DEFAULTS)
    # Options that only name a fresh model's starting weights (INITIAL_WEIGHTS, e.g. a file):
    # a model rebuilt to restore a checkpoint into gets None, read or downloaded nothing.
    initial_weights: tuple[str, ...]

    def parameters(self) -> set[str]:
        return set(inspect.signature(self.build).parameters)

    def typed_options(self, model_cfg: Mapping) -> dict[str, Any]:
        """model_cfg (model.* of the config) checked against the builder's options.

        Raises:
            ValueError: naming the missing, unknown or ill-typed keys and the allowed values.
        """
        given = {key: value for key, value in dict(model_cfg).items() if key != "name"}
        schema = OmegaConf.structured(self.options)
        unknown = sorted(set(given) - set(schema))
        missing = sorted(set(schema) - set(given))
        if unknown or missing:
            raise ValueError(
                f"model={self.name} takes the options {', '.join(schema) or 'none'}"
                + (f"; {', '.join(unknown)} is not one of them" if unknown else "")
                + (f"; {', '.join(missing)} has no value" if missing else "")
                + f". Its options and their values are in configs/model/{self.name}.yaml."
            )
        try:
            typed = OmegaConf.merge(schema, OmegaConf.create(given))
        except OmegaConfBaseException as error:
            key = f"model.{error.full_key}: " if error.full_key else ""
            raise ValueError(f"model={self.name}: {key}{error.msg}") from None
        return OmegaConf.to_container(typed, enum_to_str=True)  # a choice as its plain str


def options_schema(name: str, build: Callable[..., keras.Model]) -> type:
    """A dataclass with a field per option of `build`, typed by its annotation."""
    data = set(DATA_ARGUMENTS)
    hints = typing.get_type_hints(build)
    fields = [
        (parameter.name, config_type(f"{name}_{parameter.name}", hints[parameter.name]), MISSING)
        for parameter in inspect.signature(build).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and parameter.default is inspect.Parameter.empty
        and parameter.name not in data
    ]
    return dataclasses.make_dataclass(f"{name.title()}Options", fields)


def config_type(name: str, annotation: Any) -> Any:
    """The annotation as OmegaConf types it: a Literal becomes an Enum of its values."""
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return enum.Enum(name, [(value, value) for value in arguments], type=str)
    if type(None) in arguments and len(arguments) == 2:
        return config_type(name, next(a for a in arguments if a is not type(None))) | None
    return annotation


def find_nets() -> dict[str, Net]:
    """Every models/<name>net.py that defines build_<name>, by name."""
    nets = {}
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.name.endswith("net"):
            continue
        name = module_info.name.removesuffix("net")
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        build = getattr(module, f"build_{name}", None)
        if build is None:
            raise ImportError(
                f"{module.__file__} defines no build_{name}: a models/<name>net.py file is a "
                "net, whose builder is build_<name> (see models/__init__.py)."
            )
        defaults = getattr(module, "DATA_DEFAULTS", {})
        initial_weights = getattr(module, "INITIAL_WEIGHTS", ())
        nets[name] = Net(name, build, options_schema(name, build), defaults, initial_weights)
    return nets


NETS = find_nets()


def get_net(name: str) -> Net:
    """The net that model=`name` picks; refuses a name no file defines."""
    if name not in NETS:
        raise ValueError(
            f"model={name!r} is not a model of this project; choose one of "
            f"{', '.join(sorted(NETS))}, or add models/{name}net.py and "
            f"configs/model/{name}.yaml."
        )
    return NETS[name]
