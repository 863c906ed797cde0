"""The DCGAN: architecture, D and G steps, BatchNorm modes, data parallelism,
resume, sampling, and the discriminator-based scorer."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosmojax import cli, sampling, scoring, tasks
from cosmojax.configlib import ConfigError
from cosmojax.data import intensity, layout, resample
from cosmojax.data import sky as sky_lib
from cosmojax.models import gan as gan_models
from cosmojax.tasks import gan as gan_task
from cosmojax.train import metrics as metrics_lib
from tests.helpers import (
    assert_same_training,
    assert_stops_on_nan_images,
    flat_params,
    sgd,
    tiny_config,
    train_on_devices,
)


def tiny_gan_config(data_dir, **kw):
    c = tiny_config("gan", data_dir, **kw)
    c.model.nz = 8
    c.model.ngf = 4
    c.model.ndf = 4
    c.data.score_threshold = 1.0
    return c


def n_params(tree):
    return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(tree))


def test_dcgan_parameter_counts_match_the_reference():
    g = jax.eval_shape(gan_models.Generator(64).init, jax.random.PRNGKey(0), jnp.zeros((1, 100)))
    d = jax.eval_shape(
        gan_models.Discriminator(64).init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1))
    )
    assert n_params(g["params"]) == 3_574_656 and n_params(d["params"]) == 2_763_520
    out = jax.eval_shape(
        gan_models.Generator(128).apply,
        jax.eval_shape(gan_models.Generator(128).init, jax.random.PRNGKey(0), jnp.zeros((1, 100))),
        jnp.zeros((2, 100)),
    )
    assert out.shape == (2, 128, 128, 1)


@pytest.fixture(scope="module")
def task_and_state(tiny_data):
    task = gan_task.GANTask(tiny_gan_config(tiny_data))
    task.generator = gan_models.Generator(16, 8, 4, None)  # no mesh axis outside shard_map
    task.discriminator = gan_models.Discriminator(16, 4, None)
    return task, task.init_state(jax.random.PRNGKey(0))


def test_d_step_and_g_step_change_only_their_own_parameters(task_and_state):
    task, state = task_and_state
    g_apply, d_apply = task.generator.apply, task.discriminator.apply
    real = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 8))
    stats = state.model_state
    generate = gan_task.generator_forward(g_apply, stats, z)

    fake, vjp, _ = jax.vjp(generate, state.params["g"], has_aux=True)
    pmean_free = functools.partial(jax.vmap, axis_name="data")
    d_fn = functools.partial(
        gan_task.d_step, d_apply=d_apply, tx_d=task.tx_d, real_target=1.0, loss="bce", gp=0.0
    )
    g_fn = functools.partial(gan_task.g_step, d_apply=d_apply, tx_g=task.tx_g, loss="bce")
    expand = lambda t: jax.tree.map(lambda x: x[None], t)  # noqa: E731
    squeeze = lambda t: jax.tree.map(lambda x: x[0], t)  # noqa: E731
    p_d, s_d, _, _ = squeeze(
        pmean_free(d_fn)(
            expand(state.params),
            expand(stats),
            expand(state.opt_state["d"]),
            real[None],
            fake[None],
        )
    )
    before, after = flat_params(state.params), flat_params(p_d)
    assert all(np.array_equal(before[k], after[k]) for k in before if k.startswith("['g']"))
    assert any(not np.array_equal(before[k], after[k]) for k in before if k.startswith("['d']"))
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(stats["d"]), jax.tree.leaves(s_d["d"]), strict=True)
    )
    p_g, _, _, _ = pmean_free(lambda p, s, o, f, r: g_fn(p, s, o, f, vjp, r))(
        expand(p_d), expand(s_d), expand(state.opt_state["g"]), fake[None], real[None]
    )
    after_g = flat_params(squeeze(p_g))
    assert all(np.array_equal(after[k], after_g[k]) for k in after if k.startswith("['d']"))
    assert any(not np.array_equal(after[k], after_g[k]) for k in after if k.startswith("['g']"))


def test_batchnorm_updates_in_training_not_in_eval(task_and_state):
    task, state = task_and_state
    d = task.discriminator
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (6, 16, 16, 1)), jnp.float32)
    variables = {"params": state.params["d"], "batch_stats": state.model_state["d"]}
    _, upd = d.apply(variables, x, train=True, mutable=["batch_stats"])
    changed = [
        not np.allclose(a, b)
        for a, b in zip(
            jax.tree.leaves(upd["batch_stats"]),
            jax.tree.leaves(variables["batch_stats"]),
            strict=True,
        )
    ]
    assert all(changed)
    out_a = d.apply(variables, x)  # eval mode: running statistics, so each image alone
    out_b = d.apply(variables, x[:2])
    np.testing.assert_allclose(out_a[:2], out_b, rtol=1e-5)
    train_a, _ = d.apply(variables, x, train=True, mutable=["batch_stats"])
    train_b, _ = d.apply(variables, x[:2], train=True, mutable=["batch_stats"])
    assert not np.allclose(train_a[:2], train_b)  # train mode: batch statistics


def test_training_resumes_exactly_and_samples(tiny_data, tmp_path):
    straight = cli.train(tiny_gan_config(tiny_data), tmp_path / "a")
    cli.train(tiny_gan_config(tiny_data, num_steps=3), tmp_path / "b")
    resumed = cli.train(tiny_gan_config(tiny_data), tmp_path / "b")
    # Exact on purpose: a resumed run replays the same compiled step on the same
    # batch and key (both depend on seed and step only) from a bit-exact restore, on
    # the same machine and device count (see cosmojax.train.loop).
    for tree in ("params", "model_state"):
        a = flat_params(getattr(straight.state, tree))
        b = flat_params(getattr(resumed.state, tree))
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "samples" / "step_000006.png").exists()
    g = sampling.load(tmp_path / "a")
    assert g.kind == "gan" and g.step == 6
    check_samples(g, straight.state, tmp_path / "a")
    with pytest.raises(NotImplementedError, match="not supported for GANs"):
        g.encode(g.sample(jax.random.PRNGKey(0), 2))


def check_samples(g, state, workdir):
    """Samples are the restored generator's eval-mode images of the prior's latents
    (plus the drawn sky): a pure function of the key; the interpolation's ends are
    its ends' images."""
    imgs = g.sample(jax.random.PRNGKey(0), 3)
    assert imgs.shape == (3, 16, 16) and imgs.dtype == np.uint8
    assert int(imgs.max()) > int(imgs.min())  # not one constant image
    np.testing.assert_array_equal(g.sample(jax.random.PRNGKey(0), 3), imgs)
    assert not np.array_equal(g.sample(jax.random.PRNGKey(1), 3), imgs)
    assert not np.array_equal(imgs[0], imgs[1])  # each image its own latent
    z = np.asarray(g.latents(jax.random.split(jax.random.PRNGKey(0))[0], 3))
    np.testing.assert_array_equal(g.decode(z), imgs)
    c, nz = g.config.data, int(g.config.model.nz)
    gen = gan_task.GANTask(g.config).generator  # eval mode: running statistics
    variables = {"params": state.params["g"], "batch_stats": state.model_state["g"]}
    out = jax.jit(gen.apply)(variables, z[:, :nz])
    want = intensity.inverse(
        (np.asarray(out)[..., 0] + 1.0) / 2.0, c.intensity_map, c.intensity_scale
    )
    if g.latent_dim > nz:  # data.sky 'draw': the last coordinate picks the sky level
        sky = sky_lib.SkyLevels.load(workdir / sky_lib.SKY_FILE).at(jnp.asarray(z[:, nz]))
        want = np.minimum(want + np.asarray(sky)[:, None, None], 1.0)
    np.testing.assert_allclose(g.decode_float(z), want, atol=1e-5)
    path = g.interpolate(z[0], z[1], 4).astype(int)
    assert path.shape == (4, 16, 16)
    ends = np.stack([g.decode(z[0])[0], g.decode(z[1])[0]]).astype(int)
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1)  # a level of rounding at most
    assert (path[1] != path[0]).any() and (path[2] != path[3]).any()  # the frames move


