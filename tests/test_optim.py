"""Learning-rate schedules and the optimizer from config."""

from __future__ import annotations

import ml_collections
import pytest

from cosmojax import configlib
from cosmojax.train import optim


def cfg(**kw):
    return ml_collections.ConfigDict({"learning_rate": 1e-3, "warmup_steps": 0, **kw})


def test_warmup_then_cosine_to_the_final_fraction():
    lr = optim.schedule(cfg(schedule="cosine", warmup_steps=10, final_fraction=0.1), 110)
    for step, want in [(0, 0.0), (5, 5e-4), (10, 1e-3), (60, 5.5e-4), (110, 1e-4), (200, 1e-4)]:
        assert float(lr(step)) == pytest.approx(want, rel=1e-5, abs=1e-9)


def test_constant_with_and_without_warmup():
    assert [float(optim.schedule(cfg(schedule="constant"), 50)(s)) for s in (0, 49)] == [1e-3] * 2
    lr = optim.schedule(cfg(schedule="constant", warmup_steps=4), 50)
    assert [float(lr(s)) for s in (0, 2, 4, 40)] == pytest.approx([0.0, 5e-4, 1e-3, 1e-3])


def test_unknown_schedule_is_a_config_error():
    with pytest.raises(configlib.ConfigError, match="optimizer.schedule"):
        optim.schedule(cfg(schedule="linear"), 10)
