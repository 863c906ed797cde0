"""Configs and command lines.

The config fields every task shares (``configs/<task>.py`` start from
:func:`base`); a config file loaded from Python with overrides (:func:`load`,
as ``train_<task>.py --config=FILE --config.<field>=value`` reads it); and the
parts the commands (``python -m cosmojax.generate``, ``.predict``,
``.evaluate``) share: a ``--help`` that shows every flag with its default
(:func:`command_parser`) and old flag names that still work, with a one-line
note (:func:`add_deprecated`).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import importlib.util
import os
import sys
from pathlib import Path

import ml_collections


class ConfigError(ValueError):
    """A config value that cannot work; the message names the field (``a.b: ...``)."""


def base(task: str) -> ml_collections.ConfigDict:
    """The fields every task's config has, at their defaults.

    >>> base("vae").num_steps
    1000
    """
    c = ml_collections.ConfigDict()
    c.task = task
    c.seed = 0
    c.num_steps = 1000
    c.batch_size = 64  # global batch, split over all devices of all hosts
    c.eval_batch_size = 256
    c.eval_every = 500
    c.checkpoint_every = 500
    c.log_every = 50
    c.keep_checkpoints = 3  # the latest k, plus the best by the validation metric
    # generators: images in the fixed sample that picks checkpoints (64 chose another
    # step than 256 in 1 of 3 configs/vae.py runs; 256 costs ~10 s an evaluation)
    c.eval_generated = 256
    c.dtype = "float32"  # or "bfloat16": bf16 compute, f32 parameters and optimizer state

    c.data = ml_collections.ConfigDict()
    c.data.dir = ""  # CIL-layout folder; empty = the default synthetic data set
    c.data.resolution = 128
    c.data.val_fraction = 0.1
    c.data.split_seed = 0
    c.data.augment = False  # random flips and 90-degree rotations
    c.data.on_device = False  # keep the training set on the accelerators (no host pipeline)
    # What a model sees (cosmojax/data/resample.py, cosmojax/data/intensity.py):
    c.data.downsample = "area"  # 1000 -> resolution by "area" averages or block "max"
    c.data.intensity_map = "linear"  # or "log", "stretch"; exact inverse on the way out
    c.data.intensity_scale = 0.01  # the map's constant a (intensities in [0, 1])
    c.data.sky = "keep"  # GANs: or "draw" (cosmojax/data/sky.py): learn sky-free images

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    c.optimizer.weight_decay = 0.0
    c.optimizer.schedule = "constant"  # or "cosine"
    c.optimizer.warmup_steps = 0
    c.optimizer.final_fraction = 0.0
    c.optimizer.grad_clip_norm = 0.0  # 0 = no clipping

    c.model = ml_collections.ConfigDict()
    return c


def load(path: str | os.PathLike, **overrides) -> ml_collections.ConfigDict:
    """The config of a config file (its ``get_config()``, e.g. ``configs/vae.py``)
    with ``overrides``: dotted field names, as ``--config.<field>=value`` on the
    command line (:func:`override`). The config comes back locked, as the
    training scripts get it: no field can be added to it.

    >>> c = load("configs/vae.py", num_steps=10, **{"data.dir": "data/cil"})
    >>> c.num_steps, c.data.dir
    (10, 'data/cil')
    >>> load("configs/vae.py", **{"data.dri": "x"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cosmojax.configlib.ConfigError: unknown config field 'data.dri' (did you mean 'data.dir'?)...
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (expected e.g. configs/vae.py)")
    spec = importlib.util.spec_from_file_location(f"cosmojax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"{path}: a config file defines get_config(), this one does not")
    return _override(module.get_config(), overrides, str(path))


def override(config: ml_collections.ConfigDict, **overrides) -> ml_collections.ConfigDict:
    """A locked copy of ``config`` with ``overrides`` (dotted field names:
    ``num_steps=10``, ``**{"data.dir": "..."}``). An unknown field, or a value of
    another type than the field's, is a ConfigError naming the field; ``config``
    itself is left as it was.

    >>> c = override(base("vae"), **{"optimizer.learning_rate": 1e-4})
    >>> c.optimizer.learning_rate, base("vae").optimizer.learning_rate
    (0.0001, 0.001)
    """
    return _override(config, overrides, "the config")


def _fields(config, prefix: str = "") -> list[str]:
    out = []
    for k, v in config.items():
        out.append(prefix + k)
        if isinstance(v, ml_collections.ConfigDict):
            out += _fields(v, f"{prefix}{k}.")
    return out


def _parent(config, key: str):
    """The ConfigDict that holds field ``key`` (dotted), or None if there is no such field."""
    *parents, name = key.split(".")
    node = config
    for part in parents:
        node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
    return node if isinstance(node, ml_collections.ConfigDict) and name in node else None


def closest_field(config, key: str) -> str | None:
    """The field of ``config`` whose dotted name is closest to ``key`` (difflib), if any.

    >>> closest_field(base("vae"), "batch_sise")
    'batch_size'
    """
    near = difflib.get_close_matches(key, _fields(config), n=1)
    return near[0] if near else None


def unknown_fields(config, keys) -> list[str]:
    """Those of the dotted ``keys`` that are not fields of ``config``."""
    return [k for k in keys if _parent(config, k) is None]


def _override(config, overrides: dict, where: str) -> ml_collections.ConfigDict:
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        node = _parent(config, key)
        if node is None:
            near = closest_field(config, key)
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(
                f"unknown config field {key!r}{hint}; the fields are those of {where}"
            )
        name = key.split(".")[-1]
        if isinstance(value, os.PathLike) and isinstance(node[name], str):
            value = os.fspath(value)  # a path for a path field (data.dir)
        try:
            node[name] = value
        except TypeError:
            old = type(node[name]).__name__
            raise ConfigError(
                f"{key}: expected a value of the field's type ({old}), got {value!r}"
            ) from None
    config.lock()
    return config


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The description as written; each optional flag's default after its help
    (unless the help says it: ``(default: ...)`` or ``(required...)``)."""

    def _get_help_string(self, action):
        if action.required or "(default" in action.help or "(required" in action.help:
            return action.help
        return super()._get_help_string(action)


def command_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``: that prog, ``doc`` as written above
    the flags, and each flag's default after its help (argparse's
    ArgumentDefaultsHelpFormatter; a help text that names the default itself,
    ``(default: ...)``, or says ``(required...)`` is left as it is).

    >>> command_parser("cosmojax.predict", "Scores PNGs.").format_usage()
    'usage: python -m cosmojax.predict [-h]\\n'
    """
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=_HelpFormatter
    )


class _Deprecated(argparse.Action):
    """Stores the value like the flag it stands for, after a one-line note."""

    def __init__(self, option_strings, dest, use: str, **kwargs):
        self.use = use
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is deprecated; use {self.use}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated(parser, old: str, use: str, *, dest: str, **kwargs) -> None:
    """Flag ``old`` (of ``parser`` or a group of it) sets ``dest`` as ``use`` does,
    after printing ``note: OLD is deprecated; use USE`` on stderr.

    >>> p = command_parser("cosmojax.evaluate", "")
    >>> _ = p.add_argument("--data_dir", default="")
    >>> add_deprecated(p, "--reference", "--data_dir", dest="data_dir")
    >>> p.parse_args(["--reference", "d"]).data_dir  # prints the note on stderr
    'd'
    """
    kwargs.setdefault("default", argparse.SUPPRESS)
    kwargs.setdefault("help", f"deprecated: use {use}")
    parser.add_argument(old, dest=dest, action=_Deprecated, use=use, **kwargs)
