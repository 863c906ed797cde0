"""Learned sources: a source model draws each full-resolution source
(``upscale`` method ``learned``) instead of copying one from the library, and
the source memorisation ratio tells copies from new sources."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from cosmojax import cli, sampling, upscale
from cosmojax.configlib import ConfigError
from cosmojax.evaluation import metrics
from cosmojax.models.source_vae import SourceVAE
from cosmojax.tasks import sources
from tests.helpers import tiny_config
from tests.test_vae import tiny_vae_config


def tiny_source_config(library_workdir, **kw):
    over = {
        "model.library_workdir": str(library_workdir),
        "model.patch": 15,
        "model.hidden": 16,
        "model.latent_dim": 4,
        "num_steps": 60,
        "eval_every": 30,
        "checkpoint_every": 30,
        "log_every": 30,
        "optimizer.learning_rate": 3e-3,
        "data.val_fraction": 0.2,
        **kw,
    }
    return tiny_config("sources", "", **over)


@pytest.fixture(scope="module")
def learned_run(tiny_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("learned") / "vae"
    cli.train(tiny_vae_config(tiny_data, num_steps=3), workdir)
    cli.train(tiny_source_config(workdir), workdir / sources.SOURCE_MODEL_DIR)
    return workdir


def test_the_source_model_learns_the_library_and_draws_sources_of_its_own(learned_run):
    g = sampling.load(learned_run)
    model, lib = g.source_model, g.library
    assert model is not None and model.step in (30, 60)
    task = model.task
    # its examples: each library source around its peak, with its condition
    assert len(task.train) + len(task.val) == len(lib)
    np.testing.assert_allclose(
        task.train.stats, upscale.conditions(lib.hoods)[np.isin(task.dataset().ids, task.train.ids)]
    )
    hoods = lib.hoods[np.argsort(lib.hoods[:, upscale.HOOD, upscale.HOOD])[-6:]]  # the brightest
    z = [np.random.default_rng(s).standard_normal((6, task.latent_dim)) for s in (0, 1)]
    z = [v.astype(np.float32) for v in z]
    u = np.random.default_rng(2).uniform(0.0, 1.0, (6, 2)).astype(np.float32)
    a = model.squares(hoods, z[0], u)
    assert a.shape == (6, 15, 15) and a.min() >= 0 and a.max() <= 255
    # each drawn source peaks at the centre, at the peak it was drawn for
    np.testing.assert_array_equal(a[:, 7, 7], hoods[:, upscale.HOOD, upscale.HOOD])
    assert (a.reshape(6, -1).max(1) <= a[:, 7, 7]).all()
    np.testing.assert_array_equal(model.squares(hoods, z[0], u), a)
    # a higher quantile, a source at least as large and bright at every pixel
    assert (model.squares(hoods, z[0], np.minimum(u + [[0.0, 0.3]], 0.99)) >= a).all()
    # other latents, other sources (the decoder's state probabilities and means)
    cond = upscale.conditions(hoods)
    decoded = [
        task.model.apply({"params": model.params}, zz, cond, method=SourceVAE.decode) for zz in z
    ]
    for part in (0, 1):
        assert np.abs(np.asarray(decoded[0][part]) - np.asarray(decoded[1][part])).max() > 1e-3
    # never a library source unchanged: each drawn square is away from every cut-out
    library_squares = upscale.cutouts(lib, 15)
    gap = np.abs(a[:, None] - library_squares[None]).reshape(6, len(lib), -1).max(-1)
    assert gap.min() > 0.5, gap.min()
    # draws for the renderer: the same rng, the same sources; another, others
    picks = [model.draw(hoods, np.random.default_rng(s)) for s in (3, 3, 4)]
    assert all(np.array_equal(p.stamp, q.stamp) for p, q in zip(picks[0], picks[1], strict=True))
    assert all(p.offset == q.offset for p, q in zip(picks[0], picks[1], strict=True))
    assert all(p.offset != q.offset for p, q in zip(picks[0], picks[2], strict=True))


def test_generate_draws_learned_sources_at_the_peaks_stamps_uses(learned_run):
    g = sampling.load(learned_run)
    learned, *_ = sampling.generate(g, 2, size=100, method="learned", progress=False)
    stamps, *_ = sampling.generate(g, 2, size=100, method="stamps", progress=False)
    assert learned.shape == stamps.shape == (2, 100, 100) and learned.dtype == np.uint8
    assert not np.array_equal(learned, stamps)
    # the same sky: both add the sample's sky level back where no source is
    assert np.median(learned) == np.median(stamps)
    again, *_ = sampling.generate(g, 2, size=100, method="learned", progress=False)
    np.testing.assert_array_equal(learned, again)  # a pure function of the seed
    # a run with a source model draws its own sources by default (stamps without
    # one: test_vae); at a size the library does not fit, sources
    default, *_ = sampling.generate(g, 2, size=100, progress=False)
    np.testing.assert_array_equal(default, learned)
    assert sampling.choose_method(g, 100) == "learned"
    assert sampling.choose_method(g, 1000) == "sources"
    assert upscale.choose_method(g.library, 1000, None, g.source_model.draw) == "sources"
    with pytest.raises(ValueError, match="method 'learned' draws sources at the scale of 100x100"):
        upscale.choose_method(g.library, 1000, "learned", g.source_model.draw)
    with pytest.raises(ValueError, match="method 'learned': this run has no source model"):
        upscale.choose_method(g.library, 100, "learned")


def test_each_source_counts_by_its_training_weight(learned_run):
    """Saturated sources weigh ``model.saturated_weight`` times the others in the
    training loss (the weights average 1): the step's loss is the weighted mean
    of each example's."""
    from cosmojax.train import parallel

    task = sources.SourceTask(tiny_source_config(learned_run, **{"model.saturated_weight": 3.0}))
    lib = task.library
    saturated = np.arange(len(lib)) % 5 == 0  # the tiny images saturate nowhere: mark some
    task.library = dataclasses.replace(lib, saturated=saturated)
    w = task.weights()
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(w[saturated], 3.0 * w[~saturated][0], rtol=1e-6)
    np.testing.assert_allclose(w[~saturated], w[~saturated][0])
    np.testing.assert_array_equal(task.dataset().targets, w)
    mesh = parallel.make_mesh()
    init = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))
    step = parallel.data_parallel(task.train_step, mesh)  # it donates the state: a fresh one
    batch = next(iter(task.train_batches(0, 1)))
    n = len(batch["target"])

    def loss(weight):
        b = parallel.shard_batch({**batch, "target": np.asarray(weight, np.float32)}, mesh)
        return float(step(init(jax.random.PRNGKey(0)), b)[1]["loss"])

    each = np.array([loss(n * np.eye(n)[i]) for i in range(n)])  # one example's loss alone
    assert each.std() > 1e-3 * np.abs(each).mean()
    weight = np.random.default_rng(0).uniform(0.2, 3.0, n)
    np.testing.assert_allclose(loss(weight), np.mean(weight * each), rtol=1e-4)
    with pytest.raises(ConfigError, match="model.saturated_weight: expected a positive number"):
        sources.SourceTask(tiny_source_config(learned_run, **{"model.saturated_weight": 0.0}))


