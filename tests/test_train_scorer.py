"""Scorer training: the paper model, the shared loop, data parallelism, resume, NaN stop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosmojax import cli, tasks
from cosmojax.configlib import ConfigError
from cosmojax.data import layout, pipeline, resample
from cosmojax.evaluation import features
from cosmojax.models import scorer as scorer_models
from cosmojax.train import loop, parallel
from cosmojax.train import metrics as metrics_lib
from tests.helpers import (
    assert_same_training,
    flat_params,
    record_run,
    sgd,
    tiny_config,
    train_on_devices,
)


def test_paper_cnn_has_the_papers_parameter_count():
    variables = jax.eval_shape(
        scorer_models.PaperCNN().init, jax.random.PRNGKey(0), jnp.zeros((1, 140, 140, 1))
    )
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))
    assert n == 7_892_297
    kernels = [v.shape for v in jax.tree.leaves(variables["params"]) if len(v.shape) > 1]
    assert sorted(kernels) == sorted([(5, 5, 1, 32), (5, 5, 32, 64), (35 * 35 * 64, 100), (100, 1)])


def learnable_split(n: int, seed: int) -> pipeline.Split:
    """Images whose score is 6x their brightness level: a model can beat a constant."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0, 1, n)
    images = (rng.uniform(0, 1, (n, 16, 16)) * level[:, None, None]).astype(np.float16)
    ids = np.array([f"{seed}{i:06d}" for i in range(n)])
    return pipeline.Split(ids, images, (6 * level).astype(np.float32))


def test_training_learns_more_than_a_constant_and_logs(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, num_steps=30, eval_every=30, checkpoint_every=30)
    config.optimizer.learning_rate = 3e-3
    task = tasks.build(config)
    task.splits = (learnable_split(64, 1), learnable_split(32, 2))
    result = loop.train_and_evaluate(config, tmp_path / "run", task=task)
    rows = metrics_lib.read_metrics(tmp_path / "run")
    losses = [r["train_loss"] for r in rows if "train_loss" in r]
    assert len(losses) == 30 and np.mean(losses[-5:]) < np.mean(losses[:5])
    m = result.eval_metrics
    assert m["eval_mae"] < 0.5 * m["eval_mae_const"]  # more than the output bias learned
    assert any("throughput" in r and "learning_rate" in r for r in rows)
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_resumed_run_is_bit_identical(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, **{"data.augment": True})
    straight = cli.train(config, tmp_path / "a")
    cli.train(
        tiny_config("scorer", tiny_data, num_steps=3, **{"data.augment": True}), tmp_path / "b"
    )
    resumed = cli.train(config, tmp_path / "b")
    assert resumed.step == straight.step == 6
    # Exact on purpose: a resumed run replays the same compiled step on the same
    # batch and key (both depend on seed and step only) from a bit-exact restore, on
    # the same machine and device count (see cosmojax.train.loop).
    a, b = flat_params(straight.state.params), flat_params(resumed.state.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    ma = [r for r in metrics_lib.read_metrics(tmp_path / "a") if "train_loss" in r]
    mb = [r for r in metrics_lib.read_metrics(tmp_path / "b") if "train_loss" in r]
    assert [r["train_loss"] for r in ma] == [r["train_loss"] for r in mb]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    from cosmojax import restore

    config = tiny_config("scorer", tiny_data, num_steps=12, checkpoint_every=2, eval_every=100)
    task = tasks.build(config)
    train, val = task.splits
    # Loop step s trains on the sampler's batch s - 1: poison only step 3's examples.
    sampler = pipeline.IndexSampler(len(train), config.batch_size, config.seed)
    early = set(sampler.global_indices(0)) | set(sampler.global_indices(1))
    poison = [i for i in sampler.global_indices(2) if i not in early]
    assert poison
    bad = train.targets.copy()
    bad[poison] = np.nan
    task.splits = (type(train)(train.ids, train.images, bad), val)
    with pytest.raises(
        loop.NonFiniteError,
        match=r"non-finite loss \(nan\) at step 3; stopped, the last good checkpoint is step 2",
    ):
        loop.train_and_evaluate(config, tmp_path / "nan", task=task)
    assert sorted(p.name for p in (tmp_path / "nan" / "checkpoints").iterdir()) == ["2"]
    _, state, step = restore.load_run(tmp_path / "nan")
    assert step == 2 and all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))


