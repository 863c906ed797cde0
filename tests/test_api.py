"""The Python API: what the commands do, from Python, with the same results."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import cosmojax
from cosmojax import configlib, evaluate, generate, images, predict, sampling, scoring
from cosmojax.data import layout
from tests.helpers import tiny_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = {  # tests.helpers.tiny_config's fields, as dotted overrides
    "data.resolution": 16,
    "batch_size": 8,
    "eval_batch_size": 8,
    "num_steps": 2,
    "eval_every": 2,
    "checkpoint_every": 2,
    "log_every": 1,
    "eval_generated": 8,
}


def test_run_trains_a_config_file_to_num_steps(tiny_data, tmp_path):
    from cosmojax.train import checkpoint as ckpt_lib
    from cosmojax.train import metrics as metrics_lib

    workdir = tmp_path / "scorer"
    result = cosmojax.run(CONFIGS / "scorer.py", workdir, **TINY, **{"data.dir": tiny_data})
    assert int(result.state.step) == 2
    rows = metrics_lib.read_metrics(workdir)
    assert [r["step"] for r in rows if "train_loss" in r] == [1, 2]
    assert [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()] == [2]
    # the config the scripts would build: the file's get_config() with the overrides
    want = tiny_config("scorer", tiny_data, num_steps=2, eval_every=2, checkpoint_every=2)
    assert ckpt_lib.load_config(workdir).to_dict() == want.to_dict()


@pytest.fixture(scope="module")
def scorer_dirs(tiny_data, tmp_path_factory):
    """Two untrained tiny scorer workdirs (no training: a checkpoint written
    directly) whose output biases are 1 and 3."""
    from cosmojax import tasks
    from cosmojax.train import checkpoint as ckpt_lib

    config = tiny_config("scorer", tiny_data)
    task = tasks.build(config)
    state = task.init_state(jax.random.PRNGKey(0))
    dirs = []
    for bias in (1.0, 3.0):
        workdir = tmp_path_factory.mktemp("api") / f"scorer{bias:g}"
        ckpt_lib.check_or_write_config(workdir, config)
        params = {**state.params, "Dense_1": {**state.params["Dense_1"]}}
        params["Dense_1"]["bias"] = jnp.full((1,), bias)
        ckpt = ckpt_lib.Checkpoints(workdir, keep=1, best_metric=task.best_metric)
        ckpt.save(1, state.replace(params=params), {"task": "scorer", "step": 1}, {"eval_mae": 1})
        ckpt.close()
        dirs.append(workdir)
    return dirs


def test_run_passes_config_dicts_and_files_to_the_training_scripts_function(monkeypatch):
    from cosmojax import training

    calls = []
    monkeypatch.setattr(training, "train", lambda config, workdir: calls.append((config, workdir)))
    base = configlib.load(CONFIGS / "vae.py")
    cosmojax.run(base, "w1", num_steps=5, **{"model.latent_dim": 3})
    cosmojax.run(str(CONFIGS / "vae.py"), "w2", **{"data.dir": Path("/data/cil")})
    (c1, w1), (c2, w2) = calls
    steps = configlib.load(CONFIGS / "vae.py").num_steps
    assert steps != 5
    assert (w1, c1.num_steps, c1.model.latent_dim) == ("w1", 5, 3)
    assert base.num_steps == steps and base.model.latent_dim == 64  # the given one is untouched
    assert (w2, c2.data.dir, c2.num_steps) == ("w2", "/data/cil", steps)
    assert c1.is_locked and c2.is_locked  # as the scripts get it: no field can be added


def test_configlib_load_applies_overrides_and_names_unknown_fields():
    from configs import gan

    c = configlib.load(CONFIGS / "gan.py", num_steps=10, **{"optimizer.learning_rate": 0.5})
    want = gan.get_config()
    want.num_steps, want.optimizer.learning_rate = 10, 0.5
    assert c.to_dict() == want.to_dict()
    with pytest.raises(configlib.ConfigError) as e:
        configlib.load(CONFIGS / "vae.py", **{"data.dri": "x"})
    assert str(e.value) == (
        f"unknown config field 'data.dri' (did you mean 'data.dir'?); the fields are those "
        f"of {CONFIGS / 'vae.py'}"
    )
    with pytest.raises(configlib.ConfigError, match=r"^num_steps: expected .*\(int\), got 'ten'$"):
        configlib.load(CONFIGS / "vae.py", num_steps="ten")
    with pytest.raises(configlib.ConfigError, match=r"nope\.py: no such config file"):
        configlib.load(CONFIGS / "nope.py")
    with pytest.raises(configlib.ConfigError, match="unknown config field 'seed.x'"):
        configlib.override(want, **{"seed.x": 1})


def test_version_is_the_installed_packages_and_import_stays_cheap(monkeypatch):
    from importlib import metadata

    assert cosmojax.__version__ == metadata.version("cosmojax")
    monkeypatch.setattr(metadata, "version", lambda name: {"cosmojax": "9.8.7"}[name])
    assert cosmojax.__version__ == "9.8.7"  # read from the metadata, not a copy of it
    code = "import sys, cosmojax; cosmojax.run; cosmojax.__version__; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scoring_a_folder_equals_scoring_its_images(scorer_dirs, tiny_data):
    s = scoring.load(scorer_dirs[0])
    folder = tiny_data / "query"
    paths = sorted(folder.glob("*.png"))
    array = np.stack([layout.read_png(p) for p in paths])
    want = s.score(array)
    assert np.ptp(want) > 0  # the images score differently: their order shows
    np.testing.assert_array_equal(s.score(folder), want)
    np.testing.assert_array_equal(s.score(str(folder)), want)
    ids, pred = predict.predict_folder(s, folder, progress=False)
    assert ids == [p.stem for p in paths]
    np.testing.assert_array_equal(pred, want)


def test_an_ensemble_scores_the_mean_of_its_members_and_predict_uses_it(scorer_dirs, tiny_data):
    folder = tiny_data / "query"
    array = np.stack([layout.read_png(p) for p in sorted(folder.glob("*.png"))])
    a, b = (scoring.load(d).score(array) for d in scorer_dirs)
    assert np.abs(a - b).min() > 1.0  # the members disagree
    ensemble = scoring.load(scorer_dirs)
    assert isinstance(ensemble, scoring.Ensemble) and len(ensemble.members) == 2
    np.testing.assert_allclose(ensemble.score(folder), (a + b) / 2, rtol=1e-6)
    np.testing.assert_array_equal(ensemble.score(folder), ensemble.score(array))
    _, pred = predict.predict_folder(ensemble, folder, progress=False)
    np.testing.assert_array_equal(pred, ensemble.score(array))


def test_predict_scores_the_query_folder_of_data_dir(scorer_dirs, tiny_data, tmp_path, capsys):
    import shutil

    other = shutil.copytree(tiny_data, tmp_path / "other")  # another data set: fewer queries
    for p in sorted((other / "query").glob("*.png"))[3:]:
        p.unlink()
    workdir = str(scorer_dirs[0])
    predict.main(["--workdir", workdir, "--data_dir", str(other), "--out", str(tmp_path / "a")])
    ids, scores = predict.predict_folder(scoring.load(workdir), other / "query", False)
    assert len(ids) == 3
    want = layout.format_csv(ids, scores, header=layout.SUBMISSION_HEADER)
    assert (tmp_path / "a").read_text() == want
    assert "MAE" not in capsys.readouterr().out  # no truth for a data set's query images
    with pytest.raises(SystemExit):  # one folder: --images or --data_dir
        predict.parser().parse_args(
            ["--workdir", "w", "--out", "o", "--images", "i", "--data_dir", "d"]
        )


def fake_generator() -> sampling.Generator:
    """8x8 skies whose level is the first latent's sigmoid (no training)."""

    def decode_fn(params, model_state, z):
        return jnp.ones((len(z), 8, 8, 1)) * jax.nn.sigmoid(z[:, 0])[:, None, None, None]

    config = ml_collections.ConfigDict({"data": {"resolution": 8, "downsample": "area"}})
    return sampling.Generator("gan", config, {}, {}, decode_fn, None, latent_dim=4, step=0)


