"""The input pipeline: shapes, determinism, split stability, host shards, resume."""

from __future__ import annotations

import numpy as np
import pytest

from cosmojax.data import pipeline


def fake_split(n=50, r=8):
    rng = np.random.default_rng(0)
    return pipeline.Split(
        np.array([f"{1000000 + 37 * i}" for i in range(n)]),
        rng.uniform(size=(n, r, r)).astype(np.float16),
        rng.uniform(0, 6, n).astype(np.float32),
    )


def test_load_split_shapes_and_order(tiny_data):
    s = pipeline.load_split(str(tiny_data), "scored", 16)
    assert len(s) == 48 and s.images.shape == (48, 16, 16) and s.images.dtype == np.float16
    assert list(s.ids) == sorted(s.ids)
    assert 0.0 <= float(s.images.min()) and float(s.images.max()) <= 1.0
    truth = dict(zip(*pipeline.layout.read_csv(tiny_data / "scored.csv"), strict=True))
    assert all(truth[i] == pytest.approx(t) for i, t in zip(s.ids, s.targets, strict=True))


def test_train_val_split_is_stable_when_data_is_added():
    s = fake_split(400)
    train, val = pipeline.split_train_val(s, 0.1)
    assert 20 <= len(val) <= 60 and len(train) + len(val) == 400
    assert not set(train.ids) & set(val.ids)
    shuffled = s.take(np.random.default_rng(1).permutation(400))
    _, val2 = pipeline.split_train_val(shuffled, 0.1)
    assert sorted(val2.ids) == sorted(val.ids)  # independent of order
    # ids keep their side when the set grows: each of several growths of a
    # 333-image set (where rank-based splits moved ids) keeps every old id's side
    old = s.take(slice(0, 333))
    old_val = set(pipeline.split_train_val(old, 0.1)[1].ids)
    for extra in (4, 37, 67, 777):
        more = pipeline.Split(
            np.array([f"{2000000 + 11 * i}" for i in range(extra)]),
            np.zeros((extra, 8, 8), np.float16),
            np.zeros(extra, np.float32),
        )
        grown = pipeline.Split.concat(old, more)
        new_val = set(pipeline.split_train_val(grown, 0.1)[1].ids)
        assert new_val & set(old.ids) == old_val, extra


def test_batches_have_dtypes_and_are_deterministic():
    s = fake_split()
    a = list(
        pipeline.train_batches(
            s, batch_size=8, seed=3, num_steps=7, process_index=0, process_count=1
        )
    )
    b = list(
        pipeline.train_batches(
            s, batch_size=8, seed=3, num_steps=7, process_index=0, process_count=1
        )
    )
    assert len(a) == 7
    assert a[0]["image"].shape == (8, 8, 8, 1) and a[0]["image"].dtype == np.float32
    assert a[0]["target"].dtype == np.float32 and a[0]["id"].dtype.kind == "U"
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])
    c = next(pipeline.train_batches(s, batch_size=8, seed=4, process_index=0, process_count=1))
    assert list(c["id"]) != list(a[0]["id"])


def test_resume_at_step_k_sees_the_same_batches():
    s = fake_split()
    full = list(
        pipeline.train_batches(
            s, batch_size=8, seed=1, num_steps=12, process_index=0, process_count=1
        )
    )
    tail = list(
        pipeline.train_batches(
            s, batch_size=8, seed=1, start_step=5, num_steps=12, process_index=0, process_count=1
        )
    )
    assert [list(b["id"]) for b in full[5:]] == [list(b["id"]) for b in tail]


def test_epochs_visit_every_example_once():
    sampler = pipeline.IndexSampler(50, 8, seed=2)
    epoch = np.concatenate([sampler.global_indices(k) for k in range(sampler.steps_per_epoch)])
    assert len(set(epoch)) == len(epoch) == 48
    assert not np.array_equal(sampler.global_indices(0), sampler.global_indices(6))


def test_host_shards_are_disjoint_and_cover_the_global_batch():
    s = fake_split()
    hosts = [
        next(pipeline.train_batches(s, batch_size=12, seed=0, process_index=p, process_count=3))
        for p in range(3)
    ]
    glob = next(pipeline.train_batches(s, batch_size=12, seed=0, process_index=0, process_count=1))
    ids = [list(h["id"]) for h in hosts]
    assert all(len(i) == 4 for i in ids)
    assert sum(ids, []) == list(glob["id"])
    with pytest.raises(ValueError, match="divide"):
        pipeline.IndexSampler(50, 10).host_indices(0, 0, 3)


def test_eval_batches_pad_and_mask():
    s = fake_split(10)
    batches = list(pipeline.eval_batches(s, 4, process_index=0, process_count=1))
    assert [b["mask"].sum() for b in batches] == [4, 4, 2]
    assert batches[-1]["image"].shape == (4, 8, 8, 1)
    seen = np.concatenate([b["id"][b["mask"] > 0] for b in batches])
    assert list(seen) == list(s.ids)
