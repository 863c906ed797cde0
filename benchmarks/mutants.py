"""Plausible one-line bugs in the sky, upscaling, features, generator, critic-
statistics, scoring and sampling code, each applied alone, and whether the
tests that guard that code catch it (prints JSON).

    python benchmarks/mutants.py [--scratch] [--compare REV | --baseline REV] [NAME ...]

Each mutant replaces one exact line (it must occur once) of one source file,
runs its tests (``pytest -x`` on the named nodes, not the whole suite) and
restores the file, also when interrupted; a mutant is killed when a test
fails. With ``--scratch`` the tree is copied to a temporary folder and mutated
there, so the working tree is never touched (other runs may be reading it).
``--compare REV`` also runs each mutant against the test files as they were at
commit ``REV`` (in a copy; nodes that did not exist there are left out), and
``--baseline REV`` against those only. The tally before and after the tests
that this pass added: ``--scratch --compare 06a2e16``. ``--tests NODE ...``
runs those nodes instead of each mutant's (to see one new assertion fail on
its own); ``--list`` checks that every mutant's line is there once.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

T_SKY = "tests/test_sky.py::"
SKY_UNIT = [
    T_SKY + "test_subtract_removes_each_images_own_sky",
    T_SKY + "test_the_gan_sees_real_images_less_their_sky",
    T_SKY + "test_levels_are_drawn_with_the_data_frequencies",
    T_SKY + "test_sky_file_round_trip_and_refusals",
    T_SKY + "test_a_vae_and_an_unknown_mode_are_refused",
    T_SKY + "test_configs_written_before_data_sky_keep_the_sky",
    T_SKY + "test_a_resumed_run_keeps_its_sky_levels",
]
SKY_RUN = T_SKY + "test_a_gan_run_draws_its_sky_from_the_training_images"

T_GAN = "tests/test_gan.py::"
GP = T_GAN + "test_wgan_gp_trains_and_penalises_the_critic_gradient"
R1 = T_GAN + "test_r1_penalty_is_the_squared_gradient_norm_at_real_images"
WGAN = T_GAN + "test_wasserstein_losses_are_the_critics_mean_differences"
SLICES = T_GAN + "test_each_critic_update_takes_its_own_slice_of_the_batch"
GAN_UNIT = [
    T_GAN + "test_d_step_and_g_step_change_only_their_own_parameters",
    T_GAN + "test_generator_update_through_the_stored_vjp_equals_a_direct_gradient",
    R1,
    WGAN,
    SLICES,
    T_GAN + "test_gan_augment_turns_the_real_images",
    T_GAN + "test_the_generator_reads_intensities_in_the_tanh_range",
]
GAN_LEARN = T_GAN + "test_gan_discriminator_learns_and_a_non_finite_loss_stops"
RESUME = T_GAN + "test_training_resumes_exactly_and_samples"
CRITIC_SCORER = T_GAN + "test_critic_scorer_starts_from_the_discriminator"

T_REP = "tests/test_representation.py::"
STAMPS = [
    T_REP + "test_stamps_render_each_peak_as_a_library_source_at_its_block",
    T_REP + "test_stamps_refuse_a_missing_or_mismatched_library",
    T_REP + "test_library_leaves_out_border_cut_sources_and_flags_saturated_ones",
    T_REP + "test_a_symmetric_source_does_not_crowd_out_the_others",
    T_REP + "test_stamps_read_a_scattered_sky_as_sky_not_as_faint_sources",
    T_REP + "test_a_library_renders_only_at_its_images_scale_and_names_a_bad_file",
    T_REP + "test_a_saturated_source_is_never_brightened",
    T_REP + "test_a_stamp_lands_with_its_peak_where_the_library_saw_it",
]
MOFFAT = [
    T_REP + "test_block_max_upscaling_gives_one_compact_source_per_peak",
    T_REP + "test_faint_sources_render_without_warnings",
    "tests/test_vae.py::test_upscaler_keeps_empty_sky_and_compact_sources",
]
LIBRARY_PATHS = T_REP + "test_the_library_reads_the_training_side_of_the_split"
WORKDIR_LIBRARY = [
    T_REP + "test_a_library_renders_only_at_its_images_scale_and_names_a_bad_file",
    LIBRARY_PATHS,
]

FEATURES = ["tests/test_features.py"]
T_CRIT = "tests/test_critic.py::"
CRITIC = [T_CRIT + "test_batchnorm_statistics_come_from_real_images"]
T_SCORER = "tests/test_train_scorer.py::"
SCORING = [
    T_SCORER + "test_predictions_csv_format_ids_and_clipping",
    T_SCORER + "test_best_checkpoint_is_kept_and_scoring_loads_it",
    T_SCORER + "test_stats_scorer_normalises_its_features_from_data",
]
FUZZ = ["tests/test_fuzz.py::test_every_mode_and_size_reads_as_8_bit_gray"]

SKY_PY = "cosmojax/data/sky.py"
GAN_PY = "cosmojax/tasks/gan.py"
UP_PY = "cosmojax/upscale.py"
FEAT_PY = "cosmojax/evaluation/features.py"
GEN_PY = "cosmojax/tasks/generated.py"
SCORER_PY = "cosmojax/tasks/scorer.py"

# (name, bug, file, exact old line, new line, test nodes)
MUTANTS = [
    # -- data.sky
    (
        "sky-max",
        "the sky level is the image maximum",
        SKY_PY,
        "return images.reshape(images.shape[0], -1).min(axis=1)",
        "return images.reshape(images.shape[0], -1).max(axis=1)",
        SKY_UNIT,
    ),
    (
        "sky-batch",
        "one sky level, the batch's lowest, subtracted from every image",
        SKY_PY,
        "return x - levels_of(x)[:, None, None, None]",
        "return x - levels_of(x).min()",
        SKY_UNIT,
    ),
    (
        "sky-quantile",
        "the quantile's level index scaled by n - 1",
        SKY_PY,
        "idx = jnp.clip(jnp.floor(q * n).astype(jnp.int32), 0, n - 1)",
        "idx = jnp.clip(jnp.floor(q * (n - 1)).astype(jnp.int32), 0, n - 1)",
        SKY_UNIT,
    ),
    (
        "sky-unsorted",
        "the levels kept in image order, not sorted",
        SKY_PY,
        "levels = np.sort(levels_of(np.asarray(images, np.float32)))",
        "levels = levels_of(np.asarray(images, np.float32))",
        SKY_UNIT,
    ),
    (
        "sky-range",
        "a level file with levels above 1 accepted",
        SKY_PY,
        "if levels.min() < 0 or levels.max() > 1:",
        "if levels.min() < 0:",
        SKY_UNIT,
    ),
    (
        "sky-default",
        "a config written before data.sky draws the sky",
        SKY_PY,
        'm = str(data_cfg.get("sky", "keep"))',
        'm = str(data_cfg.get("sky", "draw"))',
        SKY_UNIT,
    ),
    # -- the GAN step and its penalties
    (
        "gp-real",
        "the gradient penalty at the real images, not at interpolates",
        GAN_PY,
        "mix = eps * real + (1.0 - eps) * fake",
        "mix = real",
        [GP],
    ),
    (
        "gp-fake",
        "the gradient penalty at the fakes, not at interpolates",
        GAN_PY,
        "mix = eps * real + (1.0 - eps) * fake",
        "mix = fake",
        [GP],
    ),
    (
        "gp-no-sqrt",
        "the penalty on the squared gradient norm",
        GAN_PY,
        "norms = jnp.sqrt(input_grad_sq_norms(d_apply, params_d, mix) + 1e-12)",
        "norms = input_grad_sq_norms(d_apply, params_d, mix)",
        [GP],
    ),
    (
        "gp-no-square",
        "the penalty's deviation from 1 not squared",
        GAN_PY,
        "return jnp.mean((norms - 1.0) ** 2)",
        "return jnp.mean(norms - 1.0)",
        [GP],
    ),
    (
        "gp-shared-eps",
        "one interpolation weight shared by every example",
        GAN_PY,
        "eps = jax.vmap(lambda k: jax.random.uniform(k, (1, 1, 1)))(",
        "eps = jax.vmap(lambda k: jax.random.uniform(key, (1, 1, 1)))(",
        [GP],
    ),
    (
        "wgan-d-sign",
        "the critic's Wasserstein loss with the wrong sign",
        GAN_PY,
        "value = jnp.mean(logits_fake) - jnp.mean(logits_real)",
        "value = jnp.mean(logits_real) - jnp.mean(logits_fake)",
        [*GAN_UNIT, GP],
    ),
    (
        "wgan-gp-weight",
        "the gradient penalty added without its weight",
        GAN_PY,
        "value = value + gp * gradient_penalty(d_apply, pd, real, fake, key)",
        "value = value + gradient_penalty(d_apply, pd, real, fake, key)",
        [*GAN_UNIT, GP],
    ),
    (
        "wgan-g-sign",
        "the generator's Wasserstein loss with the wrong sign",
        GAN_PY,
        'value = -jnp.mean(logits) if loss == "wgan_gp" else bce_logits(logits, 1.0)',
        'value = jnp.mean(logits) if loss == "wgan_gp" else bce_logits(logits, 1.0)',
        [*GAN_UNIT, GP],
    ),
    (
        "r1-weight",
        "the R1 penalty weighted by gamma, not gamma / 2",
        GAN_PY,
        "value = value + 0.5 * r1 * r1_penalty(d_apply, pd, real)",
        "value = value + r1 * r1_penalty(d_apply, pd, real)",
        GAN_UNIT,
    ),
    (
        "r1-fake",
        "the R1 penalty taken at the fakes",
        GAN_PY,
        "value = value + 0.5 * r1 * r1_penalty(d_apply, pd, real)",
        "value = value + 0.5 * r1 * r1_penalty(d_apply, pd, fake)",
        GAN_UNIT,
    ),
    (
        "d-logits-swapped",
        "real and fake logits swapped after the joint pass",
        GAN_PY,
        "return logits[: real.shape[0]], logits[real.shape[0] :], stats_d",
        "return logits[real.shape[0] :], logits[: real.shape[0]], stats_d",
        [*GAN_UNIT, GAN_LEARN],
    ),
    (
        "critic-one-slice",
        "every critic update on the batch's first slice",
        GAN_PY,
        "chunk = slice(i * b, (i + 1) * b)",
        "chunk = slice(0, b)",
        [*GAN_UNIT, GP],
    ),
    (
        "gp-key-reused",
        "every critic update of a step draws the same interpolates",
        GAN_PY,
        "params, stats, opt_d, real[chunk], fake[chunk], gp_keys[i]",
        'params, stats, opt_d, real[chunk], fake[chunk], keys["gp"]',
        [*GAN_UNIT, GP],
    ),
    (
        "tanh-range",
        "the generator's targets left in [0, 1], not mapped to [-1, 1]",
        GAN_PY,
        "return intensity.forward(x, data_cfg.intensity_map, data_cfg.intensity_scale) * 2.0 - 1.0",
        "return intensity.forward(x, data_cfg.intensity_map, data_cfg.intensity_scale)",
        [*GAN_UNIT, T_SKY + "test_the_gan_sees_real_images_less_their_sky"],
    ),
    (
        "decode-range",
        "decoding maps tanh's [-1, 1] to [0, 2]",
        GAN_PY,
        "x = intensity.inverse((out + 1.0) / 2.0, d.intensity_map, d.intensity_scale)",
        "x = intensity.inverse(out + 1.0, d.intensity_map, d.intensity_scale)",
        [SKY_RUN, RESUME],
    ),
    (
        "decode-sky-coordinate",
        "the sky level picked by the first latent coordinate",
        GAN_PY,
        "return jnp.minimum(x + sky.at(z[:, nz])[:, None, None, None], 1.0)",
        "return jnp.minimum(x + sky.at(z[:, 0])[:, None, None, None], 1.0)",
        [SKY_RUN, RESUME],
    ),
    (
        "latent-dim",
        "the sky coordinate added to the latents also with data.sky 'keep'",
        GAN_PY,
        'self.latent_dim = self.nz + (sky_lib.mode(config.data) == "draw")',
        "self.latent_dim = self.nz + 1",
        [*SKY_UNIT, *GAN_UNIT],
    ),
    # -- generated.py: the library's images, the run's files
    (
        "library-val",
        "the source library also reads the validation images",
        GEN_PY,
        "chosen += [p for p, t, v in zip(paths, targets, val, strict=True) if keep(t) and not v]",
        "chosen += [p for p, t, v in zip(paths, targets, val, strict=True) if keep(t)]",
        WORKDIR_LIBRARY,
    ),
    (
        "library-downsample",
        "a resumed run's library checked for its resolution only",
        GEN_PY,
        "if (library.resolution, library.downsample) != (int(d.resolution), str(d.downsample)):",
        "if library.resolution != int(d.resolution):",
        [*STAMPS, LIBRARY_PATHS],
    ),
    (
        "library-empty-checkpoints",
        "an empty checkpoints folder taken for a run without a library",
        GEN_PY,
        "if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):",
        "if ckpts.is_dir():",
        WORKDIR_LIBRARY,
    ),
    (
        "sky-file-ignored",
        "a resumed run takes its sky levels afresh instead of from sky.json",
        GEN_PY,
        "    if path.is_file():\n        return sky_lib.SkyLevels.load(path)\n    levels =",
        "    if False:\n        return sky_lib.SkyLevels.load(path)\n    levels =",
        SKY_UNIT,
    ),
    # -- upscale.py: the library and its render
    (
        "library-sky-kept",
        "library sources cut with their sky",
        UP_PY,
        "c = np.maximum(im.astype(np.float32) - np.median(im), 0.0)",
        "c = im.astype(np.float32)",
        STAMPS,
    ),
    (
        "library-border",
        "a source is left out only when the border cuts it along its whole side",
        UP_PY,
        "(y0 == 0 and mask[0].any())",
        "(y0 == 0 and mask[0].all())",
        STAMPS,
    ),
    (
        "library-saturated-above-sky",
        "saturation judged on the counts above the sky",
        UP_PY,
        "bool(im[y0:y1, x0:x1][mask].max() >= 255),",
        "bool(patch[mask].max() >= 255),",
        STAMPS,
    ),
    (
        "render-no-scale",
        "a stamp pasted at its own brightness, not scaled to the peak",
        UP_PY,
        "factor = float(np.clip(counts[y, x] / max(self.hoods[i, c, c], 1e-6), 0.5, 2.0))",
        "factor = 1.0",
        STAMPS,
    ),
    (
        "render-brightens-saturated",
        "a saturated source brightened like any other",
        UP_PY,
        "if self.saturated[i] and factor > 1.0:  # a saturated source stays saturated",
        "if self.saturated[i] and factor < 1.0:",
        STAMPS,
    ),
    (
        "render-peak-off-by-one",
        "the stamp's peak turned with its box size, not its last index",
        UP_PY,
        "py, px = _turn_point(*self.peaks[i], h - 1, w - 1, t)",
        "py, px = _turn_point(*self.peaks[i], h, w, t)",
        STAMPS,
    ),
    (
        "render-nearest-only",
        "every peak draws its nearest source",
        UP_PY,
        "close = int(np.sum(dist[j, first] <= dist[j, 0] + MATCH_TOLERANCE))  # >= 1",
        "close = 1",
        STAMPS,
    ),
    (
        "render-duplicates",
        "the k nearest keys taken as they come (one symmetric source k times)",
        UP_PY,
        "first = np.sort(first)[:k]  # each source once, by its nearest turn",
        "first = np.arange(k)",
        STAMPS,
    ),
    (
        "library-v1-saturated",
        "a version-1 library never flags a saturated source",
        UP_PY,
        'values["saturated"] = np.maximum.reduceat(values["pixels"], start) >= 255',
        'values["saturated"] = np.maximum.reduceat(values["pixels"], start) > 255',
        STAMPS,
    ),
    (
        "library-size-lost",
        "a loaded library forgets the size of its images",
        UP_PY,
        'values["image_size"] = None if size < 0 else size',
        'values["image_size"] = None',
        STAMPS,
    ),
    (
        "stamps-no-sky",
        "stamps drop the image's sky level",
        UP_PY,
        "out = library.render(np.maximum(counts - sky, 0.0), size, threshold=t) + np.rint(sky)",
        "out = library.render(np.maximum(counts - sky, 0.0), size, threshold=t)",
        STAMPS,
    ),
    (
        "stamps-noise-threshold",
        "stamps take every ripple of a noisy sky for a source",
        UP_PY,
        "t = max(THRESHOLDS[downsample], SKY_SIGMAS * noise) if threshold is None else threshold",
        "t = THRESHOLDS[downsample] if threshold is None else threshold",
        STAMPS,
    ),
    (
        "peaks-no-saturation-boost",
        "a saturated block rendered with its clipped peak",
        UP_PY,
        "peak = KNEE + (peak - KNEE) * (3.0 + 2.0 * area)",
        "peak = peak",
        MOFFAT,
    ),
    (
        "sources-flux-scale",
        "an area source's flux not scaled by the block area",
        UP_PY,
        "flux = float(w.sum()) * s * s",
        "flux = float(w.sum())",
        MOFFAT,
    ),
    # -- features.py
    (
        "fwhm-radius",
        "the FWHM taken as the radius of the half-maximum disc",
        FEAT_PY,
        'fwhm = 2.0 * np.sqrt(cat["half"][bright] / np.pi)',
        'fwhm = np.sqrt(cat["half"][bright] / np.pi)',
        FEATURES,
    ),
    (
        "bright-by-flux",
        "bright sources chosen by their flux, not their peak",
        FEAT_PY,
        'bright = cat["peak"] >= BRIGHT',
        'bright = cat["flux"] >= BRIGHT',
        FEATURES,
    ),
    (
        "fwhm-max-mean",
        "fwhm_max is the mean",
        FEAT_PY,
        "fwhm.max() if len(fwhm) else 0.0,",
        "fwhm.mean() if len(fwhm) else 0.0,",
        FEATURES,
    ),
    (
        "half-strict",
        "pixels strictly above half the peak",
        FEAT_PY,
        "np.bincount(labels, weights=vals >= peak[labels] / 2.0, minlength=n),",
        "np.bincount(labels, weights=vals > peak[labels] / 2.0, minlength=n),",
        FEATURES,
    ),
    (
        "max-above-sky",
        "max measured above the sky",
        FEAT_PY,
        "float(np.nonzero(levels)[0].max()),",
        "float(np.nonzero(levels)[0].max() - sky.background),",
        FEATURES,
    ),
    (
        "mean-of-sources",
        "mean over the pixels above the sky only",
        FEAT_PY,
        "np.log10(1e-3 + np.dot(np.arange(256), levels) / sky.image.size),",
        "np.log10(1e-3 + np.dot(np.arange(256), levels) / max(len(sky.index), 1)),",
        FEATURES,
    ),
    (
        "flux-isophotal",
        "a detection's flux is its core above 5 counts, not its extent",
        FEAT_PY,
        "flux = total[where] * core / shared[where]",
        "flux = core",
        FEATURES,
    ),
    (
        "flux-edges-shifted",
        "the cumulative counts against the upper flux edges",
        FEAT_PY,
        "above = (logf[:, None] > FLUX_BINS[None, :-1]).sum(0)  # cumulative counts N(> F)",
        "above = (logf[:, None] > FLUX_BINS[None, 1:]).sum(0)",
        FEATURES,
    ),
    (
        "sky-sigma-mad-factor",
        "the one-sided sky sigma divided by the MAD factor",
        FEAT_PY,
        "return float(median), (_level_quantile(levels, 0.75) - median) / 0.6745",
        "return float(median), (_level_quantile(levels, 0.75) - median) / 1.4826",
        FEATURES,
    ),
    # -- the critic's BatchNorm statistics
    (
        "critic-var-within",
        "the pooled variance without the spread of the batch means",
        SCORER_PY,
        '"var": jnp.asarray(s["var"].mean(0) + s["mean"].var(0), jnp.float32),',
        '"var": jnp.asarray(s["var"].mean(0), jnp.float32),',
        CRITIC,
    ),
    (
        "critic-first-batch",
        "the statistics of the first batch only",
        SCORER_PY,
        "for idx in np.array_split(pick, max(1, len(pick) // batch)):",
        "for idx in [pick[:batch]]:",
        CRITIC,
    ),
    (
        "critic-momentum",
        "the running average's update read as the batch statistic",
        SCORER_PY,
        "batches.append(jax.tree.map(lambda a, b: np.asarray(a / (1.0 - (b - a))), new0, new1))",
        "batches.append(jax.tree.map(lambda a, b: np.asarray(a), new0, new1))",
        CRITIC,
    ),
    (
        "critic-range",
        "statistics measured on [0, 1] images, not the GAN's [-1, 1]",
        SCORER_PY,
        'x = jnp.asarray(b["image"]) * 2.0 - 1.0  # the GAN\'s [-1, 1] range',
        'x = jnp.asarray(b["image"])',
        CRITIC,
    ),
    (
        "critic-gan-statistics",
        "the critic keeps its initial BatchNorm statistics, not those of real images",
        SCORER_PY,
        'if "batch_stats" in stats:  # a BatchNorm discriminator',
        "if False:",
        [CRITIC_SCORER],
    ),
    # -- decoding PNGs (the fuzz test's pixels)
    (
        "png-16-bit-low-byte",
        "16-bit images read by their low byte",
        "cosmojax/data/layout.py",
        'arr = np.clip(wide >> 8 if mode != "I" or wide.max() > 255 else wide, 0, 255)',
        "arr = np.clip(wide & 255, 0, 255)",
        FUZZ,
    ),
    (
        "png-red-channel",
        "colour images read by their red channel",
        "cosmojax/data/layout.py",
        'arr = np.asarray(im.convert("L"), np.uint8)',
        "arr = np.asarray(im.getchannel(0), np.uint8)",
        FUZZ,
    ),
    # -- scoring.py and sampling.py (being rewritten elsewhere: run last)
    (
        "score-unclipped",
        "scores not clipped to [0, 8]",
        "cosmojax/scoring.py",
        "return jnp.clip(pred, SCORE_MIN, SCORE_MAX)",
        "return pred",
        [*SCORING, CRITIC_SCORER],
    ),
    (
        "score-max-downsample",
        "scoring reduces images by block maximum, not by area as the scorer's data",
        "cosmojax/scoring.py",
        "return resample.prepare_image(image, self.resolution)",
        'return resample.prepare_image(image, self.resolution, "max")',
        [*SCORING, CRITIC_SCORER],
    ),
    (
        "score-latest",
        "scoring loads the latest checkpoint, not the best",
        "cosmojax/scoring.py",
        "task, state, step = restore.load_run(workdir, step=step, best=True)",
        "task, state, step = restore.load_run(workdir, step=step, best=False)",
        SCORING,
    ),
    (
        "interpolate-skips-start",
        "the interpolation path starts one step in",
        "cosmojax/sampling.py",
        "t = np.linspace(0.0, 1.0, steps)[:, None]",
        "t = np.linspace(0.0, 1.0, steps + 1)[1:, None]",
        [RESUME],
    ),
    (
        "sample-one-key",
        "sample draws the latents with the key itself, not its first half",
        "cosmojax/sampling.py",
        "k_z, k_x = jax.random.split(key)\n        return self.decode_float(",
        "k_z, k_x = key, jax.random.split(key)[1]\n        return self.decode_float(",
        [RESUME],
    ),
    (
        "latents-fixed-key",
        "every key draws the same latents",
        "cosmojax/sampling.py",
        "return jax.random.normal(key, (n, self.latent_dim), jnp.float32)",
        "return jax.random.normal(jax.random.PRNGKey(0), (n, self.latent_dim), jnp.float32)",
        [RESUME],
    ),
]


def node_exists(root: Path, node: str) -> bool:
    """Whether a test file (and function, without its parameters) exists under ``root``."""
    path, _, name = node.partition("::")
    file = root / path
    if not file.is_file():
        return False
    return not name or f"def {name.split('[')[0]}(" in file.read_text()


def scratch_copy(baseline: str | None) -> Path:
    """The tracked and untracked (not ignored) files of the tree in a temporary
    folder; with ``baseline``, the test files as they were at that commit."""
    out = Path(tempfile.mkdtemp(prefix="cosmojax-mutants-"))
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        src = REPO / name
        if src.is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / name)
    if baseline:
        tests = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", baseline, "tests"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for name in tests:
            blob = subprocess.run(
                ["git", "show", f"{baseline}:{name}"], cwd=REPO, capture_output=True, check=True
            ).stdout
            (out / name).write_bytes(blob)
    return out


def run_tests(root: Path, nodes: list[str]) -> dict:
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *nodes],
        cwd=root,
        capture_output=True,
        text=True,
    )
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    if proc.returncode not in (0, 1):
        tail = (proc.stdout + proc.stderr)[-1500:]
        raise RuntimeError(f"pytest exited {proc.returncode} on {nodes}:\n{tail}")
    return {"killed": proc.returncode == 1, "by": failed[:1], "seconds": round(time.time() - start)}


def restore(file: Path, src: bytes, mutated: bytes, old: bytes, new: bytes) -> None:
    """Puts ``file`` back to ``src`` byte for byte; if someone changed it meanwhile,
    undoes only the mutant's line in their version."""
    now = file.read_bytes()
    if now == mutated:
        file.write_bytes(src)
    elif now.count(new) == 1:
        file.write_bytes(now.replace(new, old))
    elif now != src:
        print(f"WARNING: {file} changed during the mutant; check it by hand", file=sys.stderr)


