"""Scorers: the paper's CNN and a stronger model with summary-statistics features."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

xavier = nn.initializers.xavier_uniform()


class PaperCNN(nn.Module):
    """The CIL 2018 paper's scorer at 140x140 (7,892,297 parameters).

    conv 5x5x32 SAME, ReLU, max-pool 2; conv 5x5x64, ReLU, max-pool 2;
    dense 100, ReLU; dense 1. Xavier (Glorot uniform) weights, zero biases.
    """

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images, train: bool = False):
        x = images.astype(self.dtype)
        for features in (32, 64):
            x = nn.Conv(features, (5, 5), padding="SAME", kernel_init=xavier, dtype=self.dtype)(x)
            x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(100, kernel_init=xavier, dtype=self.dtype)(x))
        return nn.Dense(1, kernel_init=xavier, dtype=self.dtype)(x)[:, 0].astype(jnp.float32)


def build(cfg, dtype=jnp.float32) -> nn.Module:
    """Scorer from config block ``model``."""
    if cfg.name == "paper_cnn":
        return PaperCNN(dtype=dtype)
    raise ValueError(f"model.name: unknown scorer {cfg.name!r}; expected 'paper_cnn' or 'stats'")
