"""The VAE: the paper's model, the ELBO, sampling API, full-size generation, resume."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cosmojax import cli, generate, sampling, tasks, upscale
from cosmojax.data import layout
from cosmojax.evaluation import catalog
from cosmojax.models import vae as vae_models
from tests.helpers import assert_stops_on_nan_images, flat_params, tiny_config


def tiny_vae_config(data_dir, **kw):
    c = tiny_config("vae", data_dir, **kw)
    c.model.hidden = 32
    c.model.latent_dim = 8
    c.data.score_threshold = 1.0
    return c


def test_paper_vae_shapes_and_parameter_count():
    model = vae_models.VAE(kind="mlp", resolution=128, hidden=1000, latent_dim=64)
    x, eps = jnp.zeros((2, 128, 128, 1)), jnp.zeros((2, 64))
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, eps)
    n = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables))
    assert n == 34_980_512  # the same as the PyTorch reference's VAE
    logits, mean, logvar = jax.eval_shape(model.apply, variables, x, eps)
    assert logits.shape == (2, 128, 128, 1) and mean.shape == logvar.shape == (2, 64)


def test_default_vae_keeps_the_papers_architecture():
    """configs/vae.py: the paper's MLP (1000 hidden, latent 64); only the output
    layer is twice as wide (two channels per pixel) plus a 690-weight level head
    (empty, 16 levels, saturated)."""
    from configs import vae as vae_config

    c = vae_config.get_config()
    assert (c.model.kind, c.model.hidden, c.model.latent_dim) == ("mlp", 1000, 64)
    model = vae_models.build(c.model, 128)
    x, eps = jnp.zeros((2, 128, 128, 1)), jnp.zeros((2, 64))
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, eps)
    n = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables))
    head = (2 * 32 + 32) + (32 * 18 + 18)
    assert n == 34_980_512 + 1000 * 128 * 128 + 128 * 128 + head
    logits, _, _ = jax.eval_shape(model.apply, variables, x, eps)
    assert logits.shape == (2, 128, 128, 18)


def test_categorical_likelihood_matches_numpy_and_draws_valid_images():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 3, 3, 5)).astype(np.float32)
    x = np.where(rng.uniform(size=(2, 3, 3, 1)) < 0.5, 0.0, rng.uniform(size=(2, 3, 3, 1)))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    level = np.where(x > 0, np.clip(np.ceil(x * 4), 1, 4), 0).astype(int)
    density = np.take_along_axis(logp, level, -1) + np.where(level > 0, np.log(4), 0)  # p / width
    ref = -density.sum((1, 2, 3))
    got = vae_models.nll(jnp.asarray(logits), jnp.asarray(x, jnp.float32), "categorical")
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    sure = np.full((1, 4, 4, 5), -30.0, np.float32)
    sure[..., 4] = 30.0  # every pixel in the top level
    draw = vae_models.sample_image(jax.random.PRNGKey(0), jnp.asarray(sure), "categorical")
    assert float(draw.min()) >= 0.75 and float(draw.max()) <= 1.0
    sure[..., 4], sure[..., 1] = -30.0, 30.0  # every pixel in the lowest level, above a floor
    draw = vae_models.sample_image(jax.random.PRNGKey(0), jnp.asarray(sure), "categorical")
    assert float(draw.min()) < 0.05  # uniform inside the bin [0, 0.25]
    draw = vae_models.sample_image(
        jax.random.PRNGKey(0), jnp.asarray(sure), "categorical", floor=0.1
    )
    assert 0.1 <= float(draw.min()) and float(draw.max()) <= 0.25
    sure[..., 1], sure[..., 0] = -30.0, 30.0  # every pixel empty, whatever the floor
    empty = vae_models.sample_image(
        jax.random.PRNGKey(0), jnp.asarray(sure), "categorical", floor=0.1
    )
    assert float(jnp.abs(empty).max()) == 0.0
    draw = vae_models.sample_image(jax.random.PRNGKey(0), jnp.asarray(sure), "categorical")
    assert float(jnp.abs(draw).max()) == 0.0


def test_saturated_level_is_a_point_mass_at_the_maximum():
    """With ``saturated``, the last level is exactly 1 (255 counts): its NLL has no
    bin width, draws in it are exactly 1, and the mean counts it as 1."""
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2, 3, 3, 6)).astype(np.float32)  # empty, 4 levels, saturated
    x = rng.choice([0.0, 0.3, 0.8, 0.99, 1.0], size=(2, 3, 3, 1)).astype(np.float32)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    level = np.where(x > 0, np.clip(np.ceil(x * 4), 1, 4), 0).astype(int)
    level = np.where(x >= 1.0, 5, level)
    width = np.where((level > 0) & (level < 5), np.log(4), 0)
    ref = -(np.take_along_axis(logp, level, -1) + width).sum((1, 2, 3))
    got = vae_models.nll(jnp.asarray(logits), jnp.asarray(x), "categorical", saturated=True)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    probs = np.array([0.5, 0.1, 0.1, 0.1, 0.05, 0.15], np.float32)
    many = jnp.broadcast_to(jnp.log(probs), (2, 64, 64, 6))
    draw = np.asarray(
        vae_models.sample_image(jax.random.PRNGKey(5), many, "categorical", saturated=True)
    )
    assert abs((draw == 1.0).mean() - 0.15) < 0.02  # the saturated level, exactly 1
    assert abs(((draw > 0.75) & (draw < 1.0)).mean() - 0.05) < 0.02  # the top bin, below 1
    mean = np.asarray(vae_models.mean_image(many[:1, :1, :1], "categorical", saturated=True))
    centers = np.array([0, 0.125, 0.375, 0.625, 0.875, 1.0])
    np.testing.assert_allclose(mean.ravel(), [(probs * centers).sum()], rtol=1e-5)


@pytest.mark.parametrize("correlation", [0.0, 1.5])
def test_categorical_draws_keep_each_pixels_marginal(correlation):
    probs = np.array([0.6, 0.1, 0.2, 0.1], np.float32)  # empty, then 3 levels
    logits = jnp.broadcast_to(jnp.log(probs), (4, 96, 96, 4))
    draw = np.asarray(
        vae_models.sample_image(
            jax.random.PRNGKey(1), logits, "categorical", correlation=correlation
        )
    )
    level = np.where(draw > 0, np.ceil(draw * 3), 0).astype(int)
    freq = np.bincount(level.ravel(), minlength=4) / level.size
    np.testing.assert_allclose(freq, probs, atol=0.03)
    inside = draw[level == 2] * 3 - 1  # uniform inside the bin
    assert abs(inside.mean() - 0.5) < 0.05 and inside.min() >= 0 and inside.max() <= 1


def test_correlated_draws_gather_occupied_pixels_into_fewer_sources():
    logits = jnp.broadcast_to(jnp.log(jnp.array([0.95, 0.05])), (4, 96, 96, 2))
    counts = {}
    for corr in (0.0, 1.5):
        draw = np.asarray(
            vae_models.sample_image(jax.random.PRNGKey(2), logits, "categorical", correlation=corr)
        )
        assert abs((draw > 0).mean() - 0.05) < 0.015, corr  # same occupied fraction
        counts[corr] = sum(ndimage.label(d[..., 0] > 0)[1] for d in draw)
    assert counts[1.5] < 0.5 * counts[0.0], counts


def test_kl_schedules_and_free_bits():
    w = [float(vae_models.kl_weight(s, beta=2.0, warmup_steps=10)) for s in (0, 5, 10, 50)]
    assert w == [0.0, 1.0, 2.0, 2.0]
    cyc = [float(vae_models.kl_weight(s, cycles=2, num_steps=100)) for s in (0, 25, 40, 50, 75)]
    assert cyc == [0.0, 1.0, 1.0, 0.0, 1.0]
    mean = jnp.array([[0.1, 3.0], [-0.1, 3.0]])
    logvar = jnp.zeros((2, 2))
    plain = vae_models.free_bits_kl(mean, logvar, 0.0)
    np.testing.assert_allclose(plain, vae_models.kl_to_standard_normal(mean, logvar))
    floored = vae_models.free_bits_kl(mean, logvar, 0.5)  # dim 0 (0.005 nats) is lifted
    np.testing.assert_allclose(floored, 0.5 + 4.5, rtol=1e-6)
    g = jax.grad(lambda m: vae_models.free_bits_kl(m, logvar, 0.5).sum())(mean)
    assert float(jnp.abs(g[:, 0]).max()) == 0.0 and float(jnp.abs(g[:, 1]).min()) > 0


def test_reconstruction_of_a_set_with_bright_sources_keeps_the_peaks():
    """A tiny MLP VAE trained on images with one bright source each reproduces the
    source: its reconstruction peaks at the source, near the source's value."""
    import optax

    rng = np.random.default_rng(0)
    n, r = 16, 12
    x = np.zeros((n, r, r, 1), np.float32)
    where = rng.integers(1, r - 1, size=(n, 2))
    for i, (a, b) in enumerate(where):
        x[i, a - 1 : a + 2, b - 1 : b + 2] = 0.3  # faint wings ...
        x[i, a, b] = 1.0  # ... around a saturated core
    model = vae_models.VAE(
        kind="mlp", resolution=r, hidden=128, latent_dim=8, out_channels=2, levels=8
    )
    params = model.init(jax.random.PRNGKey(0), x, jnp.zeros((n, 8)))["params"]
    tx = optax.adam(2e-3)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, key):
        def loss(p):
            logits, mean, logvar = model.apply({"params": p}, x, jax.random.normal(key, (n, 8)))
            return vae_models.negative_elbo(logits, x, mean, logvar, "categorical")[0].mean()

        g = jax.grad(loss)(params)
        u, opt = tx.update(g, opt)
        return optax.apply_updates(params, u), opt

    for k in range(1200):
        params, opt = step(params, opt, jax.random.PRNGKey(k))
    mean, _ = model.apply({"params": params}, x, method=vae_models.VAE.encode)
    logits = model.apply({"params": params}, mean, method=vae_models.VAE.decode)
    recon = np.asarray(vae_models.mean_image(logits, "categorical"))[..., 0]
    peaks = [np.unravel_index(np.argmax(im), im.shape) for im in recon]
    hits = sum(tuple(p) == tuple(w) for p, w in zip(peaks, where, strict=True))
    assert hits >= 14, (hits, peaks, where.tolist())
    assert np.median(recon.max(axis=(1, 2))) > 0.7