def test_generate_with_a_scorer_workdir_keeps_the_first_candidates_that_pass(scorer_dirs):
    g, workdir = fake_generator(), scorer_dirs[0]
    candidates = g.generate(64, size=32, seed=1)  # one batch: every candidate
    scores = scoring.load(workdir).score(candidates)
    threshold = float(np.median(scores))
    want = candidates[scores >= threshold][:4]
    assert np.ptp(scores) > 0 and not np.array_equal(want, candidates[:4])
    got = g.generate(4, size=32, seed=1, min_score=threshold, scorer=str(workdir))
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"^method 'stamps': this run has no source library"):
        g.generate(1, size=32, method="stamps")


def test_save_pngs_never_overwrites_and_numbers_on(tmp_path):
    a = np.full((2, 4, 4), 10, np.uint8)
    b = np.full((3, 4, 4), 20, np.uint8)
    first = images.save_pngs(a, tmp_path)
    second = images.save_pngs(b, tmp_path)  # the same folder, no ids: numbered on
    assert [p.name for p in first + second] == [f"{i:07d}.png" for i in range(5)]
    assert [int(layout.read_png(p).max()) for p in first + second] == [10, 10, 20, 20, 20]
    with pytest.raises(FileExistsError, match=r"0000001\.png: exists"):
        images.save_pngs(b[:2], tmp_path, ids=["0000009", "0000001"])
    assert not (tmp_path / "0000009.png").exists()  # nothing written
    assert layout.read_png(tmp_path / "0000001.png").max() == 10
    images.save_pngs(b[:1], tmp_path, ids=["0000001"], overwrite=True)
    assert layout.read_png(tmp_path / "0000001.png").max() == 20
    with pytest.raises(ValueError, match="different ids"):
        images.save_pngs(b[:2], tmp_path / "x", ids=["a", "a"])
    generate.write(b[:2], tmp_path / "gen", 0)
    with pytest.raises(FileExistsError, match=f"{generate.image_ids(2, 0)[0]}.png: exists"):
        generate.write(a, tmp_path / "gen", 0)  # the command's writer: the same ids again
    assert all(layout.read_png(p).max() == 20 for p in (tmp_path / "gen").iterdir())