def test_the_training_turns_keep_each_peak_at_the_centre():
    """A source model learns each square with its peak at the centre, so a flip
    or quarter turn of it must keep the peak there: the patch is odd."""
    from configs import sources as source_config

    p = int(source_config.get_config().model.patch)
    c = p // 2
    squares = np.random.default_rng(0).uniform(0.0, 0.9, (16, p, p, 1)).astype(np.float32)
    squares[:, c, c] = 1.0
    cond = upscale.conditions(np.random.default_rng(1).uniform(1, 9, (16, 5, 5)))
    keys = jax.random.split(jax.random.PRNGKey(0), 16)
    turned, turned_cond = sources._turned(keys, squares, cond)
    assert not np.array_equal(np.asarray(turned), squares)  # they were turned
    np.testing.assert_array_equal(np.asarray(turned)[:, c, c, 0], 1.0)
    np.testing.assert_array_equal(np.asarray(turned_cond)[:, 0], cond[:, 0])
    with pytest.raises(ConfigError, match="model.patch: expected an odd number of pixels, got 16"):
        sources.SourceTask(tiny_source_config("runs/none", **{"model.patch": 16}))


def test_a_drawn_shape_is_each_pixels_quantile_under_its_likelihood():
    """Each pixel is empty, at the peak's level, or in between (Gaussian in the
    log map): a drawn shape takes each pixel's quantile at the source's ``u``,
    which a Monte-Carlo draw of the likelihood finds too; the likelihood of an
    empty or peak-level pixel is its state's probability alone."""
    from cosmojax.models import source_vae

    probs = np.array(  # EMPTY, BETWEEN, AT_PEAK
        [[0.6, 0.3, 0.1], [0.4, 0.3, 0.3], [0.2, 0.7, 0.1], [0.1, 0.35, 0.55], [0.45, 0.1, 0.45]]
    )
    n = len(probs)
    logits = np.log(probs).reshape(n, 1, 1, 3).astype(np.float32)
    mean = np.linspace(0.2, 0.6, n).reshape(n, 1, 1, 1).astype(np.float32)
    sd = np.full((n, 1, 1, 1), 0.1, np.float32)
    rng = np.random.default_rng(0)
    state = (rng.random((200_001, n, 1)) > probs.cumsum(1)[None, :, :2]).sum(-1)
    value = np.asarray(source_vae.from_unit(mean.ravel() + 0.1 * rng.standard_normal((200_001, n))))
    draws = np.where(state == 0, 0.0, np.where(state == 2, 1.0, value))
    for u in (0.5, 0.65, 0.8):
        shape = source_vae.quantile_shape((logits, mean, sd), np.float32(u))
        np.testing.assert_allclose(np.ravel(shape), np.quantile(draws, u, axis=0), atol=2e-3)
    median = np.ravel(source_vae.quantile_shape((logits, mean, sd), np.float32(0.5)))
    assert median[0] == 0.0 and median[3] == 1.0 and 0.0 < median[2] < 1.0
    # the likelihood: an empty or peak-level pixel costs -log of its state's probability
    one = (logits[:3], mean[:1].repeat(3, 0), sd[:3])
    cost = np.asarray(source_vae.nll(one, np.array([0.0, 1.0, 0.05]).reshape(3, 1, 1, 1)))
    np.testing.assert_allclose(cost[:2], -np.log([0.6, 0.3]), rtol=1e-5)
    u = float(source_vae.to_unit(np.float32(0.05)))
    gauss = 0.5 * ((u - 0.2) / 0.1) ** 2 + np.log(0.1) + 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(cost[2], -np.log(0.7) + gauss, rtol=1e-5)