def test_conv_vae_shapes():
    model = vae_models.VAE(kind="conv", resolution=32, latent_dim=4, channels=(8, 16))
    x, eps = jnp.zeros((3, 32, 32, 1)), jnp.zeros((3, 4))
    variables = model.init(jax.random.PRNGKey(0), x, eps)
    logits, mean, _ = model.apply(variables, x, eps)
    assert logits.shape == (3, 32, 32, 1) and mean.shape == (3, 4)


def test_elbo_terms_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 3, 1)).astype(np.float32) * 3
    x = rng.uniform(size=(2, 3, 3, 1)).astype(np.float32)
    mean, logvar = rng.normal(size=(2, 4)), rng.normal(size=(2, 4)) * 0.5
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    nll_ref = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(2, -1).sum(1)
    kl_ref = 0.5 * (np.exp(logvar) + mean**2 - 1 - logvar).sum(1)
    loss, nll, kl = vae_models.negative_elbo(
        jnp.asarray(logits), jnp.asarray(x), jnp.asarray(mean), jnp.asarray(logvar)
    )
    np.testing.assert_allclose(nll, nll_ref, rtol=1e-5)
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-5)
    np.testing.assert_allclose(loss, nll_ref + kl_ref, rtol=1e-5)


def test_gradient_flows_through_the_reparameterisation():
    eps = jnp.array([0.5, -1.0])
    g_mean, g_logvar = jax.grad(
        lambda m, lv: jnp.sum(vae_models.reparameterize(m, lv, eps) ** 2), argnums=(0, 1)
    )(jnp.ones(2), jnp.zeros(2))
    np.testing.assert_allclose(g_mean, 2 * (1 + eps), rtol=1e-6)
    np.testing.assert_allclose(g_logvar, (1 + eps) * eps, rtol=1e-6)


