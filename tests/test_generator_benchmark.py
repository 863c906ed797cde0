"""The generator benchmark's seeds: each seed trains its own run, and the
summary reports each metric's median and worst seed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import flat_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generator_quality as gq  # noqa: E402


def test_seed_summary_reports_the_median_and_the_worst_seed():
    rows = [
        {"statistics_frechet_ratio": 2.0, "memorisation_ratio": 1.1, "fraction_reaching_255": 0.5},
        {"statistics_frechet_ratio": 5.0, "memorisation_ratio": 0.7, "fraction_reaching_255": 0.9},
        {"statistics_frechet_ratio": 3.0, "memorisation_ratio": 0.9, "fraction_reaching_255": 0.8},
    ]
    s = gq.seed_summary(rows, {"fraction_reaching_255": 0.84})
    assert s["statistics_frechet_ratio"]["median"] == 3.0
    assert s["statistics_frechet_ratio"]["worst"] == 5.0  # the largest distance
    assert s["memorisation_ratio"]["worst"] == 0.7  # the closest to copying
    assert s["fraction_reaching_255"]["worst"] == 0.5  # the furthest from real's 0.84
    assert "domain_frechet" not in s


def test_seeds_train_different_runs_and_selection_scores_every_checkpoint(tiny_data, tmp_path):
    tiny = {
        "data.dir": str(tiny_data),
        "data.resolution": 16,
        "data.score_threshold": 1.0,
        "batch_size": 8,
        "eval_batch_size": 8,
        "eval_generated": 8,
        "model.hidden": 32,
        "model.latent_dim": 8,
    }
    runs = {s: gq.seed_workdir(tmp_path, "vae", s) for s in (0, 1)}
    results = {s: gq.train_seed("vae", s, runs[s], steps=2, **tiny) for s in runs}
    a, b = (flat_params(results[s].state.params) for s in (0, 1))
    assert all(a[k].shape == b[k].shape for k in a)
    assert sum(not np.array_equal(a[k], b[k]) for k in a) == len(a)  # every array differs
    assert gq.checkpoint_steps(runs[0]) == [1, 2]  # every evaluated checkpoint kept
    pick = gq.selection(runs[0], sizes=(4, 8))
    assert set(pick["frechet"][4]) == set(pick["frechet"][8]) == {1, 2}
    assert all(np.isfinite(v) for n in (4, 8) for v in pick["frechet"][n].values())
    assert pick["frechet"][4] != pick["frechet"][8]  # another sample size, another distance
    assert pick["changed"] == (pick["chosen"][4] != pick["chosen"][8])


def test_statistics_check_measures_against_every_real_image_and_reports_the_sampling_spread():
    import statistics_check as sc

    rng = np.random.default_rng(0)
    rows = [
        {
            "zero_fraction": 1.0 - f,
            **{f"components_above_{t}": float(rng.integers(10, 60)) for t in (0, 5, 20, 50)},
            "max": 255.0 if rng.random() < 0.8 else 200.0,
            "background": float(rng.random() < 0.2),
        }
        for f in rng.lognormal(np.log(0.003), 1.0, 400)
    ]
    whole = sc.summary_of_rows(rows)
    assert whole["nonzero_fraction"] == pytest.approx(
        1.0 - np.median([r["zero_fraction"] for r in rows])
    )
    spread = sc.sampling_spread(rows, 100, draws=200)
    # a median of 100 lognormal (sigma 1) values strays about 12% (one sd); of 399 of 400, hardly
    assert 0.08 < spread["nonzero_fraction"] < 0.5
    assert sc.sampling_spread(rows, 399, draws=200)["nonzero_fraction"] < 0.03
    c = sc.compare({**whole, "nonzero_fraction": 1.3 * whole["nonzero_fraction"]}, whole, spread)
    assert not c["nonzero_fraction"]["within_25%"] and c["components_above_0"]["within_25%"]
    assert c["nonzero_fraction"]["real_sampling_90"] == spread["nonzero_fraction"]