def apply_and_run(root: Path, mutant, tests=None) -> dict:
    """Applies ``mutant`` under ``root``, runs its tests (or ``tests``) that exist
    there, restores the file: ``{"killed", "by", "seconds"}`` (not killed when no
    test exists)."""
    _, _, path, old, new, own = mutant
    nodes = [n for n in tests or own if node_exists(root, n)]
    if not nodes:
        return {"killed": False, "by": []}
    file, old, new = root / path, old.encode(), new.encode()
    src = file.read_bytes()
    if src.count(old) != 1:
        return {"error": f"line not found once in {path}"}
    mutated = src.replace(old, new)
    file.write_bytes(mutated)
    try:
        return run_tests(root, nodes)
    finally:
        restore(file, src, mutated, old, new)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*")
    p.add_argument("--scratch", action="store_true", help="mutate a copy of the tree")
    p.add_argument("--baseline", help="only the test files of this commit (implies --scratch)")
    p.add_argument("--compare", help="the test files of this commit (before) and today's (after)")
    p.add_argument("--list", action="store_true", help="check every line, print the names")
    p.add_argument("--tests", nargs="+", help="these test nodes instead of each mutant's own")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # restores, as on Ctrl-C
    chosen = [m for m in MUTANTS if not args.names or m[0] in args.names]
    if args.list:
        for name, what, path, old, *_ in chosen:
            n = (REPO / path).read_text().count(old)
            print(f"{name:28s} {path:34s} {'ok' if n == 1 else f'FOUND {n}x'}  {what}")
        return
    roots = {}
    if args.baseline or args.compare:
        roots["before"] = scratch_copy(args.baseline or args.compare)
    if not args.baseline:
        roots["after"] = scratch_copy(None) if args.scratch else REPO
    rows = []
    try:
        for mutant in chosen:
            row = {"mutant": mutant[0], "bug": mutant[1], "file": mutant[2]}
            for label, root in roots.items():
                row[label] = apply_and_run(root, mutant, args.tests)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        for root in roots.values():
            if root != REPO:
                shutil.rmtree(root, ignore_errors=True)
    tally = {f"killed_{k}": sum(bool(r[k].get("killed")) for r in rows) for k in roots}
    print(json.dumps({"runs": rows, "tried": len(rows), **tally}, indent=1))


if __name__ == "__main__":
    main()
