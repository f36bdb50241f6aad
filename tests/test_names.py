"""The torch-free vocabulary in invertnet.names agrees with the modules that give each word its meaning."""

from dataclasses import fields

from invertnet import names
from invertnet.data.datasets import CROP_STYLES
from invertnet.evaluation.optimize import OptimizeConfig
from invertnet.training.config import TrainConfig
from invertnet.weights.registry import AUTHORS_MODELS


def test_names_match_their_meanings():
    assert names.OPTIMIZE_ITERATIONS == OptimizeConfig().iterations
    assert names.AUTHORS_NAMES == tuple(AUTHORS_MODELS)
    assert names.CROP_NAMES == tuple(CROP_STYLES)


def test_train_defaults_are_train_config_defaults():
    config = TrainConfig()
    for field in fields(names.TrainDefaults):
        assert getattr(config, field.name) == getattr(names.TRAIN_DEFAULTS, field.name), field.name