def old_grid(imgs, cols, pad):
    """The hand-written montage that grid replaced (layout reference)."""
    n, h, w = imgs.shape
    rows = int(math.ceil(n / cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 64, np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = img
    return canvas


@pytest.mark.parametrize("n,cols,pad", [(5, None, 2), (7, 3, 1), (4, 4, 0), (1, None, 3)])
def test_grid_keeps_its_layout(n, cols, pad):
    imgs = np.random.default_rng(n).integers(0, 256, (n, 5, 7), dtype=np.uint8)
    got = np.asarray(images.grid(imgs, cols, stretch=False, pad=pad))
    np.testing.assert_array_equal(got, old_grid(imgs, cols or math.ceil(math.sqrt(n)), pad))
    stretched = np.asarray(images.grid(imgs[..., None], cols, pad=pad))
    want = old_grid(images.display_stretch(imgs), cols or math.ceil(math.sqrt(n)), pad)
    np.testing.assert_array_equal(stretched, want)


@pytest.mark.parametrize("module", [generate, predict, evaluate])
def test_help_shows_every_flag_with_help_and_default(module):
    p = module.parser()
    text = " ".join(p.format_help().split())
    name = module.__name__
    assert text.startswith(f"usage: python -m {name} ")
    formatter = p.formatter_class(p.prog)
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[0]
        assert action.help and flag in text, flag
        shown = formatter._get_help_string(action)
        if action.required:
            assert "default" not in shown, flag
        elif action.default is not argparse.SUPPRESS:  # deprecated aliases: their flag's
            assert "(default" in shown or "(required" in shown, flag
    if "(default: %(default)s)" in formatter._get_help_string(p._actions[-1]):
        assert f"(default: {p._actions[-1].default})" in text  # argparse filled it in