@pytest.mark.parametrize("d_norm", ["batch", "layer", "none"])
def test_critic_scorer_starts_from_the_discriminator(tiny_data, tmp_path, d_norm):
    r1 = 0.0 if d_norm == "batch" else 1.0  # the R1 penalty needs a D without BatchNorm
    over = {"model.d_norm": d_norm, "model.r1_weight": r1}
    cli.train(tiny_gan_config(tiny_data, num_steps=3, **over), tmp_path / "gan")
    config = tiny_config("gan_scorer", tiny_data, num_steps=4, **{"model.size": 16, "model.ndf": 4})
    config.model.gan_workdir = str(tmp_path / "gan")
    config.model.d_norm = "layer" if d_norm == "batch" else "batch"
    with pytest.raises(ConfigError, match=f"model.d_norm: .* trained with '{d_norm}'"):
        cli.train(config, tmp_path / "wrong")
    config.model.d_norm = d_norm
    result = cli.train(config, tmp_path / "critic")
    d = sampling.load(tmp_path / "gan").params["d"]
    backbone = flat_params(result.state.params["backbone"])
    assert all(np.array_equal(v, flat_params(d)[k]) for k, v in backbone.items())  # frozen
    if d_norm == "batch":  # BatchNorm statistics of real images, not the GAN's running ones
        got = result.state.model_state["batch_stats"]["backbone"]
        gan = {k: sampling.load(tmp_path / "gan").model_state["d"][k] for k in got}
        want = tasks.build(config)._real_batch_stats(result.state.params["backbone"], gan)
        for k in got:
            for m in ("mean", "var"):
                np.testing.assert_allclose(got[k][m], want[k][m], rtol=1e-5, err_msg=k)
            assert not np.allclose(got[k]["mean"], gan[k]["mean"])
    # a score is the trained critic (its state as trained) on the image reduced
    # as the GAN's were (block maxima), and the discriminator reads it as the
    # GAN's training gave it (log map, less its sky)
    _, paths, _ = layout.list_split(tiny_data, "scored")
    imgs = np.stack([layout.read_png(p) for p in paths[:3]])
    x = np.stack([resample.prepare_image(im, 16, "max") for im in imgs])[..., None]
    gan_data = sampling.load(tmp_path / "gan").config.data
    assert gan_data.intensity_map == "log" and gan_data.sky == "draw"
    p, model_state = result.state.params, result.state.model_state
    disc = gan_models.Discriminator(16, 4, norm=d_norm)
    h = disc.apply(
        {"params": p["backbone"], **{k: v["backbone"] for k, v in model_state.items()}},
        gan_task.to_tanh_range(jnp.asarray(x), gan_data),
        method="features",
    ).reshape(len(x), -1)
    h = jax.nn.relu(h @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    want = np.clip(h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"], 0.0, 8.0)[:, 0]
    scores = scoring.load(tmp_path / "critic", step=4).score(imgs)  # the last, not the best
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
    assert len(set(scores.tolist())) == 3  # each image its own score


def test_critic_scorer_defaults_fit_the_default_gan():
    """``configs/gan_scorer.py`` on a ``configs/gan.py`` run needs no flags."""
    from configs import gan, gan_scorer
    from cosmojax.tasks.scorer import CRITIC_SHARED

    g, s = gan.get_config(), gan_scorer.get_config()
    assert s.model.size == g.data.resolution
    for field, _ in CRITIC_SHARED:
        block, name = field.split(".")
        assert s[block][name] == g[block][name], field


def test_four_devices_match_one(tiny_data, tmp_path):
    """As the scorer's test (helpers.CHANGE_RTOL), and BatchNorm's statistics are
    the global batch's: its running statistics change as on one device."""
    batch_norm = {"model.d_norm": "batch", "model.r1_weight": 0.0}
    over = sgd(num_steps=3, checkpoint_every=100, eval_every=100, **batch_norm)
    runs = {
        n: train_on_devices(
            "tests.test_gan:tiny_gan_config", tiny_data, over, tmp_path / f"r{n}", n
        )
        for n in (1, 4)
    }
    stats = {k.split("]")[1] for k in runs[1]["final"] if k.startswith("['s']")}
    assert stats == {"['d'", "['g'"}  # both networks keep running statistics
    assert_same_training(runs[1], runs[4], metrics=("train_d_loss", "train_g_loss"))


def test_transposed_convolution_matches_its_definition():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(4, 4, 5, 6))
    # PyTorch's ConvTranspose2d(k=4, s=2, p=1): out[2i - 1 + t] += x[i] w[t] per axis
    ref = np.zeros((2, 8, 10, 6))
    for i in range(3):
        for j in range(4):
            for t in range(4):
                for u in range(4):
                    oy, ox = 2 * i - 1 + t, 2 * j - 1 + u
                    if 0 <= oy < 6 and 0 <= ox < 8:
                        ref[:, oy + 1, ox + 1] += x[:, i, j] @ w[t, u]
    layer = gan_models.ConvTranspose2x(6)
    out = layer.apply(
        {"params": {"kernel": jnp.asarray(w, jnp.float32)}}, jnp.asarray(x, jnp.float32)
    )
    np.testing.assert_allclose(out, ref[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-5)


def test_generator_update_through_the_stored_vjp_equals_a_direct_gradient(task_and_state):
    """g_step (SGD, lr 1) moves G by exactly -grad of the generator loss computed
    directly with jax.grad through G and the joint-batch D."""
    import optax

    task, state = task_and_state
    g_apply, d_apply = task.generator.apply, task.discriminator.apply
    real = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
    z = jax.random.normal(jax.random.PRNGKey(3), (4, 8))
    stats = state.model_state
    generate = gan_task.generator_forward(g_apply, stats, z)

    def direct_loss(pg):
        fake, _ = generate(pg)
        _, logits, _ = gan_task.d_logits(d_apply, state.params["d"], stats["d"], real, fake)
        return gan_task.bce_logits(logits, 1.0)

    expected = jax.grad(direct_loss)(state.params["g"])
    fake, vjp, _ = jax.vjp(generate, state.params["g"], has_aux=True)
    sgd = optax.sgd(1.0)
    step = functools.partial(gan_task.g_step, d_apply=d_apply, tx_g=sgd, loss="bce")
    new, _, _, _ = jax.vmap(
        lambda p, f, r: step(p, stats, sgd.init(p["g"]), f, vjp, r), axis_name="data"
    )(jax.tree.map(lambda x: x[None], state.params), fake[None], real[None])
    moved = jax.tree.map(lambda a, b: a - b[0], state.params["g"], new["g"])
    for got, want in zip(jax.tree.leaves(moved), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


def _last(workdir, key, n):
    rows = [r for r in metrics_lib.read_metrics(workdir) if key in r]
    return [r[key] for r in rows[-n:]]


def test_a_few_gan_steps_keep_d_fake_away_from_zero(tiny_data, tmp_path):
    """A discriminator strong enough to win against a generator that does not
    learn (D(fake) falls below 0.05 then) stays fooled often enough by one that does."""
    c = tiny_gan_config(tiny_data, num_steps=60, log_every=1, eval_every=60, checkpoint_every=60)
    c.model.ndf = 16
    c.optimizer.learning_rate = 1e-3
    cli.train(c, tmp_path / "g")
    d_fake = _last(tmp_path / "g", "train_d_fake", 30)
    assert len(d_fake) == 30 and np.mean(d_fake) > 0.05, d_fake


def test_wgan_gp_trains_and_penalises_the_critic_gradient(tiny_data, tmp_path):
    c = tiny_gan_config(
        tiny_data, num_steps=6, log_every=1, eval_every=6, checkpoint_every=6, batch_size=8
    )
    c.model.loss, c.model.d_norm, c.model.n_critic = "wgan_gp", "layer", 2
    cli.train(c, tmp_path / "w")
    rows = [r for r in metrics_lib.read_metrics(tmp_path / "w") if "train_d_loss" in r]
    assert len(rows) == 6 and all(np.isfinite(r["train_d_loss"]) for r in rows)
    g = sampling.load(tmp_path / "w")
    assert g.sample(jax.random.PRNGKey(0), 2).shape == (2, 16, 16)
    # the penalty at interpolates of real (1) and fake (0) 1x1 images under the
    # critic c * x^2: |grad| = 2 c eps, so the penalty is mean((2 c eps - 1)^2)
    # = 4 c^2 m2 - 4 c m1 + 1 (m1, m2: the moments of eps ~ U(0, 1), one draw per
    # example); two scales c give both moments, their variance 1/12 (0 if eps were
    # shared), and c = 1 the expectation 1/3
    n = 4096
    p_half, p_one = gp_of_square_critic([0.5, 1.0], n)
    m2 = (p_one - 1 - 2 * (p_half - 1)) / 2
    m1 = (m2 - (p_half - 1)) / 2
    se = {"p": np.sqrt(4 / 45 / n), "m1": np.sqrt(1 / 12 / n), "var": np.sqrt(1 / 180 / n)}
    assert abs(p_one - 1 / 3) < 4 * se["p"], p_one
    assert abs(m1 - 1 / 2) < 4 * se["m1"], m1
    assert abs(m2 - m1**2 - 1 / 12) < 4 * se["var"], m2 - m1**2
    with pytest.raises(ValueError, match="d_norm"):
        bad = tiny_gan_config(tiny_data)
        bad.model.loss, bad.model.d_norm = "wgan_gp", "batch"
        gan_task.GANTask(bad)


def gp_of_square_critic(scales, n: int) -> list[float]:
    """:func:`gan_task.gradient_penalty` (per-example keys: inside shard_map on one
    device) of the critic ``c * x^2`` (``c`` its parameters) between ``n`` real
    images of 1 and fakes of 0, 1x1 pixels, for each ``c`` in ``scales``."""
    from jax.sharding import AxisType
    from jax.sharding import PartitionSpec as P

    from cosmojax.train import parallel

    def d_apply(variables, y, train):
        return variables["params"] * (y**2).sum((1, 2, 3))

    def penalty(c, real, fake):
        return gan_task.gradient_penalty(d_apply, c, real, fake, jax.random.PRNGKey(5))

    mesh = jax.make_mesh(
        (1,), (parallel.AXIS,), axis_types=(AxisType.Auto,), devices=jax.devices()[:1]
    )
    batch = P(parallel.AXIS)
    fn = jax.jit(
        jax.shard_map(
            penalty, mesh=mesh, in_specs=(P(), batch, batch), out_specs=P(), check_vma=False
        )
    )
    real, fake = jnp.ones((n, 1, 1, 1)), jnp.zeros((n, 1, 1, 1))
    return [float(fn(jnp.float32(c), real, fake)) for c in scales]


def test_gan_discriminator_learns_and_a_non_finite_loss_stops(tiny_data, tmp_path):

    c = tiny_gan_config(tiny_data, num_steps=10, log_every=1, eval_every=100, checkpoint_every=100)
    cli.train(c, tmp_path / "g")
    d_loss = _last(tmp_path / "g", "train_d_loss", 10)
    assert np.mean(d_loss[-5:]) < np.mean(d_loss[:3])  # D learns to tell them apart
    c = tiny_gan_config(tiny_data, num_steps=4, eval_every=100, checkpoint_every=100)
    assert_stops_on_nan_images(c, tmp_path / "nan", "d_loss")


def test_r1_penalty_is_the_squared_gradient_norm_at_real_images(tiny_data):
    """Zero for a discriminator blind to its input, quadrupled when its logit is
    doubled; ``d_step`` adds half of gamma times it; a BatchNorm D is refused."""
    d = gan_models.Discriminator(16, 4, norm="none")
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
    params = d.init(jax.random.PRNGKey(0), x)["params"]
    pen = float(gan_task.r1_penalty(d.apply, params, x))
    doubled = {**params, "out": jax.tree.map(lambda w: 2.0 * w, params["out"])}
    blind = jax.tree.map(lambda w: w, params)
    blind["convs_0"] = {**params["convs_0"], "kernel": jnp.zeros_like(params["convs_0"]["kernel"])}
    assert pen > 0
    np.testing.assert_allclose(float(gan_task.r1_penalty(d.apply, doubled, x)), 4 * pen, rtol=1e-4)
    assert float(gan_task.r1_penalty(d.apply, blind, x)) == 0.0

    tx = gan_task.optim.build(tiny_gan_config(tiny_data).optimizer, 10)[0]
    fake = -x
    losses = {}
    for r1 in (0.0, 1e4):  # the penalty of an initial D is small
        step = functools.partial(
            gan_task.d_step, d_apply=d.apply, tx_d=tx, real_target=1.0, loss="bce", gp=0.0, r1=r1
        )
        _, _, _, m = jax.vmap(step, axis_name="data")(
            {"d": jax.tree.map(lambda w: w[None], params)},
            {"d": {}},
            jax.tree.map(lambda w: w[None], tx.init(params)),
            x[None],
            fake[None],
        )
        losses[r1] = float(m["d_loss"][0])
    np.testing.assert_allclose(losses[1e4] - losses[0.0], 5e3 * pen, rtol=1e-3)
    bad = tiny_gan_config(tiny_data)
    bad.model.r1_weight, bad.model.d_norm = 1.0, "batch"
    with pytest.raises(ConfigError, match="r1_weight"):
        gan_task.GANTask(bad)


@pytest.mark.parametrize("symmetric", [True, False])
def test_gan_augment_turns_the_real_images(tiny_data, symmetric):
    """With ``data.augment`` the discriminator sees a random symmetry of each real
    image: no difference for images every symmetry leaves alone, a different
    step for a bright pixel in one corner."""
    c = tiny_gan_config(tiny_data)
    c.model.d_norm = "layer"
    task = gan_task.GANTask(c)
    state = task.init_state(jax.random.PRNGKey(0))
    img = np.zeros((8, 16, 16, 1), np.float32)
    if symmetric:
        img[:, 6:10, 6:10] = 0.8
    else:
        img[:, 0, 1] = 0.8
    batch = {"image": jnp.asarray(img)[None]}
    out = {}
    for augment in (False, True):
        step = functools.partial(
            task.train_step.func, **{**task.train_step.keywords, "augment": augment}
        )
        _, m = jax.vmap(step, axis_name="data")(jax.tree.map(lambda v: v[None], state), batch)
        out[augment] = float(m["d_loss"][0])
    assert (out[True] == out[False]) == symmetric, out


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_resize_upsampling_has_no_checkerboard(upsample):
    """On a constant input, a random stride-2 transposed convolution makes an
    alternating pattern (each output phase has its own taps); nearest 2x and a
    3x3 convolution stays constant away from the border."""
    layer = gan_models.ConvTranspose2x(3) if upsample == "transpose" else gan_models.ResizeConv2x(3)
    x = jnp.ones((1, 6, 6, 2))
    params = layer.init(jax.random.PRNGKey(0), x)
    out = np.asarray(layer.apply(params, x))[0, 2:-2, 2:-2]
    assert out.shape == (8, 8, 3)
    assert np.allclose(out, out[0, 0], rtol=1e-5) == (upsample == "resize")
    g = gan_models.Generator(16, 8, 4, upsample=upsample)
    variables = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)))
    assert g.apply(variables, jnp.zeros((2, 8))).shape == (2, 16, 16, 1)
    with pytest.raises(ConfigError, match="g_upsample"):
        gan_models.Generator(16, 8, 4, upsample="bilinear").init(
            jax.random.PRNGKey(0), jnp.zeros((1, 8))
        )


