import json
from pathlib import Path

import pytest
from helpers import PACKAGE
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import config, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "src" / PACKAGE / "configs"


def test_the_default_config_composes_typed_with_the_projects_data_and_model(make_config):
    cfg = make_config("~experiment")
    assert isinstance(cfg.train.epochs, int) and cfg.run_dir.endswith("run")
    assert cfg.data.name == "{{ 'digits' if cookiecutter.model_type == 'cnn' else 'digit_sentences' }}"
    assert cfg.model.name == "{{ 'lenet5' if cookiecutter.model_type == 'cnn' else 'lstm' }}"


# Every option of every config group but hparams_search (a sweeper's).
OPTIONS = [f"{path.parent.name}={path.stem}" for path in sorted(CONFIGS.glob("*/*.yaml"))]


@pytest.mark.parametrize("option", [o for o in OPTIONS if not o.startswith("hparams_search=")])
def test_the_yaml_gives_every_value(make_config, option, tmp_path):
    # The schema has no values of its own: a key that no YAML file sets would be missing. The
    # worked experiments (a user's own data, as a file to copy) take data.path.
    keep = [] if option.startswith("experiment=") else ["~experiment"]
    cfg = make_config(*keep, option, f"data.path={tmp_path}")
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


REFUSED = [
    ("train.epochs=many", "Value 'many' of type 'str' could not be converted to Integer"),
    ("train.epoch=3", "Key 'epoch' not in 'TrainConfig'"),
    ("train.optimizer=adamz", "expected one of [adam, adamw, sgd]"),
    ("train.lr_schedule=linear", "expected one of [constant, cosine]"),
    ("train.monitor=accuracy", "expected one of [val_accuracy, val_loss]"),
    ("data.cache=disk", "expected one of [memory, none]"),
{%- if cookiecutter.cluster %}
    ("distribute.name=parameter_server", "one of [auto, one_device, mirrored, multi_worker]"),
    ("distribute.communication=mpi", "expected one of [auto, ring, nccl]"),
{%- else %}
    ("distribute.name=parameter_server", "expected one of [auto, one_device, mirrored]"),
{%- endif %}
{%- if cookiecutter.tracking == "mlflow" %}
    ("logger.name=wandb", "expected one of [tensorboard, mlflow]"),
{%- endif %}
]


@pytest.mark.parametrize("override, message", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_wrong_type_unknown_key_or_bad_choice_fails_to_compose(make_config, override, message):
    with pytest.raises(ConfigCompositionException) as error:
        make_config(override)
    assert message in str(error.value.__cause__)


# A model's options are its builder's keyword arguments (model._target_); train checks them
# before any work (model.check_options).
MODEL_OPTIONS = [
    ("+model.colour=red", "takes no model.colour.*configs/model/"),
    ("~model.dropout_rate", "needs model.dropout_rate"),
    ("model._target_=math.no_such_net", "model._target_=math.no_such_net"),
]


@pytest.mark.parametrize("override, message", MODEL_OPTIONS, ids=[o for o, _ in MODEL_OPTIONS])
def test_a_model_option_the_builder_lacks_or_needs_is_refused(make_config, override, message):
    cfg = make_config(override)
    with pytest.raises(ValueError, match=message):
        model_lib.check_options(cfg.model)
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not Path(cfg.run_dir).exists()  # refused before any work


{%- if cookiecutter.model_type == "cnn" %}


@pytest.mark.parametrize(
    "overrides, size",
    [
        ([], [32, 32]),
        (["model=resnet"], [32, 32]),
        (["model=pretrained"], [224, 224]),  # the backbone's
        (["model=pretrained", "data.image_size=[96,96]"], [96, 96]),  # unless set
    ],
)
def test_image_size_follows_the_net_unless_set(make_config, tmp_path, overrides, size):
    cfg = make_config("~experiment", *overrides)
    assert list(cfg.data.image_size) == size
    runs.save_config(cfg, tmp_path)  # a run keeps the value, resolved
    assert list(runs.load_config(tmp_path).data.image_size) == size
{%- endif %}


@pytest.mark.parametrize("command", ["eval", "export"])
def test_eval_and_export_yaml_give_every_value_and_refuse_a_bad_checkpoint(command):
    config.register_configs()
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        OmegaConf.to_container(compose(config_name=command), throw_on_missing=True)
        with pytest.raises(ConfigCompositionException) as error:
            compose(config_name=command, overrides=["checkpoint=worst"])
    assert "expected one of [latest, best]" in str(error.value.__cause__)


def test_choices_compare_and_save_as_plain_strings(make_config, tmp_path):
    cfg = make_config("train.optimizer=sgd", "data.cache=none")
    assert cfg.train.optimizer == "sgd" and f"{cfg.data.cache}" == str(cfg.data.cache) == "none"
    assert "optimizer: sgd" in OmegaConf.to_yaml(cfg)
    saved = json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True)))
    assert saved["train"]["optimizer"] == "sgd" and saved["data"]["cache"] == "none"
    runs.save_config(cfg, tmp_path)
    assert "optimizer: sgd" in (tmp_path / "config.yaml").read_text()
    # A resume compares the saved config with the new one: a changed choice is a difference.
    assert runs.config_differences(runs.load_config(tmp_path), cfg) == []
    changed = make_config("train.optimizer=adam", "data.cache=none")
    differences = runs.config_differences(runs.load_config(tmp_path), changed)
    assert differences == [("train.optimizer", "sgd", "adam")]
{%- if cookiecutter.tflite %}


def test_export_defaults_are_export_yaml_values():
    assert config.export_defaults() == OmegaConf.load(CONFIGS / "export.yaml").export
{%- endif %}