@pytest.fixture(scope="module")
def vae_run(tiny_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vae") / "run"
    result = cli.train(tiny_vae_config(tiny_data), workdir)
    return workdir, result


def test_training_writes_samples_curves_and_resumes_exactly(vae_run, tiny_data, tmp_path):
    workdir, straight = vae_run
    assert (workdir / "samples" / "step_000003.png").exists()
    assert (workdir / "samples" / "recon_step_000006.png").exists()
    assert Image.open(workdir / "curves.png").size[0] > 500
    cli.train(tiny_vae_config(tiny_data, num_steps=4), tmp_path / "b")
    resumed = cli.train(tiny_vae_config(tiny_data), tmp_path / "b")
    a, b = flat_params(straight.state.params), flat_params(resumed.state.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_sampling_api_returns_intensities_on_the_original_scale(vae_run):
    """The model works on log-stretched block maxima; users get the inverse map of
    its output (0-255 scale), for decode, sample and reconstruct alike."""
    from cosmojax.data import intensity
    from cosmojax.tasks import vae as vae_task

    workdir, _ = vae_run
    g = sampling.load(workdir)
    d = g.config.data
    assert d.intensity_map == "log" and d.downsample == "max"
    task = vae_task.VAETask(g.config)
    z = np.asarray(g.latents(jax.random.PRNGKey(0), 4))
    logits = task.model.apply({"params": g.params}, z, method=vae_models.VAE.decode)
    m = g.config.model
    model_space = np.asarray(vae_models.mean_image(logits, m.likelihood, m.saturated_level))[..., 0]
    expected = np.asarray(intensity.inverse(model_space, d.intensity_map, d.intensity_scale))
    np.testing.assert_allclose(g.decode_float(z), expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected - model_space).max() > 1e-3  # the map is not the identity here
    np.testing.assert_array_equal(g.decode(z), np.clip(np.rint(expected * 255), 0, 255))
    draws = g.sample_float(jax.random.PRNGKey(1), 8)
    assert draws.shape == (8, 16, 16) and draws.min() >= 0 and draws.max() <= 1


def test_a_drawn_pixel_that_is_not_empty_holds_at_least_one_count(vae_run, monkeypatch):
    """The run's draws keep the data's support: the lowest level's bin reaches
    down to 0 counts, and its draws below half a count would round to empty
    pixels (fewer faint sources than the model drew)."""
    from cosmojax.tasks import vae as vae_task

    g = sampling.load(vae_run[0])
    levels = g.config.model.levels + 2  # empty, the levels, saturated

    def lowest_level(module, z):  # the decoder, sure of level 1 everywhere
        r = g.resolution
        return jnp.full((z.shape[0], r, r, levels), -30.0).at[..., 1].set(30.0)

    monkeypatch.setattr(vae_models.VAE, "decode", lowest_level)
    draw = vae_task.VAETask(g.config).draw_fn()
    x = np.asarray(draw(g.params, {}, np.zeros((4, g.latent_dim)), jax.random.PRNGKey(0)))
    assert x.min() >= 1 / 255 - 1e-7 and x.max() < 1.5 / 255  # the lowest level: one count
    assert (np.rint(x * 255) == 1).all()


def test_sampling_api(vae_run):
    workdir, result = vae_run
    from cosmojax import restore
    from cosmojax.train import metrics as metrics_lib

    g = sampling.load(workdir)  # the checkpoint with the lowest statistics Fréchet distance
    rows = metrics_lib.read_metrics(workdir)
    evals = {r["step"]: r["eval_stats_frechet"] for r in rows if "eval_stats_frechet" in r}
    evals = {k: v for k, v in evals.items() if k % 3 == 0}  # checkpointed steps (every 3)
    assert g.step == min(evals, key=evals.get), evals
    _, state, _ = restore.load_run(workdir, step=g.step)
    a, want = flat_params(g.params), flat_params(state.params)
    assert all(np.array_equal(v, want[k]) for k, v in a.items())
    if g.step == int(result.state.step):
        assert all(np.array_equal(v, flat_params(result.state.params)[k]) for k, v in a.items())
    assert g.latent_dim == 8 and g.resolution == 16 and g.kind == "vae"
    s1, s2 = g.sample(jax.random.PRNGKey(1), 5), g.sample(jax.random.PRNGKey(1), 5)
    s3 = g.sample(jax.random.PRNGKey(2), 5)
    assert s1.shape == (5, 16, 16) and s1.dtype == np.uint8
    assert np.array_equal(s1, s2) and not np.array_equal(s1, s3)
    big = np.zeros((3, 100, 100), np.uint8)
    big[:, 40:45, 40:45] = 200
    mean, logvar = g.encode(big)
    assert mean.shape == logvar.shape == (3, 8)
    assert g.reconstruct(big).shape == (3, 16, 16)
    lin = g.interpolate(mean[0], mean[1] + 1.0, 4)
    sl = g.interpolate(mean[0], mean[1] + 1.0, 4, method="slerp")
    assert lin.shape == sl.shape == (4, 16, 16)
    np.testing.assert_array_equal(lin[0], g.decode(mean[0])[0])
    assert sampling.grid(s1).mode == "L"
    paths = sampling.save_pngs(s1, workdir / "pngs")
    assert len(paths) == 5 and layout.read_png(paths[0]).shape == (16, 16)


def test_full_size_generation(vae_run, tmp_path, capsys):
    workdir, _ = vae_run
    out = tmp_path / "gen"
    generate.main(["--workdir", str(workdir), "--num", "3", "--size", "1000", "--out", str(out)])
    assert capsys.readouterr().err.count("note: --out is deprecated; use --images\n") == 1
    paths = sorted(out.glob("*.png"))
    assert len(paths) == 3 and all(len(p.stem) == 7 for p in paths)
    zero = []
    for p in paths:
        with Image.open(p) as im:
            assert im.mode == "L" and im.size == (1000, 1000)
        zero.append(catalog.zero_fraction(layout.read_png(p)))
    assert min(zero) > 0.9, zero  # sparse skies, no grey floor
    # training wrote the source library of its training images; generate uses it
    g = sampling.load(workdir)
    assert upscale.default_method(g.library, 100) == "stamps"  # at its images' scale
    assert g.source_model is None and sampling.choose_method(g, 100) == "stamps"
    assert upscale.default_method(g.library, 1000) == "sources"
    assert len(upscale.SourceLibrary.load(workdir / "sources.npz")) > 0
    # what generate makes of a draw: one bright compact 16x16 source -> one 1000x1000 star
    import dataclasses

    def one_source(params, model_state, z, key):
        x = jnp.zeros((z.shape[0], 16, 16, 1)).at[:, 7:9, 7:9].set(1.0)
        return x.at[:, 8, 8].set(0.98)

    g = dataclasses.replace(sampling.load(workdir), draw_fn=one_source)
    imgs, *_ = generate.generate(g, 2, size=1000, batch=2, progress=False)
    for im in imgs:
        assert catalog.component_counts(im, (0, 20)) == {0: 1, 20: 1} and im.max() == 255
        assert catalog.zero_fraction(im) > 0.995


def test_upscaler_keeps_empty_sky_and_compact_sources():
    small = np.zeros((128, 128), np.float32)
    small[60:62, 60:62] = 0.4  # one bright compact source
    for method in set(upscale.METHODS) - {"stamps", "learned"}:  # test_representation.py,
        # test_learned_sources.py
        big = upscale.upscale(small, 1000, method)
        assert big.shape == (1000, 1000) and big.dtype == np.uint8
    big = upscale.upscale(small, 1000)
    assert catalog.component_counts(big, (0,))[0] == 1
    assert big.max() == 255 and catalog.zero_fraction(big) > 0.999  # saturated core
    faint = upscale.upscale(small * 0.125, 1000)  # below saturation: flux is kept
    np.testing.assert_allclose(faint.sum(), 0.05 * 255 * 4 * (1000 / 128) ** 2, rtol=0.05)
    for how in ("area", "max"):  # a constant sky of 2 counts stays one, sources on top
        sky = upscale.upscale(small + 2 / 255, 1000, downsample=how)
        assert catalog.component_counts(sky, (2,))[2] == 1 and sky.min() == 2, how
        assert sky.max() >= 90 and np.median(sky) == 2, how  # the source (peak 102) on top


def test_vae_training_lowers_its_loss_and_stops_on_a_non_finite_loss(tiny_data, tmp_path):
    from cosmojax.train import metrics as metrics_lib

    config = tiny_vae_config(tiny_data, num_steps=60, eval_every=100, checkpoint_every=100)
    config.optimizer.learning_rate = 3e-3
    cli.train(config, tmp_path / "a")
    losses = [
        r["train_loss"] for r in metrics_lib.read_metrics(tmp_path / "a") if "train_loss" in r
    ]
    assert len(losses) == 60 and np.median(losses[-10:]) < 0.7 * np.median(losses[:10]), losses
    config = tiny_vae_config(tiny_data, num_steps=6, eval_every=100, checkpoint_every=100)
    assert_stops_on_nan_images(config, tmp_path / "nan", "loss")


def test_decode_draws_as_sample_does_and_interpolate_draws_every_frame_alike(vae_run):
    """``decode(z, draw=k)`` is the draw ``sample`` makes for the same latents and
    key, not the mean; ``interpolate(..., draw=k)`` draws each frame with ``k``."""
    g = sampling.load(vae_run[0])
    key = jax.random.PRNGKey(3)
    k_z, k_x = jax.random.split(key)
    z = np.asarray(g.latents(k_z, 4))
    drawn = g.decode(z, draw=k_x)
    np.testing.assert_array_equal(drawn, g.sample(key, 4))
    assert not np.array_equal(drawn, g.decode(z))  # a draw, not the mean
    assert not np.array_equal(drawn, g.decode(z, draw=jax.random.PRNGKey(9)))
    frames = g.interpolate(z[0], z[1], 4, draw=k_x)
    assert frames.shape == (4, 16, 16) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], g.decode(z[0], draw=k_x)[0])
    np.testing.assert_array_equal(frames[-1], g.decode(z[1], draw=k_x)[0])
    assert not np.array_equal(frames, g.interpolate(z[0], z[1], 4))
    still = g.interpolate(z[0], z[0], 4, draw=k_x)  # one latent: the same key, the same frame
    assert all(np.array_equal(f, still[0]) for f in still)
    batch = g.decode(np.stack([z[0]] * 4), draw=k_x)  # one key for a batch: four draws
    assert not all(np.array_equal(f, batch[0]) for f in batch)


