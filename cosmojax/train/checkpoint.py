"""Orbax checkpoints of a workdir, the saved config, and the resume checks.

Layout of a workdir::

    config.json            the config of the first run (what to rebuild models from)
    checkpoints/<step>/    state (params, optimizer state, model state, step, PRNG key)
                           and meta (JSON: task, step, data position, metrics)
    events.out.tfevents.*  TensorBoard metrics

Resume order (as in big_vision): an existing checkpoint in the workdir, else a
fresh initialisation. Inference and warm starts (:func:`restore_params`) read
only the parameters and the model state of a checkpoint, never the optimizer
state. The latest ``keep`` checkpoints are kept plus the best by
the task's validation metric. Orbax writes each step into a temporary folder
and renames it when complete, so a checkpoint cut short by a kill is never
restored; such leftovers are deleted when the manager opens the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from flax import struct, traverse_util
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

CONFIG_FILE = "config.json"
# Changing these would change what the checkpoint means or its shapes.
STRUCTURAL_FIELDS = ("task", "model", "data.resolution")


class ResumeError(RuntimeError):
    """The workdir holds a run that this config cannot continue."""


def config_to_dict(config) -> dict:
    return json.loads(config.to_json()) if hasattr(config, "to_json") else dict(config)


def load_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved config; is {workdir} a training workdir?")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def structural_differences(saved: dict, new: dict) -> list[str]:
    """Fields under STRUCTURAL_FIELDS whose values differ (``a.b: old -> new``)."""
    a, b = (traverse_util.flatten_dict(d, sep=".") for d in (saved, new))
    diffs = []
    for key in sorted(set(a) | set(b)):
        if not any(key == f or key.startswith(f + ".") for f in STRUCTURAL_FIELDS):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            diffs.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return diffs


def check_or_write_config(workdir: Path, config, *, write: bool = True) -> None:
    """Refuses a config that changes the model of an existing run; saves it for a new run."""
    path = Path(workdir) / CONFIG_FILE
    new = config_to_dict(config)
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("task") != new.get("task"):
            raise ResumeError(
                f"{workdir}: holds a {saved.get('task')!r} run, not {new.get('task')!r}; "
                "use another --workdir"
            )
        diffs = structural_differences(saved, new)
        if diffs:
            raise ResumeError(
                f"{workdir}: the config changes the model of the saved run ({'; '.join(diffs)}); "
                "use another --workdir or the saved values"
            )
    elif write:
        from cosmojax.files import atomic_write_text

        atomic_write_text(path, json.dumps(new, indent=2, sort_keys=True) + "\n")


INFERENCE_ITEMS = ("params", "model_state")


@struct.dataclass
class InferenceState:
    """What inference needs of a training state: the parameters and the model state."""

    params: Any
    model_state: Any


class Checkpoints:
    """An Orbax CheckpointManager for one workdir (state + JSON meta per step)."""

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        keep: int = 3,
        best_metric: str | None = None,
        read_only: bool = False,
    ):
        self.directory = Path(workdir).absolute() / "checkpoints"
        self.best_metric = best_metric
        policies = [pp.LatestN(n=max(1, keep))]
        extra = {}
        if best_metric:
            metric = lambda m: m.get(best_metric, float("inf"))  # noqa: E731
            policies.append(
                pp.BestN(
                    get_metric_fn=metric, reverse=True, n=1, keep_checkpoints_without_metrics=False
                )
            )
            extra = dict(best_fn=metric, best_mode="min")
        options = ocp.CheckpointManagerOptions(
            preservation_policy=pp.AnyPreservationPolicy(policies),
            cleanup_tmp_directories=not read_only,
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=not read_only,
            **extra,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta")
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best_step(self) -> int | None:
        return self.manager.best_step() if self.best_metric else self.latest_step()

    def save(self, step: int, state, meta: dict, metrics: dict | None = None):
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        if metrics is not None:
            metrics = {k: float(v) for k, v in metrics.items()}
        self.manager.save(int(step), args=args, metrics=metrics, force=True)

    def restore(self, step: int, abstract_state):
        """Restores ``(state, meta)`` of ``step`` into the shapes and shardings of
        ``abstract_state``."""
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
        )
        out = self._restore(step, args)
        return out.state, out.meta

    def restore_params(self, step: int, abstract=None) -> InferenceState:
        """The parameters and model state of ``step`` alone (an Orbax partial
        restore: the optimizer state stays on disk). ``abstract`` (anything with
        ``.params`` and ``.model_state`` of arrays or ShapeDtypeStructs, e.g.
        ``jax.eval_shape`` of a task's ``init_state``) fixes the expected shapes;
        without it the saved shapes are used. Arrays land on this host's first
        device."""
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        if abstract is None:
            handler = ocp.PyTreeCheckpointHandler()
            try:
                saved = handler.metadata(epath.Path(self.directory / str(int(step)) / "state")).tree
            finally:
                handler.close()
            target = {k: saved[k] for k in INFERENCE_ITEMS}
        else:
            target = {k: getattr(abstract, k) for k in INFERENCE_ITEMS}
        target = abstract_like(target, device)
        restore_args = jax.tree.map(lambda x: ocp.ArrayRestoreArgs(sharding=x.sharding), target)
        args = ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                item=target, restore_args=restore_args, partial_restore=True
            )
        )
        out = self._restore(step, args).state
        missing = [  # a partial restore leaves what the checkpoint lacks unrestored
            "/".join(str(k) for k in path)
            for path, leaf in traverse_util.flatten_dict(out).items()
            if isinstance(leaf, jax.ShapeDtypeStruct)
        ]
        if missing:
            raise ResumeError(
                f"{self.directory}/{step}: checkpoint does not match the model built from the "
                f"config: it has no {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
                "(written by an older version of the model; train it again)"
            )
        return InferenceState(params=out["params"], model_state=out["model_state"])

    def _restore(self, step: int, args):
        try:
            return self.manager.restore(int(step), args=args)
        except (ValueError, KeyError, TypeError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ResumeError(
                f"{self.directory}/{step}: checkpoint does not match the model "
                f"built from the config ({first})"
            ) from None

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()


def abstract_like(tree, sharding):
    """ShapeDtypeStructs of ``tree`` (arrays or structs) placed with ``sharding``."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def restore_params(
    workdir: str | os.PathLike,
    *,
    step: int | None = None,
    best_metric: str | None = None,
    abstract=None,
) -> tuple[InferenceState, int]:
    """``(InferenceState, step)`` of a workdir's checkpoint ``step``; by default
    the best by ``best_metric`` when one is given, else the latest. Reads no
    optimizer state (see :meth:`Checkpoints.restore_params`)."""
    ckpt = Checkpoints(workdir, best_metric=best_metric, read_only=True)
    try:
        if step is None:
            step = ckpt.best_step()
        if step is None:  # no evaluated checkpoint yet
            step = ckpt.latest_step()
        if step is None:
            raise FileNotFoundError(f"{workdir}: no checkpoint yet; train first")
        return ckpt.restore_params(step, abstract), int(step)
    finally:
        ckpt.close()
