"""Optimizers from config: Adam(W), or plain SGD, with an optional schedule and
gradient clipping.

``sgd`` (no momentum, no per-coordinate scaling) makes a step's update a fixed
multiple of the gradient: the tests that compare runs whose sums are ordered
differently (1 against 4 devices, 1 against 2 processes) use it, since Adam
turns a last-bit difference in a near-zero gradient into a step of the size
of the learning rate."""

from __future__ import annotations

import optax

from cosmojax.configlib import ConfigError


def schedule(cfg, num_steps: int):
    """Linear warmup from 0 over ``warmup_steps``, then the learning rate held
    (``constant``) or cosine-decayed to ``final_fraction`` of it at ``num_steps``."""
    lr, warmup = cfg.learning_rate, cfg.get("warmup_steps", 0)
    name = cfg.get("schedule", "constant")
    if name == "cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0,
            lr,
            warmup,
            warmup + max(1, num_steps - warmup),
            end_value=lr * cfg.get("final_fraction", 0.0),
        )
    if name == "constant":
        if warmup:
            return optax.warmup_constant_schedule(0.0, lr, warmup)
        return optax.constant_schedule(lr)  # a schedule: the optimizer state keeps its step count
    raise ConfigError(f"optimizer.schedule: expected 'constant' or 'cosine', got {name!r}")


def build(cfg, num_steps: int) -> tuple[optax.GradientTransformation, callable]:
    """Returns ``(tx, lr_fn)`` for config block ``optimizer``."""
    lr_fn = schedule(cfg, num_steps)
    if cfg.name == "adam":
        tx = optax.adam(lr_fn, b1=cfg.b1, b2=cfg.b2, eps=cfg.get("eps", 1e-8))
    elif cfg.name == "adamw":
        tx = optax.adamw(
            lr_fn, b1=cfg.b1, b2=cfg.b2, eps=cfg.get("eps", 1e-8), weight_decay=cfg.weight_decay
        )
    elif cfg.name == "sgd":
        tx = optax.sgd(lr_fn)
    else:
        raise ConfigError(f"optimizer.name: expected 'adam', 'adamw' or 'sgd', got {cfg.name!r}")
    if cfg.get("grad_clip_norm", 0.0):
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx, lr_fn