def test_the_output_margin_reaches_both_ends_and_keeps_a_gradient():
    x = jnp.arctanh(jnp.asarray([-0.97, -0.5, 0.0, 0.5, 0.97]))
    plain, wide = gan_models.output_map(x), gan_models.output_map(x, 0.05)
    np.testing.assert_allclose(plain, [-0.97, -0.5, 0.0, 0.5, 0.97], atol=1e-6)
    np.testing.assert_allclose(wide, [-1.0, -0.525, 0.0, 0.525, 1.0], atol=1e-6)
    assert float(wide.max()) == 1.0 and float(wide.min()) == -1.0
    grad = jax.grad(lambda v: gan_models.output_map(v, 0.05).sum())(x)
    np.testing.assert_allclose(grad, 1.0 - np.tanh(np.asarray(x)) ** 2, rtol=1e-5)


@pytest.mark.parametrize("group", [0, 4])
def test_minibatch_sd_couples_images_only_inside_their_group(group):
    d = gan_models.Discriminator(16, 4, norm="none", mbstd_group=group)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)), jnp.float32)
    params = d.init(jax.random.PRNGKey(0), x[: max(group, 1)])
    before = np.asarray(d.apply(params, x))
    after = np.asarray(d.apply(params, x.at[5].set(-x[5])))
    np.testing.assert_array_equal(before[:4], after[:4])  # the other group
    others = [4, 6, 7]
    assert (not np.allclose(before[others], after[others], rtol=1e-6)) == bool(group)


