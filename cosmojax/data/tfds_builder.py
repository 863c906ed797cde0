"""TFDS builder for the CIL layout (real data and the synthetic default alike).

Real data and the synthetic default go through this one builder, so the code
that reads real data is the tested code. It is constructed directly (never
looked up by name) and its download config forbids the GCS mirror
(``try_download_gcs=False``; TFDS also keeps GCS off by default), so
preparation makes no network access at all. TFDS's progress bars are off
while a preparation writes to a log file, and back on after it.

Where downsampling happens: at preparation, once per resolution. Each PNG is
decoded once per resolution, area-resampled (:mod:`cosmojax.data.resample`)
to ``resolution`` and stored as float16 in [0, 1] (ZLIB-compressed records:
the sparse sky compresses well). A copy prepared ``with_stats`` also stores
each image's full-resolution statistics vector (``stats``, float32,
:func:`cosmojax.evaluation.features.image_features` of the decoded 1000x1000
image), and its name carries that definition's version. Later passes read only these arrays and the
input pipeline keeps them in memory, so no epoch after the first decodes a PNG.

A prepared copy is named by resolution and by a fingerprint of the source
(:func:`cosmojax.data.sources.fingerprint`), so edited data gets a fresh copy
instead of a stale one. TFDS writes into a temporary folder and renames it when
complete: a failure or a kill leaves nothing that reads as a data set, and the
next preparation removes the leftovers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import multiprocessing
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from cosmojax import locks
from cosmojax.data import layout, resample, sources

VERSION = "1.0.0"


class CilCosmologyConfig(tfds.core.BuilderConfig):
    """One resolution of one source folder, with or without the full-resolution
    statistics (their definition's version is part of the name)."""

    def __init__(
        self,
        *,
        resolution: int,
        source: str = "any",
        downsample: str = "area",
        with_stats: bool = False,
        **kwargs,
    ):
        from cosmojax.evaluation import features

        kind = "" if downsample == "area" else downsample  # area copies keep their old names
        stats = f"_s{features.VERSION}" if with_stats else ""
        super().__init__(
            name=f"r{resolution}{kind}{stats}_{source}",
            version=VERSION,
            description=f"{resolution}x{resolution}, {downsample}-downsampled"
            + (f", full-resolution statistics v{features.VERSION}" if with_stats else ""),
            **kwargs,
        )
        self.resolution = int(resolution)
        self.downsample = downsample
        self.with_stats = bool(with_stats)


class CilCosmology(tfds.core.GeneratorBasedBuilder):
    """CIL 2018 cosmology images: splits labeled, scored, query; each example has its id."""

    VERSION = tfds.core.Version(VERSION)
    disable_shuffling = True  # readers sort by id; shuffling would only cost time
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the Kaggle competition data 'cil-cosmology-2018' and unzip it. The manual "
        "dir is the folder holding labeled/ scored/ query/ labeled.csv scored.csv, or the "
        "folder holding cosmology_aux_data_170429/ (the zip's own layout); the training "
        "scripts take it as --config.data.dir=PATH."
    )

    # TFDS announces a download ("Downloading and preparing dataset Unknown size")
    # and its end; nothing is downloaded here, and prepared_builder says what happens.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        print(f"Prepared {self.builder_config.name} in {self.data_dir}", file=sys.stderr)

    def _info(self):
        r = self.builder_config.resolution
        spec = {
            "id": tfds.features.Text(),
            "image": tfds.features.Tensor(
                shape=(r, r), dtype=np.float16, encoding=tfds.features.Encoding.ZLIB
            ),
            "target": tfds.features.Scalar(dtype=np.float32),
        }
        if self.builder_config.with_stats:
            from cosmojax.evaluation import features as stats_lib

            spec["stats"] = tfds.features.Tensor(shape=(stats_lib.SIZE,), dtype=np.float32)
        features = tfds.features.FeaturesDict(spec)
        return self.dataset_info_from_configs(
            features=features,
            homepage="https://www.kaggle.com/c/cil-cosmology-2018",
            description="target: label (labeled), score (scored), NaN (query: no target).",
        )

    def _split_generators(self, dl_manager):
        root = layout.find_root(dl_manager.manual_dir)
        listed = {s: layout.list_split(root, s) for s in layout.SPLITS}  # fail before decoding
        return {s: self._generate_examples(*listed[s]) for s in layout.SPLITS}

    def _generate_examples(self, ids, paths, targets):
        cfg = self.builder_config
        conversions = layout.ConversionLog()
        workers = os.cpu_count() or 1
        ctx = multiprocessing.get_context("spawn")  # safe beside TF and JAX threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            loaded = pool.map(
                resample.load_resampled,
                paths,
                itertools.repeat(cfg.resolution),
                itertools.repeat(cfg.downsample),
                itertools.repeat(cfg.with_stats),
                chunksize=32,
            )
            for k, (i, (img, stats, notes)) in enumerate(zip(ids, loaded, strict=True)):
                for kind, where in notes:
                    conversions.note(kind, where)
                target = np.float32(np.nan if targets is None else targets[k])
                example = {"id": i, "image": img, "target": target}
                if cfg.with_stats:
                    example["stats"] = stats
                yield i, example
        conversions.log_summary()


def prepared_builder(
    root: str | os.PathLike, resolution: int, downsample: str = "area", with_stats: bool = False
) -> CilCosmology:
    """The builder of CIL root ``root`` at ``resolution`` (with the full-resolution
    statistics if ``with_stats``), prepared if it was not."""
    root = layout.find_root(root)
    config = CilCosmologyConfig(
        resolution=resolution,
        source=sources.fingerprint(root),
        downsample=downsample,
        with_stats=with_stats,
    )
    data_dir = sources.home() / "tfds"
    builder = CilCosmology(config=config, data_dir=str(data_dir))
    if builder.is_prepared():
        return builder
    with locks.blocking_lock(
        data_dir / f".{config.name}.lock",
        message=f"waiting for another process preparing {config.name}",
    ):
        builder = CilCosmology(config=config, data_dir=str(data_dir))
        if builder.is_prepared():
            return builder
        target = Path(builder.data_dir)
        for stale in target.parent.glob(f"*{target.name}*incomplete*"):
            shutil.rmtree(stale, ignore_errors=True)
        print(
            f"Preparing {root} at {resolution}x{resolution} ({downsample} downsampling"
            f"{', with full-resolution statistics' if with_stats else ''}; "
            "decodes every PNG once, reads only local files)",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.redirect_stdout(sys.stderr), _bars_on_a_terminal_only():
            builder.download_and_prepare(  # TFDS status lines are not output
                download_config=tfds.download.DownloadConfig(
                    manual_dir=str(root), try_download_gcs=False
                )
            )
    return builder


@contextlib.contextmanager
def _bars_on_a_terminal_only():
    """TFDS's progress bars off while preparing when stderr is a log file (their
    redraws would fill it), restored afterwards."""
    if sys.stderr.isatty():
        yield
        return
    tfds.display_progress_bar(False)
    try:
        yield
    finally:
        tfds.display_progress_bar(True)
