"""Scorer training: the paper model, the shared loop, data parallelism, resume, NaN stop."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosmojax.models import scorer as scorer_models
from cosmojax.train import loop
from cosmojax.train import metrics as metrics_lib
from tests.helpers import flat_params, run_on_cpu_devices, tiny_config


def test_paper_cnn_has_the_papers_parameter_count():
    variables = jax.eval_shape(
        scorer_models.PaperCNN().init, jax.random.PRNGKey(0), jnp.zeros((1, 140, 140, 1))
    )
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))
    assert n == 7_892_297
    kernels = [v.shape for v in jax.tree.leaves(variables["params"]) if len(v.shape) > 1]
    assert sorted(kernels) == sorted([(5, 5, 1, 32), (5, 5, 32, 64), (35 * 35 * 64, 100), (100, 1)])


def test_training_lowers_the_loss_and_logs(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, num_steps=30, eval_every=30, checkpoint_every=30)
    config.optimizer.learning_rate = 3e-3
    result = loop.train_and_evaluate(config, tmp_path / "run")
    rows = metrics_lib.read_metrics(tmp_path / "run")
    losses = [r["train_loss"] for r in rows if "train_loss" in r]
    assert len(losses) == 30 and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert {"eval_mae", "eval_mae_const"} <= set(result.eval_metrics)
    assert any("throughput" in r and "learning_rate" in r for r in rows)
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_resumed_run_is_bit_identical(tiny_data, tmp_path):
    config = tiny_config("scorer", tiny_data, **{"data.augment": True})
    straight = loop.train_and_evaluate(config, tmp_path / "a")
    loop.train_and_evaluate(
        tiny_config("scorer", tiny_data, num_steps=3, **{"data.augment": True}), tmp_path / "b"
    )
    resumed = loop.train_and_evaluate(config, tmp_path / "b")
    assert resumed.step == straight.step == 6
    a, b = flat_params(straight.state.params), flat_params(resumed.state.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    ma = [r for r in metrics_lib.read_metrics(tmp_path / "a") if "train_loss" in r]
    mb = [r for r in metrics_lib.read_metrics(tmp_path / "b") if "train_loss" in r]
    assert [r["train_loss"] for r in ma] == [r["train_loss"] for r in mb]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    from cosmojax import tasks

    config = tiny_config("scorer", tiny_data, num_steps=12, checkpoint_every=2, eval_every=100)
    task = tasks.build(config)
    train, val = task.splits
    bad = train.targets.copy()
    bad[:] = np.nan
    poisoned = type(train)(train.ids, train.images, bad)
    task.splits = (poisoned, val)
    with pytest.raises(loop.NonFiniteError, match=r"non-finite loss \(nan\) at step 1;"):
        loop.train_and_evaluate(config, tmp_path / "nan", task=task)
    assert not (tmp_path / "nan" / "checkpoints" / "2").exists()


SUBPROCESS = """
import json, sys, numpy as np, jax
from cosmojax.train import loop
from tests.helpers import tiny_config, flat_params
config = tiny_config("scorer", sys.argv[1], num_steps=4, checkpoint_every=100, eval_every=100,
                     **{"data.augment": True})
r = loop.train_and_evaluate(config, sys.argv[2])
np.savez(sys.argv[3], **flat_params(r.state.params))
print(json.dumps({"devices": jax.device_count()}))
"""


def test_data_parallel_matches_one_device(tiny_data, tmp_path):
    out = {}
    for n in (1, 4):
        proc = run_on_cpu_devices(
            SUBPROCESS, [tiny_data, tmp_path / f"run{n}", tmp_path / f"p{n}.npz"], n
        )
        assert json.loads(proc.stdout.strip().splitlines()[-1])["devices"] == n
        out[n] = np.load(tmp_path / f"p{n}.npz")
    for k in out[1].files:
        np.testing.assert_allclose(out[4][k], out[1][k], rtol=1e-5, atol=1e-6)


def test_stats_scorer_normalises_its_features_from_data(tiny_data, tmp_path):
    config = tiny_config("scorer_stats", tiny_data, num_steps=4, eval_every=4, checkpoint_every=4)
    config.model.cnn_size = 8
    result = loop.train_and_evaluate(config, tmp_path / "stats")
    q = np.asarray(result.state.model_state["norm"]["quantiles"])
    assert q.shape[0] == scorer_models.QUANTILES and q.shape[1] > 50
    assert np.all(np.diff(q, axis=0) >= 0) and not np.allclose(q[:, 0], np.linspace(-5, 5, 64))
    from cosmojax import scoring

    s = scoring.load(tmp_path / "stats")
    np.testing.assert_array_equal(s.model_state["norm"]["quantiles"], q)
    assert s.score(np.zeros((1, 40, 40), np.uint8)).shape == (1,)


def test_on_device_data_gives_the_same_run_as_the_host_pipeline(tiny_data, tmp_path):
    host = loop.train_and_evaluate(
        tiny_config("scorer", tiny_data, **{"data.augment": True}), tmp_path / "host"
    )
    dev = loop.train_and_evaluate(
        tiny_config("scorer", tiny_data, **{"data.augment": True, "data.on_device": True}),
        tmp_path / "device",
    )
    a, b = flat_params(host.state.params), flat_params(dev.state.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_bfloat16_compute_matches_float32_loss(tiny_data):
    from cosmojax import tasks

    f32 = tasks.build(tiny_config("scorer", tiny_data))
    bf16 = tasks.build(tiny_config("scorer", tiny_data, dtype="bfloat16"))
    state = f32.init_state(jax.random.PRNGKey(0))
    batch = next(iter(f32.train_batches(0, 1)))
    for t in (f32, bf16):
        pred = t.model.apply({"params": state.params}, jnp.asarray(batch["image"]))
        t.loss = float(jnp.mean(jnp.abs(pred - batch["target"])))
        assert pred.dtype == jnp.float32
    assert bf16.loss == pytest.approx(f32.loss, rel=0.02)
    leaves = jax.tree.leaves(bf16.init_state(jax.random.PRNGKey(0)).params)
    assert all(x.dtype == jnp.float32 for x in leaves)  # parameters stay float32


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

    loop.train_and_evaluate(tiny_config("scorer", tiny_data, num_steps=2), tmp_path / "run")
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
