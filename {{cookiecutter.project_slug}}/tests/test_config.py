import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from helpers import PACKAGE
from hydra import compose, initialize_config_dir, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import config, runs
from {{ cookiecutter.package_name }}.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "src" / PACKAGE / "configs"


# Every option of every config group but a sweeper's and this machine's (configs/local/).
NOT_CHOSEN = ("hparams_search", "local")
OPTIONS = [f"{path.parent.name}={path.stem}" for path in sorted(CONFIGS.glob("*/*.yaml"))]


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.split("=")[0] not in NOT_CHOSEN])
def test_the_yaml_gives_every_value(make_config, option, tmp_path):
    # The schema has no values of its own: a key that no YAML file sets would be missing. The
    # worked experiments (a user's own data, as a file to copy) take data.path.
    keep = [] if option.startswith("experiment=") else ["~experiment"]
    cfg = make_config(*keep, option, f"data.path={CONFIGS}")  # a folder that exists
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    config.check_config(cfg)  # and each value is one that train takes


# Composing refuses a wrong type, key or choice; train, before any work, a model option the
# builder lacks or needs (model.check_options) and a value out of config.RULES. {tmp}: tmp_path.
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
{%- if cookiecutter.tracking in ("mlflow", "all") %}
    ("logger=mlflow logger.mlflow.tracking_url=x", "Key 'tracking_url' not in 'MLflowConfig'"),
{%- endif %}
{%- if cookiecutter.tracking in ("wandb", "all") %}
    ("logger=wandb logger.wandb.mode=sometimes", "expected one of [online, offline, disabled]"),
{%- endif %}
    ("+model.colour=red", "takes no model.colour. Its options are that function's keyword"),
    ("~model.dropout_rate", "needs model.dropout_rate"),
    ("model._target_=math.no_such_net", "model._target_=math.no_such_net"),
    ("model.dropout_rate=1.5", "model.dropout_rate=1.5 must be in [0, 1)."),
    ("train.learning_rate=nan", "train.learning_rate=nan must be > 0 and finite."),
    ("train.batch_size=0", "train.batch_size=0 must be at least 1."),
    ("train.checkpoint_every_steps=-1", "checkpoint_every_steps=-1 must be 0 (off) or a multiple"),
    ("train.steps_per_loop=4", "Set train.log_every_steps=4 or train.steps_per_loop=2."),
    ("train.jit_compile=true", "Set train.deterministic=false to compile with XLA."),
{%- if cookiecutter.model_type == "cnn" %}
    ("data.image_size=[0,0]", "data.image_size=[0, 0] must be [height, width], each at least 1."),
    ("data.channels=2", "data.channels=2 must be 1 (gray), 3 (colour) or null"),
{%- else %}
    ("data.sequence_length=0", "data.sequence_length=0 must be at least 1."),
{%- endif %}
    ("data.records_dir={tmp}/file", "data.records_dir={tmp}/file must be a folder (made if"),
    ("data.records_dir=s3://b/r", "data.records_dir=s3://b/r: this TensorFlow has no file system"),
    ("data.test_path={tmp}/none", "data.test_path={tmp}/none must be a file or folder that"),
    ("data.test_path={tmp}", "run_dir={tmp}/run is inside data.test_path={tmp}: the next"),
]