def test_latents_are_drawn_from_a_mixture_fitted_to_the_posterior_alone():
    """The latents a source is drawn from come from a mixture p(z | c) trained on
    the encoder's latents: its loss moves the mixture and nothing else, its
    density is a mixture's, and a draw's uniform picks the component."""
    from cosmojax.models import source_vae

    model = SourceVAE(patch=7, latent_dim=3, hidden=8, components=2)
    x = source_vae.to_unit(np.random.default_rng(0).uniform(0, 1, (4, 7, 7, 1)).astype("f4"))
    cond = np.random.default_rng(1).uniform(0, 1, (4, 26)).astype(np.float32)
    eps = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    params = model.init(jax.random.PRNGKey(0), x, cond, eps)["params"]
    grads = jax.grad(lambda p: model.apply({"params": p}, x, cond, eps)[2].sum())(params)
    moved = {k for k, g in grads.items() if any(np.abs(v).max() > 0 for v in jax.tree.leaves(g))}
    assert moved == {"mix_hidden_0", "mix_hidden_1", "mix_out"}, moved
    # the density: log sum_k pi_k N(z; mu_k, sd_k^2), by hand
    logits, means, log_sds = (
        np.asarray(a) for a in model.apply({"params": params}, cond, method=SourceVAE.mixture)
    )
    z = np.random.default_rng(3).standard_normal((4, 3))
    pi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sd = np.exp(log_sds)
    dens = (
        pi
        * np.prod(np.exp(-0.5 * ((z[:, None] - means) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), -1)
    ).sum(1)
    got = source_vae.mixture_nll((logits, means, log_sds), z.astype(np.float32))
    np.testing.assert_allclose(np.asarray(got), -np.log(dens), rtol=1e-4)
    # a draw: the component whose share of [0, 1) holds u
    for u, k in ((1e-4, 0), (1 - 1e-4, 1)):
        drawn = model.apply(
            {"params": params}, cond, eps, np.full(4, u, np.float32), method=SourceVAE.sample_latent
        )
        np.testing.assert_allclose(np.asarray(drawn), means[:, k] + sd[:, k] * eps, rtol=1e-5)


def test_a_saturated_learned_source_keeps_its_255_core():
    square = np.zeros((16, 16), np.float32)
    square[6:11, 6:11] = 40.0
    square[7:10, 7:10] = 255.0
    square[0, 0] = 30.0  # not connected to the centre: not part of the source
    pick = sources._pick(square, np.random.default_rng(0))
    assert pick.saturated and pick.stamp.shape == (5, 5) and pick.peak == (2, 2)
    out = np.zeros((40, 40), np.float32)
    upscale._paste(out, pick, 170.0, np.array([16, 24]), np.array([16, 24]))  # dimmer peak
    assert (out == 255.0).sum() == 9 and out.max() == 255.0  # the core stays saturated
    np.testing.assert_allclose(out[out > 0].min(), 40.0 * 170.0 / 255.0, rtol=1e-6)  # wings scale
    assert (out > 0).sum() == 25


def blob_images(n: int, seed: int, size: int = 200) -> np.ndarray:
    """Sources of varied widths, elongations and angles on an empty sky."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size))
    for img in out:
        for _ in range(8):
            y, x = rng.uniform(20, size - 20, 2)
            a, s, e, t = (
                rng.uniform(40, 250),
                rng.uniform(1.0, 3.5),
                rng.uniform(1, 2.5),
                rng.uniform(0, np.pi),
            )
            dy, dx = yy - y, xx - x
            u, v = dy * np.cos(t) + dx * np.sin(t), (-dy * np.sin(t) + dx * np.cos(t)) * e
            img += a * np.exp(-(u**2 + v**2) / (2 * s**2))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_source_memorisation_tells_copies_from_new_sources():
    train = blob_images(12, 0)
    library = upscale.SourceLibrary.build(train, 25, "max")
    held_out, new = blob_images(12, 1), blob_images(12, 2)
    copies = np.flip(train, axis=2)  # the training sources, flipped and in other places
    reference = metrics.SourceReference.build(library, held_out)
    copied = metrics.source_memorisation(copies, reference)
    fresh = metrics.source_memorisation(new, reference)
    assert copied["sources"]["generated"] > 40 and fresh["sources"]["held_out"] > 40
    assert copied["ratio"] < 0.2 and 0.75 < fresh["ratio"] < 1.33, (copied, fresh)
