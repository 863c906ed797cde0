"""Training throughput of the three models, the input pipeline, and the PyTorch peer.

    python benchmarks/throughput.py [--steps 10] [--torch ../shared/peers/torch_reference.py]
        [--models scorer,vae,dcgan] [--no_pipeline] [--loop_steps 200] [--xla_variants]
        [--dtype bfloat16] [--matmul_precision highest] [--torch_args=--tf32] [--inner N]

Prints one JSON line per measurement with at least ``model`` (scorer, vae,
dcgan, pipeline_first, pipeline_cached), ``images_per_s``, ``batch`` and
``device``. Train steps are the project's own jitted data-parallel steps
(:mod:`cosmojax.tasks`), timed one by one after compilation and warm-up; the
median is reported, with the step's FLOPs and bytes from XLA's cost analysis
and the achieved rate. The PyTorch reference (same architectures, batch and
optimizer) runs in the same invocation on the same machine, and a last line
gives the JAX/PyTorch ratios. On a GPU it also measures a large matmul and a
large copy, so each model's rate can be read as a fraction of the roofline.
On accelerators each timed repeat dispatches ``--inner`` steps and waits once.

With the pipeline rows come two end-to-end rows: the paper VAE's whole
training loop fed by tf.data (``vae_loop_tfdata``) and with the training set
kept on the devices (``vae_loop_on_device``).

``--xla_variants`` re-runs the JAX measurements in subprocesses under several
XLA CPU flag sets (what helps convolutions on CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TORCH_REF = REPO.parent / "shared" / "peers" / "torch_reference.py"
CONFIGS = {"scorer": "scorer", "vae": "vae", "dcgan": "gan"}
XLA_VARIANTS = {
    "default": "",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
}


def emit(row: dict):
    print(json.dumps(row), flush=True)


def device_info():
    import jax

    d = jax.devices()[0]
    return {
        "device": d.platform,
        "device_name": getattr(d, "device_kind", str(d)),
        "device_count": jax.device_count(),
        "jax": jax.__version__,
    }


def measure_model(name: str, batch: int, steps: int, warmup: int, dtype: str, inner: int) -> dict:
    import importlib

    import jax
    import numpy as np

    from cosmojax import tasks
    from cosmojax.train import parallel

    config = importlib.import_module(f"configs.{CONFIGS[name]}").get_config()
    config.batch_size = batch
    config.dtype = dtype
    task = tasks.build(config)
    mesh = task.mesh
    state = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))(jax.random.PRNGKey(0))
    r = config.data.resolution
    rng = np.random.default_rng(0)
    batch_np = {
        "image": rng.uniform(size=(batch, r, r, 1)).astype(np.float32),
        "target": rng.uniform(0, 6, batch).astype(np.float32),
    }
    data = parallel.shard_batch(batch_np, mesh)
    step = parallel.data_parallel(task.train_step, mesh)
    t0 = time.perf_counter()
    compiled = step.lower(state, data).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    for _ in range(warmup):
        state, m = step(state, data)
    jax.block_until_ready(m)
    # Each repeat dispatches ``inner`` steps back to back and waits once, as a
    # training loop does (and as CUDA-event timing of the PyTorch peer does):
    # on an accelerator, a host sync after every step would time the sync.
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        for _ in range(inner):
            state, m = step(state, data)
        jax.block_until_ready(m)
        times.append((time.perf_counter() - t0) / inner)
    ms = statistics.median(times) * 1e3
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    nbytes = float(cost.get("bytes accessed", 0.0)) if cost else 0.0
    return {
        "model": name,
        "framework": "jax",
        "batch": batch,
        "images_per_s": round(batch / (ms / 1e3), 2),
        "step_ms_median": round(ms, 3),
        "params": n_params,
        "precision": dtype,
        "matmul_precision": jax.config.jax_default_matmul_precision or "default",
        "compile_s": round(compile_s, 2),
        "flops_per_step": flops,
        "bytes_per_step": nbytes,
        "achieved_tflop_per_s": round(flops / (ms / 1e3) / 1e12, 4),
        "steps": steps,
        "inner": inner,
        "warmup": warmup,
    }


def roofline(n: int = 8192, reps: int = 10) -> dict:
    """Measured peak matmul rate (f32, and bf16 on accelerators) and copy bandwidth."""
    import jax
    import jax.numpy as jnp

    out = {}
    key = jax.random.PRNGKey(0)
    for dtype in ("float32", "bfloat16"):
        a = jax.random.normal(key, (n, n), dtype)  # random data: zeros run faster
        f = jax.jit(lambda x: x @ x)
        jax.block_until_ready(f(a))
        t0 = time.perf_counter()
        for _ in range(reps):
            y = f(a)
        jax.block_until_ready(y)
        out[f"matmul_{dtype}_tflop_per_s"] = round(
            reps * 2 * n**3 / (time.perf_counter() - t0) / 1e12, 2
        )
    x = jax.random.uniform(key, (n * n * 4,), jnp.float32)  # 1 GiB at n = 8192
    g = jax.jit(lambda v: v * 1.0001)
    jax.block_until_ready(g(x))
    t0 = time.perf_counter()
    for _ in range(reps):
        y = g(x)
    jax.block_until_ready(y)
    # Bytes read plus bytes written.
    out["copy_gb_per_s"] = round(reps * 2 * x.nbytes / (time.perf_counter() - t0) / 1e9, 1)
    return out


def roofline_fraction(row: dict, peak: dict) -> dict:
    """The step's floor time over its measured time. The floor is the longer of the
    step's FLOPs at the measured matmul rate and its bytes at the measured copy
    bandwidth, both as XLA's cost analysis of the compiled step counts them (after
    fusion, every operand each kernel reads and writes: more than the minimum)."""
    rate = (
        peak[
            "matmul_bfloat16_tflop_per_s"
            if row["precision"] == "bfloat16"
            else "matmul_float32_tflop_per_s"
        ]
        * 1e12
    )
    t_flops = row["flops_per_step"] / rate
    t_bytes = row["bytes_per_step"] / (peak["copy_gb_per_s"] * 1e9)
    floor = max(t_flops, t_bytes)
    return {
        "flops_floor_ms": round(t_flops * 1e3, 3),
        "bytes_floor_ms": round(t_bytes * 1e3, 3),
        "bound": "compute" if t_flops >= t_bytes else "memory",
        "roofline_fraction": round(floor / (row["step_ms_median"] / 1e3), 3),
    }


def pipeline_rows(batch: int) -> list[dict]:
    from benchmarks.pipeline import first_and_cached
    from cosmojax.data import sources

    m = first_and_cached(sources.resolve_data_dir(None), 128, batch, 1000)
    return [
        {
            "model": "pipeline_first",
            "images_per_s": m["first_pass_img_per_s"],
            "images_per_s_per_core": m["first_pass_img_per_s_per_core"],
            "batch": None,
            "resolution": 128,
            "images": m["images"],
        },
        {
            "model": "pipeline_cached",
            "batch": batch,
            "resolution": 128,
            "images_per_s": m["cached_img_per_s"],
        },
    ]


def loop_rows(batch: int, steps: int) -> list[dict]:
    """The whole training loop of the paper VAE (the cheapest step, so the most
    exposed to its input), fed by tf.data and with the training set kept on the
    devices (``data.on_device``): images/s over the steps after the first
    logging window (compilation excluded), from the run's metrics.jsonl."""
    import importlib
    import tempfile

    from cosmojax import cli

    rows = []
    for on_device in (False, True):
        config = importlib.import_module("configs.vae").get_config()
        config.batch_size = batch
        config.num_steps = steps
        config.log_every = steps // 4
        config.eval_every = config.checkpoint_every = 10 * steps
        config.data.on_device = on_device
        with tempfile.TemporaryDirectory() as workdir:
            with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON lines
                cli.train(config, workdir)
            logged = [
                json.loads(line)
                for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()
            ]
        rates = [m["throughput"] for m in logged if "throughput" in m][1:]
        rows.append(
            {
                "model": "vae_loop_on_device" if on_device else "vae_loop_tfdata",
                "batch": batch,
                "images_per_s": round(statistics.median(rates), 2),
                "steps": steps,
            }
        )
    return rows