@pytest.mark.parametrize("override, message", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_bad_value_is_refused_before_any_work(make_config, tmp_path, override, message):
    (tmp_path / "file").touch()
    with pytest.raises((ConfigCompositionException, ValueError)) as error:
        train(make_config(*override.format(tmp=tmp_path).split()))
    assert message.format(tmp=tmp_path) in str(error.value.__cause__ or error.value)
    assert error.value.__cause__ or "\n" not in str(error.value)  # train's own: one line
    assert sorted(tmp_path.iterdir()) == [tmp_path / "file"]


def test_a_gs_path_without_its_file_system_names_the_extra(make_config, monkeypatch):
    # As where TensorFlow has no GCS file system of its own and the gcs extra is not installed.
    monkeypatch.setattr(tf.io.gfile, "get_registered_schemes", lambda: ["file", ""])
    monkeypatch.setitem(sys.modules, "tensorflow_io_gcs_filesystem", None)  # fails to import
    fix = r"no file system for gs:// paths. Install the gcs extra: pip install -e '.\[gcs\]'"
    with pytest.raises(ValueError, match=f"^data.path=gs://b/x: this TensorFlow has {fix}"):
        train(make_config("data.path=gs://b/x"))


def test_a_batch_larger_than_the_training_split_is_refused(make_config):
    cfg = make_config("train.batch_size=100000")  # the smoke data: 192 training examples
    expected = "train.batch_size=100000 on 1 replica.* than the 192 training examples"
    with pytest.raises(ValueError, match=f"{expected}. Set train.batch_size=192 or less."):
        train(cfg)
    assert not Path(cfg.run_dir).exists()  # only the records were made: they give the count


{%- if cookiecutter.model_type == "cnn" %}


SIZES = [([], 32), (["model=resnet"], 32), (["model=pretrained"], 224)]  # 224: the backbone's
SIZES += [(["model=pretrained", "data.image_size=[96,96]"], 96)]  # unless set


@pytest.mark.parametrize("overrides, size", SIZES)
def test_image_size_follows_the_net_unless_set(make_config, tmp_path, overrides, size):
    runs.save_config(make_config("~experiment", *overrides), tmp_path)  # the value, resolved
    assert list(runs.load_config(tmp_path).data.image_size) == [size, size]
{%- endif %}


@pytest.mark.parametrize("command", ["eval", "export"])
def test_eval_and_export_yaml_give_every_value_and_refuse_a_bad_checkpoint(command):
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        OmegaConf.to_container(compose(config_name=command), throw_on_missing=True)
        with pytest.raises(ConfigCompositionException) as error:
            compose(config_name=command, overrides=["checkpoint=worst"])
    assert "expected one of [latest, best]" in str(error.value.__cause__)


def test_a_local_config_sets_this_machines_runs_root_for_every_command(tmp_path):
    # configs/local/default.yaml is git-ignored; the command line and a debug preset still win.
    configs = shutil.copytree(CONFIGS, tmp_path / "configs")
    example = (configs / "local" / "example.yaml").read_text()  # copied as its comment says
    local = example.replace("\nruns_root: runs ", "\nruns_root: /mnt/disk/runs ")
    (configs / "local" / "default.yaml").write_text(local)
    with initialize_config_dir(str(configs), version_base="1.3"):
        roots = [compose(name).runs_root for name in ("config", "eval", "export", "predict")]
        assert roots == ["/mnt/disk/runs"] * 4
        assert compose("config", ["runs_root=here"]).runs_root == "here"
        assert compose("config", ["debug=fast"]).runs_root == "runs/debug"
    subprocess.run(["git", "init", "-q", tmp_path / "repo"], check=True)
    shutil.copy(CONFIGS.parents[2] / ".gitignore", tmp_path / "repo")
    path = f"src/{PACKAGE}/configs/local/default.yaml"
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=tmp_path / "repo")
    assert ignored.returncode == 0


def test_the_default_config_is_typed_and_its_choices_save_as_strings(make_config, tmp_path):
    cfg = make_config("~experiment", "train.optimizer=sgd", "data.cache=none")
    assert (cfg.data.name, cfg.model.name) == {{ '("digits", "lenet5")' if cookiecutter.model_type == 'cnn' else '("digit_sentences", "lstm")' }}
    assert cfg.train.optimizer == "sgd" and f"{cfg.data.cache}" == str(cfg.data.cache) == "none"
    saved = json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True)))
    assert saved["train"]["optimizer"] == "sgd" and saved["data"]["cache"] == "none"
    runs.save_config(cfg, tmp_path)
    assert "optimizer: sgd" in (tmp_path / "config.yaml").read_text()
    # A resume compares the saved config with the new one: a changed choice is a difference.
    assert runs.config_differences(runs.load_config(tmp_path), cfg) == []
    changed = make_config("~experiment", "train.optimizer=adam", "data.cache=none")
    differences = runs.config_differences(runs.load_config(tmp_path), changed)
    assert differences == [("train.optimizer", "sgd", "adam")]
{%- if cookiecutter.tflite %}


def test_export_defaults_are_export_yaml_values():
    assert config.export_defaults() == OmegaConf.load(CONFIGS / "export.yaml").export
{%- endif %}