def test_non_finite_gradient_norm_stops_the_scorer(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, num_steps=6, checkpoint_every=100, eval_every=100)
    task = tasks.build(config)
    step = task.train_step

    def inf_grad_norm_from_step_2(state, batch):
        new, metrics = step(state, batch)
        bad = jnp.where(state.step >= 1, jnp.inf, metrics["grad_norm"])
        return new, {**metrics, "grad_norm": bad}

    task.train_step = inf_grad_norm_from_step_2
    with pytest.raises(loop.NonFiniteError, match=r"non-finite grad_norm \(inf\) at step 2;"):
        loop.train_and_evaluate(config, tmp_path / "inf", task=task)


def test_data_parallel_matches_one_device(tiny_data, tmp_path):
    """4 devices train like 1 with the same global batch, to rounding (the bound is
    helpers.CHANGE_RTOL's): gradients averaged over devices (not one device's, not
    their sum), each example's own augmentation wherever it lands, every example
    of the batch used once."""
    over = sgd(**{"data.augment": True, "num_steps": 4, "eval_every": 4, "checkpoint_every": 4})
    runs = {
        n: train_on_devices("tests.helpers:tiny_scorer", tiny_data, over, tmp_path / f"r{n}", n)
        for n in (1, 4)
    }
    assert_same_training(runs[1], runs[4], metrics=("train_loss", "train_grad_norm"))


def stats_config(data, **overrides):
    """configs/scorer_stats.py, narrower and with in-model statistics at one scale
    (compiles in a fraction of the time)."""
    config = tiny_config("scorer_stats", data, **overrides)
    config.model.cnn_size = 8
    config.model.cnn_channels = (4, 4, 4, 4)
    config.model.stats_width = config.model.head_width = 32
    config.model.stats_scales = (1,)
    config.model.labeled_batch_size = 8
    config.model.stats_image_size = 100  # the tiny set's images
    return config


def test_stats_scorer_normalises_its_features_from_data(tiny_data, tmp_path):
    config = stats_config(tiny_data, num_steps=4, eval_every=4, checkpoint_every=4)
    result = cli.train(config, tmp_path / "stats")
    q = np.asarray(result.state.model_state["norm"]["quantiles"])
    assert q.shape[0] == scorer_models.QUANTILES and q.shape[1] > 50
    assert np.all(np.diff(q, axis=0) >= 0) and not np.allclose(q[:, 0], np.linspace(-5, 5, 64))
    from cosmojax import scoring

    s = scoring.load(tmp_path / "stats")
    np.testing.assert_array_equal(s.model_state["norm"]["quantiles"], q)
    assert s.score(np.zeros((1, 100, 100), np.uint8)).shape == (1,)
    # a score is the trained model on the image at its resolution and the image's
    # full-resolution statistics
    _, paths, _ = layout.list_split(tiny_data, "scored")
    imgs = np.stack([layout.read_png(p) for p in paths[:3]])
    x = np.stack([resample.prepare_image(im, 16) for im in imgs])[..., None]
    feats = np.stack([features.image_features(im) for im in imgs])
    variables = {"params": result.state.params, **result.state.model_state}
    want = jax.jit(tasks.build(config).model.apply)(variables, x, feats)  # eager: seconds
    got = s.score(imgs)
    np.testing.assert_allclose(got, np.clip(want, 0.0, 8.0), rtol=1e-5, atol=1e-5)
    assert len(set(got.tolist())) == 3  # each image its own score
    with pytest.raises(ValueError, match="defined on 100x100 images"):
        s.score(np.zeros((1, 40, 40), np.uint8))


def test_on_device_data_gives_the_same_run_as_the_host_pipeline(tiny_data, tmp_path):
    """The same images in the same order reach the step either way; the two steps
    are different programs (the gather is compiled into one), so the runs are
    compared to rounding (helpers.CHANGE_RTOL)."""
    over = sgd(**{"data.augment": True})
    host = record_run(tiny_config("scorer", tiny_data, **over), tmp_path / "host")
    over["data.on_device"] = True
    dev = record_run(tiny_config("scorer", tiny_data, **over), tmp_path / "dev")
    assert_same_training(host, dev, metrics=("train_loss", "train_grad_norm"))


