import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError


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
