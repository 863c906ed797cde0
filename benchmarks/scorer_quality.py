"""Scorer quality on one fixed split of the default synthetic data set. Prints one JSON table.

    python benchmarks/scorer_quality.py [--workdir runs/bench] [--paper_steps 1350]
        [--stats_steps 1500] [--labeled_weight 0.5] [--ensemble 3]
        [--critic_steps 1500] [--gan_workdir runs/bench/gan] [--only ROW,ROW]

Data: the default synthetic set (9600 scored images, 1200 query images whose
true scores the generator wrote aside). Every model trains on the same 90%
of ``scored`` and selects its checkpoint on the same 10% (the hash split of
:mod:`cosmojax.data.pipeline`); the table reports the MAE on that validation
split and on the 1200 query images (never seen in training or selection).

Rows:
* ``constant``: the training-set median (the best constant under L1) and mean.
* ``paper_cnn``: configs/scorer.py (the paper's CNN at 140x140).
* ``stats_scorer``: configs/scorer_stats.py as shipped; its ablations, one
  change each: ``stats_no_fullres`` (no full-resolution statistics) and
  ``stats_labeled_toggled`` (the labeled head switched: on with
  ``--labeled_weight`` if the config has it off, else off); ``stats_seedK``
  (seeds 1 .. ``--ensemble`` - 1) and ``stats_ensemble_mean`` / ``_median``:
  the ensemble of ``stats_scorer`` and the seeds.
* ``boosted_trees``: the best known method, as past teams did it: gradient-
  boosted trees (scikit-learn ``HistGradientBoostingRegressor``, absolute-error
  loss) on intensity histograms and radially averaged power spectra at 256;
  ``boosted_trees_fullres``: the same trees on the full-resolution statistics
  the prepared data stores (cosmojax/evaluation/features.py).
* ``gan_critic``: configs/gan_scorer.py on the discriminator of the GAN in
  ``--gan_workdir`` (skipped when that has no checkpoint).

Training runs live in ``--workdir`` and resume, so a second call only
evaluates. Targets: stats_scorer MAE <= 0.5 x paper_cnn and <= 0.75 x
boosted_trees_fullres.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's configs/

from cosmojax.data import layout, pipeline, sources  # noqa: E402


@functools.lru_cache(maxsize=4)
def data_at(resolution: int, stats: bool = False, downsample: str = "area"):
    """``(train, val, query, query_truth)`` at ``resolution`` by ``downsample`` (with
    the full-resolution statistics if ``stats``): the one hash split of ``scored``
    that every row trains and selects on, and the query images."""
    scored = pipeline.load_split(None, "scored", resolution, downsample, stats=stats)
    train, val = pipeline.split_train_val(scored, 0.1)
    query = pipeline.load_split(None, "query", resolution, downsample, stats=stats)
    ids, truth = layout.read_csv(sources.default_query_truth())
    lookup = dict(zip(ids, truth, strict=True))
    return train, val, query, np.array([lookup[i] for i in query.ids])


def mae(pred, truth) -> float:
    return float(np.mean(np.abs(np.clip(pred, 0, 8) - truth)))


def train(name: str, config_name: str, workdir: Path, steps: int, **overrides) -> float:
    from cosmojax import cli

    config = importlib.import_module(f"configs.{config_name}").get_config()
    config.num_steps = steps
    config.update_from_flattened_dict(overrides)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON table
        cli.train(config, workdir / name)
    return time.perf_counter() - t0


def evaluate_scorer(workdir: Path) -> dict:
    from cosmojax import scoring

    s = scoring.load(workdir)
    _, val, query, q_truth = data_at(s.resolution, s.with_stats, s.reduction[1])
    return {
        "val_mae": mae(s.score_prepared(val.images, val.stats), val.targets),
        "query_mae": mae(s.score_prepared(query.images, query.stats), q_truth),
        "checkpoint_step": s.step,
    }


def evaluate_ensemble(workdirs: list[Path], reduce: str = "mean") -> dict:
    """An ensemble's MAE: each member scores at its own resolution, then ``reduce``."""
    from cosmojax import scoring

    e = scoring.load(workdirs, reduce=reduce)
    val_parts, query_parts = [], []
    for m in e.members:
        _, val, query, q_truth = data_at(m.resolution, m.with_stats, m.reduction[1])
        val_parts.append(m.score_prepared(val.images, val.stats))
        query_parts.append(m.score_prepared(query.images, query.stats))
    return {
        "val_mae": mae(e.combine(val_parts), val.targets),
        "query_mae": mae(e.combine(query_parts), q_truth),
        "members": [str(w) for w in workdirs],
        "reduce": reduce,
    }


def boosted_trees(resolution: int) -> dict:
    """GBT on histogram + power-spectrum features computed at ``resolution``."""
    import jax
    import jax.numpy as jnp

    from cosmojax.evaluation import statistics

    @jax.jit
    def features(x):
        counts = x.astype(jnp.float32) * 255.0
        n = counts.shape[-1] * counts.shape[-2]
        hist = statistics.histogram(counts) / n
        return jnp.concatenate(
            [jnp.log(hist + 1e-7), jnp.log(statistics.power_spectrum(counts) + 1e-12)], -1
        )

    def featurize(split):
        return np.concatenate(
            [np.asarray(features(split.images[i : i + 128])) for i in range(0, len(split), 128)]
        )

    train, val, query, q_truth = data_at(resolution)
    return fit_trees(
        (featurize(train), train.targets),
        featurize(val),
        featurize(query),
        (val.targets, q_truth),
        f"histogram + power spectrum at {resolution}x{resolution}",
    )