def test_bfloat16_training_tracks_float32(tiny_data):
    mesh = parallel.make_mesh()
    batches = list(tasks.build(tiny_config("scorer", tiny_data)).train_batches(0, 4))
    probe = jnp.asarray(batches[0]["image"])
    preds = {}
    for dtype in ("float32", "bfloat16"):
        config = tiny_config("scorer", tiny_data, dtype=dtype)
        config.optimizer.learning_rate = 3e-3
        task = tasks.build(config)
        state = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))(
            jax.random.PRNGKey(0)
        )
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
        preds[dtype, 0] = np.asarray(task.model.apply({"params": state.params}, probe))
        step = parallel.data_parallel(task.train_step, mesh)
        for batch in batches:
            state, _ = step(state, parallel.shard_batch(batch, mesh))
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
        pred = task.model.apply({"params": state.params}, probe)
        assert pred.dtype == jnp.float32
        preds[dtype, 4] = np.asarray(pred)
    moved = np.abs(preds["float32", 4] - preds["float32", 0]).mean()
    gap = np.abs(preds["bfloat16", 4] - preds["float32", 4]).mean()
    assert moved > 0.05 and gap < 0.1 * moved


def test_reshape_max_pool_equals_flax_max_pool():
    import flax.linen as nn

    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 70, 70, 3)), jnp.float32)
    np.testing.assert_array_equal(
        scorer_models.max_pool_2x2(x), nn.max_pool(x, (2, 2), strides=(2, 2))
    )
    g1 = jax.grad(lambda v: scorer_models.max_pool_2x2(v).sum())(x)
    g2 = jax.grad(lambda v: nn.max_pool(v, (2, 2), strides=(2, 2)).sum())(x)
    np.testing.assert_array_equal(g1, g2)  # no ties in continuous data


