from pathlib import Path

import pytest
from conftest import PACKAGE
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from {{ cookiecutter.package_name }}.train import train


def test_default_config_composes_with_typed_values(make_config):
    cfg = make_config()
    assert isinstance(cfg.train.epochs, int)
    assert cfg.data.name == "synthetic"
    assert cfg.run_dir.endswith("run")
    assert cfg.data.records_dir.endswith("records")


def test_default_data_and_model_are_the_projects_defaults(make_config):
    cfg = make_config("~experiment")
    assert cfg.data.name == "{{ 'digits' if cookiecutter.model_type == 'cnn' else 'digit_sentences' }}"
    assert cfg.model.name == "{{ 'lenet5' if cookiecutter.model_type == 'cnn' else 'lstm' }}"


def test_wrong_type_fails_when_composed(make_config):
    with pytest.raises((ValidationError, ConfigCompositionException), match="epochs"):
        make_config("train.epochs=many")


def test_unknown_key_fails_when_composed(make_config):
    with pytest.raises(ConfigCompositionException, match="epoch"):
        make_config("train.epoch=3")


def test_a_new_key_with_plus_is_refused_before_training(make_config):
    with pytest.raises(ValueError, match=r"train\.epoch\b.*not a config key"):
        train(make_config("+train.epoch=5"))


def test_the_worked_experiments_compose_with_a_data_path(make_config, tmp_path):
    experiments = Path(__file__).resolve().parents[1] / "src" / PACKAGE / "configs" / "experiment"
    worked = sorted(path.stem for path in experiments.glob("*.yaml") if path.stem != "smoke")
    assert worked  # a user's own data, as a file to copy
    for name in worked:
        cfg = make_config(f"experiment={name}", f"data.path={tmp_path}")
        assert cfg.data.path == str(tmp_path) and cfg.data.name != "synthetic"
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