def trees(max_iter: int = 1500):
    """Absolute-error gradient-boosted trees, the peers' recipe (unfitted)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=max_iter,
        learning_rate=0.05,
        early_stopping=False,
        random_state=0,
    )


def fit_trees(train, val_x, query_x, truths, features: str) -> dict:
    """:func:`trees` fit on ``train``, scored on validation and query."""
    t0 = time.perf_counter()
    model = trees().fit(*train)
    return {
        "val_mae": mae(model.predict(val_x), truths[0]),
        "query_mae": mae(model.predict(query_x), truths[1]),
        "features": features,
        "train_s": round(time.perf_counter() - t0, 1),
    }


def boosted_trees_fullres(resolution: int) -> dict:
    """The same trees on the full-resolution statistics the prepared data stores
    (cosmojax.evaluation.features, computed from the 1000x1000 images)."""
    from cosmojax.evaluation import features

    train, val, query, q_truth = data_at(resolution, True)  # any prepared resolution
    return fit_trees(
        (train.stats, train.targets),
        val.stats,
        query.stats,
        (val.targets, q_truth),
        f"full-resolution statistics v{features.VERSION} ({features.SIZE})",
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="runs/bench")
    p.add_argument("--paper_steps", type=int, default=1350)  # 10 epochs
    p.add_argument("--stats_steps", type=int, default=1500)
    p.add_argument("--critic_steps", type=int, default=1500)
    p.add_argument("--gbt_resolution", type=int, default=256)
    p.add_argument("--gan_workdir", default="runs/bench/gan")
    p.add_argument("--labeled_weight", type=float, default=0.5, help="the labeled ablation")
    p.add_argument("--ensemble", type=int, default=3, help="seeds of the stats scorer ensemble")
    p.add_argument("--only", default="", help="comma list of rows to run")
    return p.parse_args(argv)


def constant_rows() -> dict:
    """The training split's median and mean as predictions (the floor every model beats)."""
    train_split, val, q, q_truth = data_at(64)
    rows = {}
    for stat in ("median", "mean"):
        c = float(getattr(np, stat)(train_split.targets))
        rows[f"constant_{stat}"] = {
            "val_mae": mae(np.full(len(val), c), val.targets),
            "query_mae": mae(np.full(len(q), c), q_truth),
        }
    return rows


def training_runs(args, default_labeled: float) -> dict:
    """``name -> (config, steps, overrides)`` of every trained row."""
    runs = {
        "paper_cnn": ("scorer", args.paper_steps, {}),
        "stats_scorer": ("scorer_stats", args.stats_steps, {}),
        # ablations of configs/scorer_stats.py, one change each
        "stats_no_fullres": ("scorer_stats", args.stats_steps, {"model.fullres_stats": False}),
        "stats_labeled_toggled": (
            "scorer_stats",
            args.stats_steps,
            {"model.labeled_weight": 0.0 if default_labeled > 0 else args.labeled_weight},
        ),
        **{
            f"stats_seed{k}": ("scorer_stats", args.stats_steps, {"seed": k})
            for k in range(1, args.ensemble)
        },
    }
    if (Path(args.gan_workdir) / "checkpoints").is_dir():
        runs["gan_critic"] = (
            "gan_scorer",
            args.critic_steps,
            {"model.gan_workdir": str(Path(args.gan_workdir).absolute()), "model.frozen": False},
        )
    return runs


def ratios(rows: dict) -> dict:
    """The statistics scorer against the paper CNN and the trees, where both ran."""
    out, stats = {}, rows.get("stats_scorer", {}).get("query_mae")
    if stats is None:
        return out
    if "paper_cnn" in rows:
        out["stats_over_paper"] = stats / rows["paper_cnn"]["query_mae"]
    if "boosted_trees" in rows:
        out["stats_beats_boosted_trees"] = stats < rows["boosted_trees"]["query_mae"]
    if "boosted_trees_fullres" in rows:
        out["stats_over_fullres_trees"] = stats / rows["boosted_trees_fullres"]["query_mae"]
    return out


def main(argv=None):
    args = parse_args(argv)
    stats_config = importlib.import_module("configs.scorer_stats").get_config()
    from cosmojax.console import quiet_logs

    quiet_logs()
    work = Path(args.workdir)
    sources.resolve_data_dir(None)
    only = set(filter(None, args.only.split(",")))
    rows = constant_rows()
    for name, (config_name, steps, overrides) in training_runs(
        args, stats_config.model.labeled_weight
    ).items():
        if only and name not in only:
            continue
        seconds = train(name, config_name, work, steps, **overrides)
        rows[name] = {
            **evaluate_scorer(work / name),
            "steps": steps,
            "overrides": overrides,
            "train_s_this_call": round(seconds, 1),
        }
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)
    members = [work / "stats_scorer"] + [work / f"stats_seed{k}" for k in range(1, args.ensemble)]
    if args.ensemble > 1 and all((m / "checkpoints").is_dir() for m in members):
        for reduce in ("mean", "median"):
            rows[f"stats_ensemble_{reduce}"] = evaluate_ensemble(members, reduce)
    if not only or "boosted_trees" in only:
        rows["boosted_trees"] = boosted_trees(args.gbt_resolution)
    if not only or "boosted_trees_fullres" in only:
        rows["boosted_trees_fullres"] = boosted_trees_fullres(stats_config.data.resolution)
    data = str(sources.default_synthetic_dir())
    out = {"benchmark": "scorer_quality", "data": data, "rows": rows, **ratios(rows)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