def test_generator_generate_returns_what_the_command_writes(vae_run, tmp_path):
    """Same pixels and PNG bytes, file ``image_ids(n, seed)[i]`` for image ``i``; the
    run's upscaler by default (stamps at its images' 100x100 scale), and stamps
    asked for at a size its sources do not fit is one clear error."""
    workdir, _ = vae_run
    out = tmp_path / "cmd"
    generate.main(
        ["--workdir", str(workdir), "--num", "3", "--size", "100"]
        + ["--seed", "5", "--images", str(out)]
    )
    g = sampling.load(workdir)
    imgs = g.generate(3, size=100, seed=5)
    assert imgs.shape == (3, 100, 100) and imgs.dtype == np.uint8
    mine = sampling.save_pngs(imgs, tmp_path / "api", ids=generate.image_ids(3, 5))
    for i, path in enumerate(mine):
        written = out / path.name
        np.testing.assert_array_equal(layout.read_png(written), imgs[i])
        assert written.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in mine)
    assert not np.array_equal(imgs, g.generate(3, size=100, seed=5, method="sources"))
    assert not np.array_equal(imgs, g.generate(3, size=100, seed=6))
    small = g.sample_float(jax.random.PRNGKey(0), 2)
    np.testing.assert_array_equal(  # the run's representation and library, not upscale's defaults
        g.upscale(small, 100),
        upscale.full_size(small, 100, downsample="max", library=g.library, method="stamps"),
    )
    with pytest.raises(ValueError, match=r"^size 1000: method 'stamps' .* expected size 100 "):
        g.generate(1, size=1000, method="stamps")
    with pytest.raises(SystemExit, match=r"^error: size 1000: method 'stamps'"):
        generate.main(
            ["--workdir", str(workdir), "--num", "1", "--method", "stamps"]
            + ["--images", str(tmp_path / "never")]
        )
    assert not (tmp_path / "never").exists()


