"""Tests for img2tex.training.config.TrainConfig: checked settings and reading a saved run's config."""

from __future__ import annotations

import pytest

from img2tex.errors import ModelError
from img2tex.training.config import TrainConfig


def test_bad_bf16_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="bf16"):
        TrainConfig(bf16="yes")


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_label_smoothing_outside_0_to_1_is_a_model_error(value: float) -> None:
    with pytest.raises(ModelError, match="label smoothing"):
        TrainConfig(label_smoothing=value)


def test_step_budget_is_positive_and_not_with_a_time_budget() -> None:
    with pytest.raises(ModelError, match="not both"):
        TrainConfig(step_budget=100, time_budget=1.0)
    with pytest.raises(ModelError, match="at least 1"):
        TrainConfig(step_budget=0)


def test_no_epoch_count_needs_a_budget() -> None:
    with pytest.raises(ModelError, match="budget"):
        TrainConfig(epochs=None)
    assert TrainConfig(epochs=None, step_budget=10).epochs is None


def test_from_dict_ignores_unknown_keys() -> None:
    cfg = TrainConfig.from_dict({"batch_size": 8, "lr": 0.5, "from_a_newer_version": True})
    assert cfg == TrainConfig(batch_size=8, lr=0.5)
    assert TrainConfig.from_dict({}) == TrainConfig()


def test_augment_is_none_or_pen() -> None:
    assert TrainConfig(augment="pen").augment == "pen"
    with pytest.raises(ModelError, match="augment must be one of none, pen, not 'ink'"):
        TrainConfig(augment="ink")
