"""The synthetic generator: real layout, determinism, calibration, score function."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cosmojax.data import layout, synthetic
from cosmojax.evaluation import catalog


def read_rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_layout_matches_the_real_data(tiny_data):
    lab, sc = read_rows(tiny_data / "labeled.csv"), read_rows(tiny_data / "scored.csv")
    assert lab[0] == sc[0] == ["Id", "Actual"]
    assert {r[1] for r in lab[1:]} <= {"1.0", "0.0"}
    assert all(len(r[1].split(".")[1]) == 10 for r in sc[1:])
    all_ids = [p.stem for s in layout.SPLITS for p in (tiny_data / s).glob("*.png")]
    assert len(all_ids) == 12 + 48 + 8 == len(set(all_ids))
    assert all(len(i) == 7 and i.isdigit() for i in all_ids)
    img = layout.read_png(next((tiny_data / "query").glob("*.png")))
    assert img.shape == (100, 100) and img.dtype == np.uint8
    truth = read_rows(tiny_data.parent / "query_truth.csv")
    assert {r[0] for r in truth[1:]} == {p.stem for p in (tiny_data / "query").glob("*.png")}
    assert not (tiny_data / "query.csv").exists()


def test_deterministic_for_a_seed_whatever_the_workers(tmp_path):
    kw = dict(labeled=3, scored=5, query=2, seed=11, size=64, progress=False)
    a = synthetic.generate(tmp_path / "a", workers=1, **kw)
    b = synthetic.generate(tmp_path / "b", workers=2, **kw)
    c = synthetic.generate(tmp_path / "c", workers=1, **{**kw, "seed": 12})
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "scored.csv").read_text() != (c / "scored.csv").read_text()


def test_refuses_existing_output_and_truth_inside(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError):
        synthetic.generate(tmp_path / "full", labeled=1, scored=1, query=1, progress=False)
    with pytest.raises(ValueError, match="outside the data folder"):
        synthetic.generate(
            tmp_path / "d",
            labeled=1,
            scored=1,
            query=1,
            progress=False,
            query_truth=tmp_path / "d" / "truth.csv",
        )
    assert not (tmp_path / "d").exists()


def test_clean_images_are_calibrated_to_the_real_one():
    # Reference (a real labeled image): 99.72% zeros, mean 0.031, max 255,
    # components above 0/5/20/50: 50/18/9/6.
    stats = [
        catalog.image_summary(synthetic.make_image(3, "labeled", i, "clean")[0]) for i in range(12)
    ]
    med = {k: np.median([s[k] for s in stats]) for k in stats[0]}
    assert 0.99 < med["zero_fraction"] < 0.9995
    assert med["max"] == 255
    assert 30 <= med["components_above_0"] <= 75
    assert 3 <= med["components_above_20"] <= 15
    assert 5 <= med["bright_objects"] <= 25


def test_photos_are_not_cosmology_and_score_near_zero():
    img, score = synthetic.make_image(0, "scored", 0, "photo")
    assert img.shape == (1000, 1000) and catalog.zero_fraction(img) < 0.5
    assert 0 <= score <= synthetic.PHOTO_MAX_SCORE


def test_score_is_deterministic_monotone_and_depends_on_corruption():
    rng = np.random.default_rng(5)
    p = synthetic.sample_cosmology(rng, "clean")
    clean = synthetic.to_score(synthetic.raw_quality(p))
    p.corruptions = {"noise": 0.9}
    noisy = synthetic.to_score(synthetic.raw_quality(p))
    assert noisy < clean
    raws = np.linspace(1e-6, 1.0, 50)
    scores = [synthetic.to_score(r) for r in raws]
    assert np.all(np.diff(scores) >= 0)
    assert synthetic.COSMOLOGY_MIN_SCORE <= min(scores) and max(scores) <= 6.25


def test_score_distribution_follows_the_real_histogram():
    rng = np.random.default_rng(0)
    scores = np.array(
        [
            synthetic.to_score(synthetic.raw_quality(synthetic.sample_cosmology(rng)))
            for _ in range(3000)
        ]
    )
    # Real scored.csv (92% cosmology images): mean 1.654, median 1.503, sd 1.086.
    assert 1.5 < scores.mean() < 2.0
    assert 1.3 < np.median(scores) < 1.8
    assert 0.85 < scores.std() < 1.3


def test_parameters_are_those_each_image_was_drawn_with(tiny_data):
    params = synthetic.parameters(labeled=12, scored=48, query=8, seed=7)
    ids, scores = layout.read_csv(tiny_data / "scored.csv")
    q_ids, q_scores = layout.read_csv(tiny_data.parent / "query_truth.csv")
    l_ids, labels = layout.read_csv(tiny_data / "labeled.csv")
    assert set(params) == set(ids) | set(q_ids) | set(l_ids)
    for i, score in zip([*ids, *q_ids], [*scores, *q_scores], strict=True):
        p = params[i]
        if p is None:
            assert score <= synthetic.PHOTO_MAX_SCORE
        else:
            assert synthetic.to_score(synthetic.raw_quality(p)) == pytest.approx(score, abs=1e-9)
    clean = [params[i] is not None and not params[i].corruptions for i in l_ids]
    assert clean == [bool(v) for v in labels]


def test_density_and_gain_make_another_sky():
    """``generate(density=, gain=)``: every image's sources times exp(2.3 density)
    on average and fluxes times 10**(1.2 gain), so more of them saturate; the
    default set's draws are left as they were."""
    base = [synthetic._draw(3, "labeled", i, "clean")[0] for i in range(12)]
    dense = [synthetic._draw(3, "labeled", i, "clean", density=0.5)[0] for i in range(12)]
    bright = [synthetic._draw(3, "labeled", i, "clean", gain=0.4)[0] for i in range(12)]
    ratio = np.mean([len(d.sources) for d in dense]) / np.mean([len(b.sources) for b in base])
    assert 2.2 < ratio < 4.5, ratio  # exp(1.15) = 3.2
    for b, g in zip(base, bright, strict=True):
        np.testing.assert_allclose(g.peaks(), b.peaks() * 10 ** (1.2 * 0.4), rtol=1e-6)
    saturated = [
        np.mean(
            [
                synthetic.make_image(3, "labeled", i, "clean", gain=g)[0].max() >= 255
                for i in range(8)
            ]
        )
        for g in (0.0, 0.4)
    ]
    assert saturated[1] > saturated[0], saturated
    img, _ = synthetic.make_image(3, "labeled", 0, "clean")
    np.testing.assert_array_equal(img, synthetic.make_image(3, "labeled", 0, "clean", 0.0, 0.0)[0])