def test_predictions_csv_format_ids_and_clipping(tiny_data, tmp_path):
    from cosmojax import predict, scoring

    cli.train(tiny_config("scorer", tiny_data, num_steps=2), tmp_path / "run")
    out = tmp_path / "pred.csv"
    predict.main(
        [
            "--workdir",
            str(tmp_path / "run"),
            "--images",
            str(tiny_data / "query"),
            "--out",
            str(out),
            "--truth",
            str(tiny_data.parent / "query_truth.csv"),
        ]
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "Id,Predicted"
    stems = sorted(p.stem for p in (tiny_data / "query").glob("*.png"))
    assert [line.split(",")[0] for line in lines[1:]] == stems
    values = [float(line.split(",")[1]) for line in lines[1:]]
    assert all(0.0 <= v <= 8.0 for v in values)
    assert all(len(line.split(",")[1].split(".")[1]) == 10 for line in lines[1:])
    s = scoring.load(tmp_path / "run")
    s.params = jax.tree.map(lambda x: x, s.params)
    s.params["Dense_1"]["bias"] = s.params["Dense_1"]["bias"] + 100.0
    assert np.all(s.score(np.zeros((3, 64, 64), np.uint8)) == 8.0)
    s.params["Dense_1"]["bias"] = s.params["Dense_1"]["bias"] - 1000.0
    assert np.all(s.score([np.zeros((30, 40), np.uint8)]) == 0.0)  # any size, list input


def saved_scorer_run(data_dir, workdir, maes: dict[int, float], keep: int = 1):
    """A scorer workdir with one checkpoint per step of ``maes`` (validation MAE),
    written directly; the output bias of step ``s`` is ``s``."""
    from cosmojax.train import checkpoint as ckpt_lib

    config = tiny_config("scorer", data_dir)
    task = tasks.build(config)
    ckpt_lib.check_or_write_config(workdir, config)
    state = task.init_state(jax.random.PRNGKey(0))
    ckpt = ckpt_lib.Checkpoints(workdir, keep=keep, best_metric=task.best_metric)
    for step, mae in maes.items():
        params = {**state.params, "Dense_1": {**state.params["Dense_1"]}}
        params["Dense_1"]["bias"] = jnp.full((1,), float(step))
        meta = {"task": "scorer", "step": step}
        ckpt.save(step, state.replace(params=params), meta, {"eval_mae": mae})
    ckpt.close()
    return workdir


def test_scoring_compiles_once_per_shape(tiny_data, tmp_path):
    import collections
    import dataclasses

    from cosmojax import scoring
    from cosmojax.evaluation import metrics

    loaded = scoring.load(saved_scorer_run(tiny_data, tmp_path / "run", {1: 1.0}))
    traces = collections.Counter()

    def apply_fn(*args, **kwargs):  # runs only while jax traces
        traces["features" if kwargs.get("mutable") else "score"] += 1  # the sown layer
        return loaded.apply_fn(*args, **kwargs)

    s = dataclasses.replace(loaded, apply_fn=apply_fn, batch_size=8)
    rng = np.random.default_rng(0)
    for n, size in [(3, 40), (8, 16), (13, 40), (20, 70)]:
        assert s.score(rng.integers(0, 255, (n, size, size), dtype=np.uint8)).shape == (n,)
    s.params = jax.tree.map(lambda x: x + 1.0, s.params)  # parameters are arguments
    s.score(np.zeros((2, 16, 16), np.uint8))
    for n in (3, 13):
        feats = metrics.penultimate_features(s, np.zeros((n, 40, 40), np.uint8))
        assert feats.shape == (n, 100)
    assert traces == {"score": 1, "features": 1}


def test_best_checkpoint_is_kept_and_scoring_loads_it(tiny_data, tmp_path):
    from cosmojax import restore, scoring

    workdir = saved_scorer_run(tiny_data, tmp_path / "run", {1: 2.0, 2: 0.5, 3: 1.0, 4: 3.0})
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [2, 4]
    s = scoring.load(workdir)
    assert s.step == 2 and float(s.params["Dense_1"]["bias"][0]) == 2.0
    _, latest, step = restore.load_run(workdir)
    assert step == 4 and float(latest.params["Dense_1"]["bias"][0]) == 4.0
    assert not hasattr(latest, "opt_state")  # inference reads no optimizer state


def test_ensembles_reduce_their_members_scores_and_predict_writes_them(tiny_data, tmp_path):
    from cosmojax import predict, scoring

    dirs = [saved_scorer_run(tiny_data, tmp_path / f"s{b}", {b: 1.0}) for b in (1, 2, 6)]
    images = np.random.default_rng(0).integers(0, 40, (5, 64, 64), dtype=np.uint8)
    single = [scoring.load(d).score(images) for d in dirs]
    assert np.ptp(np.stack(single), axis=0).min() > 1.0  # the members disagree
    one = scoring.load(dirs[:1])  # an ensemble of one workdir is that workdir
    np.testing.assert_array_equal(one.score(images), single[0])
    np.testing.assert_array_equal(scoring.Ensemble([one]).score(images), single[0])
    mean = scoring.load(dirs).score(images)
    median = scoring.load(dirs, reduce="median").score(images)
    np.testing.assert_allclose(mean, np.mean(single, 0), rtol=1e-6)
    np.testing.assert_allclose(median, single[1], rtol=1e-6)
    assert np.abs(mean - median).min() > 0.1
    with pytest.raises(ValueError, match="reduce"):
        scoring.load(dirs, reduce="max")
    with pytest.raises(ValueError, match="at least one"):
        scoring.load([])
    out = tmp_path / "pred.csv"
    folder = tiny_data / "query"
    predict.main(
        ["--workdir", *map(str, dirs), "--reduce", "median", "--images", str(folder)]
        + ["--out", str(out)]
    )
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    paths = sorted(folder.glob("*.png"))
    want = scoring.load(dirs, reduce="median").score([layout.read_png(p) for p in paths])
    assert [r[0] for r in rows] == [p.stem for p in paths]
    np.testing.assert_allclose([float(r[1]) for r in rows], want, rtol=1e-5)


def test_labeled_head_adds_its_loss_and_changes_training(tiny_data, tmp_path):
    steps = {"num_steps": 2, "eval_every": 2, "checkpoint_every": 2}
    runs = {
        w: cli.train(
            stats_config(tiny_data, **steps, **{"model.labeled_weight": w}), tmp_path / f"w{w}"
        )
        for w in (0.0, 2.0)
    }
    plain, aux = (
        [r for r in metrics_lib.read_metrics(tmp_path / f"w{w}") if "train_loss" in r]
        for w in (0.0, 2.0)
    )
    first = aux[0]
    assert first["train_label_bce"] > 0.1
    # the same initial parameters and scored batch: the score term is the plain loss
    np.testing.assert_allclose(first["train_score_l1"], plain[0]["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(
        first["train_loss"], first["train_score_l1"] + 2.0 * first["train_label_bce"], rtol=1e-5
    )
    a, b = flat_params(runs[0.0].state.params), flat_params(runs[2.0].state.params)
    assert any("label_head" in k for k in b) and not any("label_head" in k for k in a)
    shared = [k for k in a if "Dense_0" in k]
    assert shared and not all(np.allclose(a[k], b[k]) for k in shared)
    with pytest.raises(ConfigError, match="labeled_weight"):
        tasks.build(tiny_config("scorer", tiny_data, **{"model.labeled_weight": 1.0}))
    with pytest.raises(ConfigError, match="stats_image_size is 1000"):
        cli.train(tiny_config("scorer_stats", tiny_data), tmp_path / "size")
    assert not list((tmp_path / "size").glob("*.json"))  # refused before the config is saved
    with pytest.raises(ConfigError, match="retrain"):
        tasks.build(stats_config(tiny_data, **{"model.stats_version": 0}))


def test_full_resolution_scorer_trains_on_device_and_scores_as_preparation_computes(
    tiny_data, tmp_path
):
    from cosmojax import predict, scoring

    steps = {"num_steps": 2, "eval_every": 2, "checkpoint_every": 2}
    runs = [
        cli.train(stats_config(tiny_data, **steps, **{"data.on_device": d}), tmp_path / str(d))
        for d in (False, True)
    ]
    a, b = (flat_params(r.state.params) for r in runs)
    # gathered on the device, the inputs fuse differently: rounding-level differences
    # (1e-8 here; statistics missing or misaligned would move parameters by 1e-3)
    assert all(np.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    s = scoring.load(tmp_path / "False")
    assert s.with_stats
    query = pipeline.load_split(str(tiny_data), "query", 16, stats=True)
    prepared = s.score_prepared(query.images, query.stats)
    ids, scores = predict.predict_folder(s, tiny_data / "query", progress=False)
    assert ids == list(query.ids)
    np.testing.assert_allclose(scores, prepared, atol=2e-2)  # float16 storage of the images
    other = s.score_prepared(query.images, query.stats[::-1])
    assert np.abs(other - prepared).max() > 1e-3  # the statistics matter to the score
    with pytest.raises(ValueError, match="statistics"):
        s.score_prepared(query.images)
    with pytest.raises(ValueError, match="expected shape"):
        s.score_prepared(query.images, query.stats[:-1])


def test_piecewise_encoding_follows_the_feature_quantiles():
    import flax.linen as nn

    class Encode(nn.Module):
        @nn.compact
        def __call__(self, x):
            return scorer_models.piecewise_linear(self, x, 4)

    m = Encode()
    x = jnp.asarray([[0.0, 10.0], [0.55, 2.5], [1.0, -3.0], [5.0, 30.0]])
    variables = m.init(jax.random.PRNGKey(0), x)
    levels = np.linspace(0.0, 1.0, scorer_models.QUANTILES)
    q = np.stack([levels, 10.0 + 20.0 * levels], 1)  # uniform on [0, 1] and on [10, 30]
    out = np.asarray(m.apply({"norm": {"quantiles": jnp.asarray(q, jnp.float32)}}, x))
    assert out.shape == (4, 8) and variables["norm"]["quantiles"].shape == q.shape
    np.testing.assert_allclose(out[1, :4], [1.0, 1.0, 0.2, 0.0], atol=1e-3)  # F(0.55) = 0.55
    np.testing.assert_allclose(out[0], [0, 0, 0, 0, 0, 0, 0, 0], atol=1e-3)  # both at the bottom
    np.testing.assert_allclose(out[2, :4], 1.0, atol=1e-3)  # the top of the first feature
    np.testing.assert_allclose(out[3], 1.0, atol=1e-3)  # beyond the range: all bins full
    assert np.all(out[1, 4:] == 0.0)  # below the second feature's range