def test_a_minibatch_group_that_does_not_divide_the_batch_is_refused(tiny_data):
    bad = tiny_gan_config(tiny_data)
    bad.model.mbstd_group = 3  # batch 8
    with pytest.raises(ConfigError, match="mbstd_group"):
        gan_task.GANTask(bad)


def _one_device(fn, *args):
    """``fn`` on one device's shard: a leading axis of 1 and the ``data`` axis name."""
    out = jax.jit(jax.vmap(fn, axis_name="data"))(*jax.tree.map(lambda x: x[None], args))
    return jax.tree.map(lambda x: x[0], out)


def test_wasserstein_losses_are_the_critics_mean_differences():
    """The critic's loss is mean D(fake) - mean D(real) plus ``gp`` times the
    penalty; the generator's is -mean D(fake), pulled back through its VJP (here
    G's parameters are the fakes themselves: its update is minus that gradient)."""
    import optax

    d = gan_models.Discriminator(16, 4, norm="layer")
    rng = np.random.default_rng(4)
    real, fake = (jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32) for _ in "ab")
    key, tx = jax.random.PRNGKey(2), optax.sgd(1.0)
    d_step = functools.partial(
        gan_task.d_step, d_apply=d.apply, tx_d=tx, real_target=1.0, loss="wgan_gp"
    )
    g_step = functools.partial(gan_task.g_step, d_apply=d.apply, tx_g=tx, loss="wgan_gp")

    def run(real, fake):
        params = d.init(jax.random.PRNGKey(0), real)["params"]
        critic = lambda x: d.apply({"params": params}, x, train=True)  # noqa: E731
        m_d = [
            d_step({"d": params}, {"d": {}}, tx.init(params), real, fake, key, gp=gp)[3]
            for gp in (0.0, 10.0)
        ]
        _, vjp = jax.vjp(lambda f: f, fake)
        new, _, _, m_g = g_step({"g": fake, "d": params}, {"d": {}}, tx.init(fake), fake, vjp)
        want = {
            "logits": critic(jnp.concatenate([real, fake])),
            "pen": gan_task.gradient_penalty(d.apply, params, real, fake, key),
            "g_grad": jax.grad(lambda f: -critic(f).mean())(fake),
        }
        return m_d, fake - new["g"], m_g, want

    m_d, g_moved, m_g, want = _one_device(run, real, fake)
    logits = want["logits"]
    d_loss = float(logits[4:].mean() - logits[:4].mean())
    np.testing.assert_allclose(float(m_d[0]["d_loss"]), d_loss, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(m_d[0]["d_real"]), float(logits[:4].mean()), rtol=1e-5)
    assert float(want["pen"]) > 0
    gap = float(m_d[1]["d_loss"] - m_d[0]["d_loss"])
    np.testing.assert_allclose(gap, 10 * float(want["pen"]), rtol=1e-4)
    np.testing.assert_allclose(float(m_g["g_loss"]), -float(logits[4:].mean()), rtol=1e-5)
    np.testing.assert_allclose(g_moved, want["g_grad"], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("n_critic", [2, 4])
def test_each_critic_update_takes_its_own_slice_of_the_batch(n_critic):
    """``train_step`` with stand-ins for the networks and updates: the critic
    updates, in order, read consecutive slices of the (mapped) real images, and
    each its own gradient-penalty key."""
    from cosmojax.train.state import TrainState

    cfg = tiny_config("gan", "unused").data

    def d_update(params, stats, opt_d, real, fake, key):
        seen = jnp.concatenate([params["d"]["seen"], real])
        keys = jnp.concatenate([params["d"]["keys"], key[None]])
        return {**params, "d": {"seen": seen, "keys": keys}}, stats, opt_d, {}

    step = functools.partial(
        gan_task.train_step,
        g_apply=lambda v, z, train, mutable: (jnp.zeros((len(z), 16, 16, 1)), {"batch_stats": {}}),
        d_update=d_update,
        g_update=lambda params, stats, opt_g, fake, vjp, real: (params, stats, opt_g, {}),
        nz=3,
        data_cfg=cfg,
        n_critic=n_critic,
    )
    key = jax.random.PRNGKey(0)
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params={
            "g": {},
            "d": {"seen": jnp.zeros((0, 16, 16, 1)), "keys": jnp.zeros((0, 2), jnp.uint32)},
        },
        opt_state={"g": {}, "d": {}},
        model_state={"g": {}, "d": {}},
        rng=key,
    )
    x = jnp.asarray(np.random.default_rng(5).uniform(0, 1, (8, 16, 16, 1)), jnp.float32)
    new, _ = _one_device(step, state, {"image": x})
    want = gan_task.to_tanh_range(x, cfg)
    np.testing.assert_allclose(new.params["d"]["seen"], want, rtol=1e-6, atol=1e-6)
    assert len({tuple(k) for k in np.asarray(new.params["d"]["keys"]).tolist()}) == n_critic


def test_the_generator_reads_intensities_in_the_tanh_range():
    c = tiny_config("gan", "unused")
    c.data.sky = "keep"
    x = jnp.zeros((2, 4, 4, 1)).at[1].set(1.0)  # an empty and a saturated image
    out = np.asarray(gan_task.to_tanh_range(x, c.data))
    np.testing.assert_allclose(out[:, 0, 0, 0], [-1.0, 1.0], atol=1e-6)
