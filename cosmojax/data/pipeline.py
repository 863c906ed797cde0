"""The input pipeline: prepared arrays in memory -> tf.data -> numpy batches.

How a training batch flows::

    CIL folder --(TFDS prepare, once per resolution)--> float16 [N, r, r] in memory
      --IndexSampler(step)--> global batch indices (a pure function of seed, step)
      --host slice (jax.process_index/count)--> gather + float32 [b, r, r, 1]
      --tf.data prefetch--> {"image", "target", "id"} numpy batches

Because a batch is a pure function of ``(seed, step)``, resuming at step k
reproduces exactly the batches an uninterrupted run would have seen, and the
data-iterator position is just the step. Every host computes the same global
indices and takes its own contiguous slice, so host shards are disjoint and
together cover each global batch. Random flips/rotations are applied on the
accelerator inside the train step (:mod:`cosmojax.data.augment`).

The train/validation split of a set is by a threshold on a stable hash of the
image id (SHA-256, independent of order, machine, library versions and of the
other ids: adding images never moves an old one across the split).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterator

import numpy as np

from cosmojax.data import layout, sources


@dataclasses.dataclass(frozen=True)
class Split:
    """One set of images in memory: ids (str), images float16 [N, r, r] in [0, 1],
    targets, and optionally each image's full-resolution statistics float32 [N, F]."""

    ids: np.ndarray
    images: np.ndarray
    targets: np.ndarray
    stats: np.ndarray | None = None

    def __len__(self):
        return len(self.ids)

    def take(self, index) -> Split:
        return Split(
            self.ids[index],
            self.images[index],
            self.targets[index],
            None if self.stats is None else self.stats[index],
        )

    @staticmethod
    def concat(*parts: Split) -> Split:
        fields = ["ids", "images", "targets"]
        if all(p.stats is not None for p in parts):
            fields.append("stats")
        return Split(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


@functools.lru_cache(maxsize=8)
def _load_cached(root: str, split: str, resolution: int, downsample: str, stats: bool) -> Split:
    import tensorflow_datasets as tfds

    from cosmojax.data import tfds_builder

    builder = tfds_builder.prepared_builder(root, resolution, downsample, with_stats=stats)
    arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    ids = np.asarray([i.decode() for i in arrays["id"]])
    order = np.argsort(ids, kind="stable")  # canonical order, whatever TFDS shuffled
    return Split(
        ids[order],
        arrays["image"][order],
        arrays["target"][order],
        arrays["stats"][order] if stats else None,
    )


def load_split(
    data_dir: str | None,
    split: str,
    resolution: int,
    downsample: str = "area",
    *,
    stats: bool = False,
) -> Split:
    """Loads a whole split at ``resolution`` (preparing it on first use); ids sorted.
    ``downsample``: ``area`` averages (default) or block ``max`` (generators).
    ``stats``: also each image's full-resolution statistics (``Split.stats``)."""
    if split not in layout.SPLITS:
        raise layout.DataError(f"unknown split {split!r}; expected one of {layout.SPLITS}")
    from cosmojax.data import resample

    resample.check_downsample(downsample)
    root = sources.resolve_data_dir(data_dir)
    return _load_cached(str(root), split, int(resolution), downsample, bool(stats))


def _hash01(image_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_train_val(data: Split, val_fraction: float = 0.1, seed: int = 0) -> tuple[Split, Split]:
    """Deterministic train/validation split: an id goes to validation when its hash
    (uniform in [0, 1)) is below ``val_fraction``.

    Membership depends on the id alone, so it is independent of the order of the
    data, and adding images never moves an old id from one side to the other.
    About ``val_fraction * N`` ids land in validation (binomially, not exactly).
    """
    val = validation_mask(data.ids, val_fraction, seed)
    return data.take(~val), data.take(val)


def validation_mask(ids, val_fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Which of ``ids`` :func:`split_train_val` puts in validation (bool array)."""
    keys = np.asarray([_hash01(i, seed) for i in ids], np.float64)
    val = keys < val_fraction
    if val_fraction > 0 and len(keys) > 1 and not val.any():
        # a tiny set can draw no validation id: it gets the one with the smallest hash
        val[np.argmin(keys)] = True
    return val


@dataclasses.dataclass(frozen=True)
class IndexSampler:
    """Global batch indices as a pure function of the step.

    Epoch ``e`` visits a permutation of all N examples drawn from
    ``numpy.random.default_rng([seed, e])``; the last ``N % batch_size``
    examples of each permutation are dropped, so all batches are full.
    """

    n: int
    batch_size: int
    seed: int = 0

    def __post_init__(self):
        if self.n < self.batch_size:
            raise ValueError(f"batch_size {self.batch_size} is larger than the data set ({self.n})")

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size

    @functools.lru_cache(maxsize=2)  # noqa: B019 (the sampler is small and immutable)
    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def global_indices(self, step: int) -> np.ndarray:
        epoch, k = divmod(int(step), self.steps_per_epoch)
        return self.permutation(epoch)[k * self.batch_size : (k + 1) * self.batch_size]

    def host_indices(self, step: int, process_index: int = 0, process_count: int = 1):
        """This host's contiguous slice of the global batch of ``step``."""
        if self.batch_size % process_count:
            raise ValueError(f"batch_size {self.batch_size} must divide over {process_count} hosts")
        b = self.batch_size // process_count
        return self.global_indices(step)[process_index * b : (process_index + 1) * b]


def _host(process_index, process_count):
    if process_index is None or process_count is None:
        import jax

        return jax.process_index(), jax.process_count()
    return process_index, process_count


def gather(data: Split, index: np.ndarray) -> dict[str, np.ndarray]:
    """A numpy batch: image float32 [b, r, r, 1], target float32 [b], id str [b]
    (and stats float32 [b, F] where the split has them)."""
    batch = {
        "image": data.images[index].astype(np.float32)[..., None],
        "target": data.targets[index].astype(np.float32),
        "id": data.ids[index],
    }
    if data.stats is not None:
        batch["stats"] = data.stats[index].astype(np.float32)
    return batch


def train_dataset(
    data: Split,
    *,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    num_steps: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
):
    """tf.data.Dataset of this host's share of the global batches ``start_step, ...``.

    Element ``k`` is the batch of step ``start_step + k``; the set repeats
    (reshuffled every epoch) until ``num_steps`` (forever if None).
    """
    import tensorflow as tf

    p, count = _host(process_index, process_count)
    sampler = IndexSampler(len(data), batch_size, seed)
    b = batch_size // count
    with tf.device("/cpu:0"):  # gathers run in TF's thread pool, without the GIL
        images = tf.Variable(data.images, trainable=False)
        targets = tf.constant(data.targets.astype(np.float32))
        ids = tf.constant(data.ids.astype(np.bytes_))
        stats = None if data.stats is None else tf.constant(data.stats.astype(np.float32))

    def indices(step):
        return sampler.host_indices(int(step), p, count).astype(np.int64)

    def to_dict(step):
        idx = tf.ensure_shape(tf.numpy_function(indices, [step], tf.int64, stateful=False), (b,))
        batch = {
            "image": tf.cast(tf.gather(images, idx), tf.float32)[..., None],
            "target": tf.gather(targets, idx),
            "id": tf.gather(ids, idx),
        }
        if stats is not None:
            batch["stats"] = tf.gather(stats, idx)
        return batch

    end = np.iinfo(np.int64).max if num_steps is None else int(num_steps)
    ds = tf.data.Dataset.range(int(start_step), end)
    ds = ds.map(to_dict, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def train_batches(data: Split, **kwargs) -> Iterator[dict[str, np.ndarray]]:
    """Numpy iterator over :func:`train_dataset` (ids decoded to str)."""
    for batch in train_dataset(data, **kwargs).as_numpy_iterator():
        batch["id"] = batch["id"].astype(str)
        yield batch


def map_padded(fn, arrays, batch_size: int) -> list[np.ndarray]:
    """``fn(*chunks)`` over the rows of ``arrays`` (float32, the same length) in
    batches of ``batch_size``, the last one padded with zeros, so that a jitted
    ``fn`` compiles one shape; each batch's output cut to its real rows.

    >>> [o.tolist() for o in map_padded(lambda a: a * 2, [np.arange(3.0)], 2)]
    [[0.0, 2.0], [4.0]]
    """
    arrays = [np.asarray(a, np.float32) for a in arrays]
    out = []
    for start in range(0, len(arrays[0]), batch_size):
        chunks = [a[start : start + batch_size] for a in arrays]
        n = len(chunks[0])
        chunks = [
            np.concatenate([c, np.zeros((batch_size - n, *c.shape[1:]), c.dtype)]) for c in chunks
        ]
        out.append(np.asarray(fn(*chunks))[:n])
    return out


def eval_batches(
    data: Split,
    batch_size: int,
    *,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """This host's share of fixed-size batches over ``data`` in order, the last one
    padded; ``mask`` is 1.0 for real examples and 0.0 for padding."""
    p, count = _host(process_index, process_count)
    if batch_size % count:
        raise ValueError(f"batch_size {batch_size} must divide over {count} hosts")
    b = batch_size // count
    for start in range(0, len(data), batch_size):
        index = np.arange(start + p * b, start + (p + 1) * b)
        mask = index < len(data)
        batch = gather(data, np.minimum(index, len(data) - 1))
        batch["mask"] = mask.astype(np.float32)
        yield batch
