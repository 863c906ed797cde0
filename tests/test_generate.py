"""Score-filtered generation: what is kept, and the acceptance rate's counts."""

import jax
import ml_collections
import numpy as np

from cosmojax import generate


class FakeGenerator:
    latent_dim = 4
    config = ml_collections.ConfigDict({"data": {"downsample": "area"}})

    def sample_float(self, key, n):
        # The image brightness is the first latent: scores below follow it.
        z = np.asarray(jax.random.uniform(key, (n, self.latent_dim)))
        return np.ones((len(z), 8, 8), np.float32) * z[:, :1, None]


class MeanScorer:
    def score(self, images):
        return images.reshape(len(images), -1).mean(axis=1) / 255.0 * 8.0


def run(num, batch, **filter_args):
    """16x16 images from the fake generator, scored by MeanScorer when filtered."""
    scorer = MeanScorer() if "min_score" in filter_args else None
    return generate.generate(
        FakeGenerator(),
        num,
        size=16,
        method="nearest",
        scorer=scorer,
        batch=batch,
        progress=False,
        **filter_args,
    )


def test_min_score_keeps_only_passing_and_counts_every_pass():
    imgs, scores, drawn, passed = run(5, 32, min_score=4.0)
    assert imgs.shape == (5, 16, 16) and imgs.dtype == np.uint8
    assert np.all(scores >= 4.0)
    np.testing.assert_allclose(scores, MeanScorer().score(imgs), rtol=1e-6)
    # One batch of 32 uniform brightnesses: about half pass, all of them counted,
    # though only 5 are kept.
    assert drawn == 32
    assert 5 <= passed <= 32 and passed > len(imgs)


def test_without_a_filter_every_candidate_is_kept():
    imgs, scores, drawn, passed = run(3, 4)
    assert imgs.shape == (3, 16, 16) and scores is None
    assert drawn == 4 and passed == 4


def test_stops_at_max_candidates_when_too_few_pass():
    imgs, scores, drawn, passed = run(5, 8, min_score=9.0, max_candidates=24)
    assert len(imgs) == 0 and passed == 0 and drawn == 24