def run_torch(
    path: Path,
    models: list[str],
    batch: int,
    steps: int,
    warmup: int,
    bf16: bool,
    extra: list[str],
) -> list[dict]:
    rows = []
    for m in models:
        cmd = [
            sys.executable,
            str(path),
            "--model",
            m,
            "--batch",
            str(batch),
            "--steps",
            str(steps),
            "--warmup",
            str(warmup),
        ]
        if bf16:
            cmd.append("--bf16")
        cmd += extra
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"model": m, "framework": "torch", "error": proc.stderr[-500:]})
            continue
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="scorer,vae,dcgan")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--torch", default=str(TORCH_REF), help="PyTorch reference script ('' = skip)")
    p.add_argument(
        "--inner",
        type=int,
        default=None,
        help="steps per timed repeat (default: 1 on CPU, 10 on accelerators)",
    )
    p.add_argument(
        "--matmul_precision",
        default=None,
        choices=["default", "high", "highest"],
        help="jax_default_matmul_precision for f32 ('highest' = no TF32 on GPU)",
    )
    p.add_argument("--torch_args", default="", help="extra flags for the PyTorch peer")
    p.add_argument("--no_pipeline", action="store_true")
    p.add_argument(
        "--loop_steps",
        type=int,
        default=200,
        help="VAE training-loop steps per input path, tf.data vs on-device (0 = skip)",
    )
    p.add_argument("--xla_variants", action="store_true")
    p.add_argument("--jax_only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    models = [m for m in args.models.split(",") if m]
    from cosmojax.console import quiet_logs

    quiet_logs()
    import jax

    if args.matmul_precision:
        jax.config.update("jax_default_matmul_precision", args.matmul_precision)
    info = device_info()
    accel = info["device"] != "cpu"
    inner = args.inner or (10 if accel else 1)
    peak = None
    if accel and not args.jax_only:
        peak = roofline()
        emit({"model": "roofline", **peak, **info})
    jax_rows = {}
    for m in models:
        row = {
            **measure_model(m, args.batch, args.steps, args.warmup, args.dtype, inner),
            **info,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
        if peak:
            row.update(roofline_fraction(row, peak))
        jax_rows[m] = row
        emit(row)
    if args.jax_only:
        return
    if not args.no_pipeline:
        for row in pipeline_rows(args.batch):
            emit({**row, **info})
    if args.loop_steps:
        for row in loop_rows(args.batch, args.loop_steps):
            emit({**row, **info})
    if args.xla_variants and info["device"] == "cpu":
        for name, flags in XLA_VARIANTS.items():
            env = {**os.environ, "XLA_FLAGS": flags}
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--jax_only",
                    "--models",
                    args.models,
                    "--steps",
                    str(args.steps),
                    "--batch",
                    str(args.batch),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            for line in proc.stdout.splitlines():
                if line.startswith("{"):
                    emit({**json.loads(line), "variant": name})
    if args.torch and Path(args.torch).is_file():
        torch_rows = run_torch(
            Path(args.torch),
            models,
            args.batch,
            args.steps * inner,
            args.warmup,
            args.dtype == "bfloat16",
            args.torch_args.split(),
        )
        for row in torch_rows:
            emit(row)
        ratios = {
            r["model"]: round(jax_rows[r["model"]]["images_per_s"] / r["images_per_s"], 3)
            for r in torch_rows
            if r.get("images_per_s") and r["model"] in jax_rows
        }
        emit({"model": "ratio_jax_over_torch", **ratios, **info})


if __name__ == "__main__":
    main()
