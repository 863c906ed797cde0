"""Input pipeline throughput. Prints one JSON object.

    python benchmarks/pipeline.py [--data_dir DIR] [--resolution 128] [--stats]

* ``first_pass``: preparing the data set from PNGs (decode, area-resample,
  write the TFDS records), into a fresh temporary prepared-data folder.
  Also the decode + resample rate of one thread alone, for the synthetic
  files and for the same images stored like the real files.
* ``cached``: later passes, batches of 64 from the in-memory arrays through
  tf.data (what every epoch after the first costs).
* ``--stats``: the first pass with the full-resolution statistics
  (``configs/scorer_stats.py``'s data), and in one thread the milliseconds per
  image to decode, to resample and to compute the statistics, for ``scored``
  and ``labeled`` images.

Targets on a 2-core machine: first pass >= 200 img/s per core at 1000 -> 128;
cached >= 50,000 img/s at 128x128.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cosmojax.data import layout, resample, sources


def decode_rate(root, n=300, stored_uncompressed=False) -> float:
    """Decode + area-resample rate of one thread. ``stored_uncompressed`` re-encodes
    the images first the way the real CIL files are stored (zlib level 0, about
    1 MB each), which decode about twice as fast as the synthetic set's files."""
    _, paths, _ = layout.list_split(root, "scored")
    paths = paths[:n]
    with tempfile.TemporaryDirectory() as tmp:
        if stored_uncompressed:
            copies = []
            for p in paths:
                q = Path(tmp) / p.name
                layout.write_png(q, layout.read_png(p), compress_level=0)
                copies.append(q)
            paths = copies
        t0 = time.perf_counter()
        for p in paths:
            resample.prepare_image(layout.read_png(p), 128)
        return len(paths) / (time.perf_counter() - t0)


def stats_cost(root, n: int = 200) -> dict:
    """Per-image milliseconds, one thread: decode, resample to 128, statistics."""
    from cosmojax.evaluation import features

    out = {}
    for split in ("scored", "labeled"):
        _, paths, _ = layout.list_split(root, split)
        paths = paths[:: max(1, len(paths) // n)][:n]
        t = [0.0, 0.0, 0.0]
        for p in paths:
            t0 = time.perf_counter()
            img = layout.read_png(p)
            t1 = time.perf_counter()
            resample.prepare_image(img, 128)
            t2 = time.perf_counter()
            features.image_features(img)
            t3 = time.perf_counter()
            for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                t[k] += dt
        out[split] = {
            "images": len(paths),
            **{
                f"{name}_ms": round(1e3 * v / len(paths), 2)
                for name, v in zip(("decode", "resample_128", "stats"), t, strict=True)
            },
        }
    return out


def first_and_cached(
    root, resolution: int, batch: int, batches: int, with_stats: bool = False
) -> dict:
    """The first pass (preparing every split into a fresh prepared-data folder)
    and later passes (``batches`` batches from memory through tf.data)."""
    from cosmojax.data import pipeline, tfds_builder

    n_images = sum(len(layout.list_split(root, s)[0]) for s in layout.SPLITS)
    cores = os.cpu_count() or 1
    out = {"images": n_images}
    old = os.environ.get("COSMOJAX_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["COSMOJAX_HOME"] = home
        try:
            t0 = time.perf_counter()
            tfds_builder.prepared_builder(root, resolution, with_stats=with_stats)
            first = time.perf_counter() - t0
            out["first_pass_img_per_s"] = round(n_images / first, 1)
            out["first_pass_img_per_s_per_core"] = round(n_images / first / cores, 1)

            t0 = time.perf_counter()
            data = pipeline.load_split(str(root), "scored", resolution, stats=with_stats)
            out["load_prepared_split_s"] = round(time.perf_counter() - t0, 2)
            it = pipeline.train_batches(
                data, batch_size=batch, seed=0, process_index=0, process_count=1
            )
            for _ in range(50):
                next(it)
            t0 = time.perf_counter()
            for _ in range(batches):
                b = next(it)
            out["cached_img_per_s"] = round(batches * batch / (time.perf_counter() - t0), 1)
            out["batch_shape"] = list(b["image"].shape)
        finally:
            if old is None:
                os.environ.pop("COSMOJAX_HOME", None)
            else:
                os.environ["COSMOJAX_HOME"] = old
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--batches", type=int, default=2000)
    p.add_argument("--stats", action="store_true", help="with full-resolution statistics")
    args = p.parse_args()
    root = sources.resolve_data_dir(args.data_dir or None)
    out = {
        "benchmark": "pipeline",
        "data_dir": str(root),
        "cores": os.cpu_count() or 1,
        "resolution": args.resolution,
        "with_stats": args.stats,
    }
    out["decode_resample_1_thread_img_per_s"] = round(decode_rate(root), 1)
    out["decode_resample_1_thread_img_per_s_real_file_format"] = round(
        decode_rate(root, stored_uncompressed=True), 1
    )

    if args.stats:
        out["stats_ms_per_image_1_thread"] = stats_cost(root)
    out.update(first_and_cached(root, args.resolution, 64, args.batches, args.stats))
    out["targets_met"] = {
        "first_pass_per_core_200": out["first_pass_img_per_s_per_core"] >= 200,
        "cached_50000": out["cached_img_per_s"] >= 50_000,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
