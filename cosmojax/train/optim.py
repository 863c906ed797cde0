"""Optimizers from config: Adam(W) with an optional schedule and gradient clipping."""

from __future__ import annotations

import optax


def schedule(cfg, num_steps: int):
    lr = cfg.learning_rate
    if cfg.get("schedule", "constant") == "constant":
        base = optax.constant_schedule(lr)
    elif cfg.schedule == "cosine":
        base = optax.cosine_decay_schedule(
            lr, max(1, num_steps - cfg.get("warmup_steps", 0)), alpha=cfg.get("final_fraction", 0.0)
        )
    else:
        raise ValueError(
            f"optimizer.schedule: expected 'constant' or 'cosine', got {cfg.schedule!r}"
        )
    warmup = cfg.get("warmup_steps", 0)
    if warmup:
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), base], [warmup])
    return base


def build(cfg, num_steps: int) -> tuple[optax.GradientTransformation, callable]:
    """Returns ``(tx, lr_fn)`` for config block ``optimizer``."""
    lr_fn = schedule(cfg, num_steps)
    if cfg.name == "adam":
        tx = optax.adam(lr_fn, b1=cfg.b1, b2=cfg.b2, eps=cfg.get("eps", 1e-8))
    elif cfg.name == "adamw":
        tx = optax.adamw(
            lr_fn, b1=cfg.b1, b2=cfg.b2, eps=cfg.get("eps", 1e-8), weight_decay=cfg.weight_decay
        )
    else:
        raise ValueError(f"optimizer.name: expected 'adam' or 'adamw', got {cfg.name!r}")
    if cfg.get("grad_clip_norm", 0.0):
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx, lr_fn