def test_generator_generate_keeps_the_first_candidates_that_pass(vae_run):
    """``min_score`` with a scorer object: the first ``n`` candidates of the same
    draws that score at least the threshold, in order."""
    g = sampling.load(vae_run[0])

    class Brightness:  # scores follow the images' total flux
        def score(self, images):
            return images.reshape(len(images), -1).astype(np.float32).mean(1)

    candidates = g.generate(64, size=100, seed=2)  # one batch: every candidate
    scores = Brightness().score(candidates)
    threshold = float(np.median(scores))
    want = candidates[scores >= threshold][:3]
    got = g.generate(3, size=100, seed=2, min_score=threshold, scorer=Brightness())
    assert np.ptp(scores) > 0 and not np.array_equal(want, candidates[:3])
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="min_score and scorer go together"):
        g.generate(3, size=100, min_score=1.0)


def test_checkpoint_selection_sees_the_images_sampling_makes(vae_run):
    """The fixed sample that picks checkpoints (``VAETask._sample``) is what
    ``sampling.Generator.sample_float`` draws for the same key, with the run's
    fitted prior and with the standard one."""
    import dataclasses

    workdir, _ = vae_run
    g = sampling.load(workdir, step=6)
    assert g.latent_prior is not None  # configs/vae.py: the aggregate posterior
    task = tasks.build(g.config)
    key = jax.random.PRNGKey(5)
    for prior in (g.latent_prior, None):
        want = dataclasses.replace(g, latent_prior=prior).sample_float(key, 4)
        np.testing.assert_array_equal(task._sample(g.params, prior, key, 4), want)
