"""Training throughput of the models, like for like against the PyTorch peer.

    python benchmarks/throughput.py [--steps 10] [--torch ../shared/peers/torch_reference.py]
        [--models scorer,vae_paper,dcgan_paper,vae,dcgan] [--no_pipeline] [--loop_steps 200]
        [--xla_variants] [--dtype bfloat16] [--matmul_precision highest]
        [--torch_args=--tf32] [--inner N] [--batch 64]
    python benchmarks/throughput.py --roofline [--dtype bfloat16]   # no timing

Prints one JSON line per measurement with at least ``model``, ``images_per_s``,
``batch`` and ``device``. The models (:data:`MODELS`):

- ``scorer``, ``vae_paper``, ``dcgan_paper``: the paper's architectures, the
  ones the PyTorch peer (``../shared/peers/torch_reference.py``) implements: the
  scorer CNN at 140x140 (``configs/scorer.py`` as it is), the Bernoulli MLP VAE
  at 128x128 and the 64x64 DCGAN with transposed convolutions and a BatchNorm
  discriminator (``configs/vae.py`` and ``configs/gan.py`` with
  :data:`PAPER_VAE` and :data:`PAPER_DCGAN`). Their parameter counts must equal
  the peer's (the architecture's formula, :func:`reference_params`, and the
  count the peer reports): a mismatch stops the run with :class:`ParamMismatch`.
  Only these get a JAX/PyTorch ratio (the last line, ``ratio_jax_over_torch``).
- ``vae``, ``dcgan``: the default configs as they train (categorical VAE,
  32x32 DCGAN); their own rate, beside the others, with no PyTorch peer.

Train steps are the project's own jitted data-parallel steps
(:mod:`cosmojax.tasks`), timed one by one after compilation and warm-up; the
median is reported, with the step's FLOPs and bytes from XLA's cost analysis
of the compiled step, and the best step time and img/s those allow at the
vendor peaks of an NVIDIA H200 and a TPU v5e (``roofline``,
benchmarks/roofline.py). ``--roofline`` prints only those (compiles, does not
time). On a GPU it also measures a large matmul and a large copy, so each
model's rate can be read as a fraction of the measured roofline. On
accelerators each timed repeat dispatches ``--inner`` steps and waits once.

With the pipeline rows come two end-to-end rows: the default VAE's whole
training loop fed by tf.data (``vae_loop_tfdata``) and with the training set
kept on the devices (``vae_loop_on_device``).

``--xla_variants`` re-runs the JAX measurements in subprocesses under several
XLA CPU flag sets (what helps convolutions on CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import roofline as roofline_lib  # noqa: E402

TORCH_REF = REPO.parent / "shared" / "peers" / "torch_reference.py"

# The paper's literal settings (configs/vae.py and configs/gan.py say what the
# defaults change and why): a Bernoulli likelihood of area-averaged linear
# intensities, the plain ELBO, Adam at 1e-3 without clipping (as the peer).
PAPER_VAE = {
    "model.likelihood": "bernoulli",
    "model.latent_prior": "standard",
    "model.beta": 1.0,
    "data.downsample": "area",
    "data.intensity_map": "linear",
    "optimizer.learning_rate": 1e-3,
    "optimizer.grad_clip_norm": 0.0,
}
# Radford et al. at 64x64: 4x4 stride-2 transposed convolutions, BatchNorm in the
# discriminator, tanh output, no label smoothing, no R1, no augmentation, sky learned.
PAPER_DCGAN = {
    "data.resolution": 64,
    "model.g_upsample": "transpose",
    "model.d_norm": "batch",
    "model.r1_weight": 0.0,
    "model.g_margin": 0.0,
    "model.label_smoothing": 0.0,
    "data.augment": False,
    "data.sky": "keep",
    "data.downsample": "area",
    "data.intensity_map": "linear",
}
# name: (configs module, overrides, the PyTorch peer's model of the same
# architecture, or None: no peer, no ratio).
MODELS = {
    "scorer": ("scorer", {}, "scorer"),  # configs/scorer.py is the paper's scorer
    "vae_paper": ("vae", PAPER_VAE, "vae"),
    "dcgan_paper": ("gan", PAPER_DCGAN, "dcgan"),
    "vae": ("vae", {}, None),
    "dcgan": ("gan", {}, None),
}
XLA_VARIANTS = {
    "default": "",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
}


class ParamMismatch(AssertionError):
    """A model timed against the PyTorch peer has another parameter count than the
    peer's: not the same architecture, so no ratio."""


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


def reference_params(peer: str, resolution: int = 64) -> int:
    """The parameter count of the PyTorch peer's ``peer`` model, from its
    architecture (torch_reference.py), so the check needs no PyTorch."""
    dense = lambda n_in, n_out: (n_in + 1) * n_out  # weights and bias
    if peer == "scorer":  # conv5x5 1->32, conv5x5 32->64, 35*35*64 -> 100 -> 1
        return dense(25, 32) + dense(25 * 32, 64) + dense(35 * 35 * 64, 100) + dense(100, 1)
    if peer == "vae":  # 16384 -> 1000 -> 1000 -> 2 x 64; 64 -> 1000 -> 1000 -> 16384
        n, h, z = 128 * 128, 1000, 64
        encoder = dense(n, h) + dense(h, h) + 2 * dense(h, z)
        return encoder + dense(z, h) + dense(h, h) + dense(h, n)
    if peer == "dcgan":  # 4x4 kernels without bias; BatchNorm scale and shift
        stages = int(math.log2(resolution)) - 2
        g = [64 * 2**i for i in reversed(range(stages))]  # 64x64: 512, 256, 128, 64
        d = g[::-1]
        generator = 16 * 100 * g[0] + 2 * g[0] + 16 * g[-1]
        generator += sum(16 * a * b + 2 * b for a, b in zip(g, g[1:], strict=False))
        discriminator = 16 * d[0] + 16 * d[-1]  # first layer: no BatchNorm
        discriminator += sum(16 * a * b + 2 * b for a, b in zip(d, d[1:], strict=False))
        return generator + discriminator
    raise ValueError(f"no PyTorch peer model {peer!r}")


def check_params(name: str, jax_params: int, reference: int, source: str) -> None:
    """Raises :class:`ParamMismatch` unless the JAX model has the peer's count."""
    if jax_params != reference:
        raise ParamMismatch(
            f"{name}: the JAX model has {jax_params:,} parameters, the PyTorch peer "
            f"({source}) {reference:,}: not the same architecture, so no ratio; "
            f"make MODELS in benchmarks/throughput.py give the peer's architecture"
        )


def model_config(name: str, batch: int = 64, dtype: str = "float32", **overrides):
    """The config that ``name`` trains with, at ``batch`` and ``dtype``, plus
    ``overrides`` (dotted field names)."""
    from cosmojax import configlib

    module, fields, _ = MODELS[name]
    config = importlib.import_module(f"configs.{module}").get_config()
    return configlib.override(config, batch_size=batch, dtype=dtype, **{**fields, **overrides})


def build(name: str, config, check: bool = True):
    """``(task, parameter count)``; for a model with a PyTorch peer (and
    ``check``), the count is checked against the peer architecture's."""
    import jax

    from cosmojax import tasks

    task = tasks.build(config)
    shapes = jax.eval_shape(task.init_state, jax.random.PRNGKey(0))
    count = sum(math.prod(x.shape) for x in jax.tree.leaves(shapes.params))
    peer = MODELS[name][2]
    if peer and check:
        reference = reference_params(peer, config.data.resolution)
        check_params(name, count, reference, "by its architecture's formula")
    return task, count


def describe(name: str, config, count: int) -> dict:
    module, fields, peer = MODELS[name]
    return {
        "config": f"configs/{module}.py",
        "overrides": fields,
        "like_for_like": peer is not None,  # only these have a PyTorch peer and a ratio
        "peer": peer,
        "params": count,
        "batch": int(config.batch_size),
        "resolution": int(config.data.resolution),
        "precision": str(config.dtype),
    }


def step_inputs(task, config, abstract: bool):
    """The train step's ``(state, batch)``: random images on the devices, or with
    ``abstract`` only their shapes and shardings (enough to compile)."""
    import jax
    import numpy as np

    from cosmojax.train import parallel

    mesh = task.mesh
    rep, split = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    b, r = int(config.batch_size), int(config.data.resolution)
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.uniform(size=(b, r, r, 1)).astype(np.float32),
        "target": rng.uniform(0, 6, b).astype(np.float32),
    }
    key = jax.random.PRNGKey(0)
    if abstract:
        spec = lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s)
        state = jax.tree.map(lambda x: spec(x, rep), jax.eval_shape(task.init_state, key))
        return state, {k: spec(v, split) for k, v in batch.items()}
    state = jax.jit(task.init_state, out_shardings=rep)(key)
    return state, parallel.shard_batch(batch, mesh)


def compile_step(task, state, batch):
    """The task's jitted data-parallel train step, compiled for ``state`` and
    ``batch`` (arrays or shapes), and the seconds compiling took."""
    from cosmojax.train import parallel

    step = parallel.data_parallel(task.train_step, task.mesh)
    t0 = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    return compiled, time.perf_counter() - t0


def roofline_row(name: str, config, check: bool = True) -> dict:
    """``name``'s train step under ``config``, compiled but not run: its FLOPs
    and bytes (XLA's cost analysis, for this backend) and the best step time
    and img/s they allow at each vendor peak (benchmarks/roofline.py)."""
    import jax

    task, count = build(name, config, check)
    compiled, compile_s = compile_step(task, *step_inputs(task, config, abstract=True))
    cost = roofline_lib.step_cost(compiled)
    floors = roofline_lib.roofline(cost, int(config.batch_size), str(config.dtype))
    return {
        "model": name,
        **describe(name, config, count),
        **cost,
        "cost_from": jax.default_backend(),
        "compile_s": round(compile_s, 2),
        "roofline": roofline_lib.rounded(floors),
    }


def time_steps(compiled, state, batch, steps: int, warmup: int, inner: int) -> float:
    """Median milliseconds per step. Each repeat dispatches ``inner`` steps back
    to back and waits once, as a training loop does (and as CUDA-event timing of
    the PyTorch peer does): on an accelerator, a host sync after every step
    would time the sync."""
    import jax

    for _ in range(warmup):
        state, _ = compiled(state, batch)
    jax.block_until_ready(state)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        for _ in range(inner):
            state, m = compiled(state, batch)
        jax.block_until_ready(m)
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times) * 1e3


def measure_model(name: str, batch: int, steps: int, warmup: int, dtype: str, inner: int) -> dict:
    """One model's train step timed (see :func:`time_steps`), with its cost and roofline."""
    import jax

    config = model_config(name, batch, dtype)
    task, count = build(name, config)
    state, data = step_inputs(task, config, abstract=False)
    compiled, compile_s = compile_step(task, state, data)
    cost = roofline_lib.step_cost(compiled)
    ms = time_steps(compiled, state, data, steps, warmup, inner)
    floors = roofline_lib.roofline(cost, batch, dtype)
    return {
        "model": name,
        "framework": "jax",
        **describe(name, config, count),
        "images_per_s": round(batch / (ms / 1e3), 2),
        "step_ms_median": round(ms, 3),
        "matmul_precision": jax.config.jax_default_matmul_precision or "default",
        "compile_s": round(compile_s, 2),
        **cost,
        "achieved_tflop_per_s": round(cost["flops_per_step"] / (ms / 1e3) / 1e12, 4),
        "steps": steps,
        "inner": inner,
        "warmup": warmup,
        "roofline": roofline_lib.rounded(floors),
    }


def measured_peaks(n: int = 8192, reps: int = 10) -> dict:
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
    """The step's floor time over its measured time, at the peaks measured on this
    device (:func:`measured_peaks`). The floor is the longer of the
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
    """The whole training loop of the default VAE (``configs/vae.py``; an MLP, so
    a cheap step, exposed to its input), fed by tf.data and with the training set kept on the
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
    names: list[str],
    batch: int,
    steps: int,
    warmup: int,
    bf16: bool,
    extra: list[str],
) -> list[dict]:
    """The PyTorch peer's rows for the models ``names`` (each has a peer), named
    as here (``model``) with the peer's own name beside (``peer_model``)."""
    rows = []
    for name in names:
        peer = MODELS[name][2]
        cmd = [sys.executable, str(path), "--model", peer, "--batch", str(batch)]
        cmd += ["--steps", str(steps), "--warmup", str(warmup)]
        if peer == "dcgan":
            cmd += ["--gan_size", str(model_config(name).data.resolution)]
        if bf16:
            cmd.append("--bf16")
        cmd += extra
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"model": name, "framework": "torch", "error": proc.stderr[-500:]})
            continue
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rows.append({**json.loads(line), "model": name, "peer_model": peer})
    return rows


def torch_section(args, jax_rows: dict, info: dict, inner: int) -> None:
    """Runs the PyTorch peer for the like-for-like models, checks that each has
    the JAX model's parameter count (as the peer reports it), and prints the
    JAX/PyTorch ratios of those measured on the same kind of device."""
    names = [n for n in jax_rows if MODELS[n][2]]
    if not names:
        return
    extra = args.torch_args.split()
    bf16 = args.dtype == "bfloat16"
    rows = run_torch(
        Path(args.torch), names, args.batch, args.steps * inner, args.warmup, bf16, extra
    )
    for row in rows:
        emit(row)
    for row in rows:
        if "params" in row:
            check_params(
                row["model"],
                jax_rows[row["model"]]["params"],
                row["params"],
                "as its run reports it",
            )
    on_cpu = info["device"] == "cpu"
    ratios = {
        r["model"]: round(jax_rows[r["model"]]["images_per_s"] / r["images_per_s"], 3)
        for r in rows
        if r.get("images_per_s") and (r.get("device") == "cpu") == on_cpu
    }
    skipped = sorted({r["model"] for r in rows} - set(ratios))
    emit({"model": "ratio_jax_over_torch", **ratios, "no_ratio": skipped, **info})


def xla_variant_rows(args) -> list[dict]:
    """The JAX rows again, in subprocesses under each of :data:`XLA_VARIANTS`."""
    rows = []
    for name, flags in XLA_VARIANTS.items():
        cmd = [sys.executable, __file__, "--jax_only", "--models", ",".join(args.models)]
        cmd += ["--steps", str(args.steps), "--batch", str(args.batch)]
        env = {**os.environ, "XLA_FLAGS": flags}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rows.append({**json.loads(line), "variant": name})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"some of {', '.join(MODELS)}")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--roofline", action="store_true", help="FLOPs, bytes and floors only")
    p.add_argument("--torch", default=str(TORCH_REF), help="PyTorch reference script ('' = skip)")
    p.add_argument(
        "--inner",
        type=int,
        default=None,
        help="steps per timed repeat (1 on CPU, 10 on accelerators)",
    )
    p.add_argument(
        "--matmul_precision",
        default=None,
        choices=["default", "high", "highest"],
        help="jax_default_matmul_precision for f32 ('highest' = no TF32 on GPU)",
    )
    p.add_argument("--torch_args", default="", help="extra flags for the PyTorch peer")
    p.add_argument("--no_pipeline", action="store_true")
    p.add_argument("--loop_steps", type=int, default=200, help="VAE loop steps (0 = skip)")
    p.add_argument("--xla_variants", action="store_true")
    p.add_argument("--jax_only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}; expected some of {', '.join(MODELS)}")
    return args


def main():
    args = parse_args()
    from cosmojax.console import quiet_logs

    quiet_logs()
    import jax

    if args.matmul_precision:
        jax.config.update("jax_default_matmul_precision", args.matmul_precision)
    info = device_info()
    if args.roofline:
        emit({**roofline_lib.peaks_row(), **info})
        for name in args.models:
            emit({**roofline_row(name, model_config(name, args.batch, args.dtype)), **info})
        return
    accel = info["device"] != "cpu"
    inner = args.inner or (10 if accel else 1)
    peak = measured_peaks() if accel and not args.jax_only else None
    if peak:
        emit({"model": "measured_peaks", **peak, **info})
    jax_rows = {}
    for name in args.models:
        row = measure_model(name, args.batch, args.steps, args.warmup, args.dtype, inner)
        row = {**row, **info, "xla_flags": os.environ.get("XLA_FLAGS", "")}
        if peak:
            row.update(roofline_fraction(row, peak))
        jax_rows[name] = row
        emit(row)
    if args.jax_only:
        return
    if args.torch and Path(args.torch).is_file():
        torch_section(args, jax_rows, info, inner)
    elif args.torch:
        print(f"no PyTorch peer at {args.torch}: no ratios", file=sys.stderr)
    if not args.no_pipeline:
        for row in pipeline_rows(args.batch):
            emit({**row, **info})
    if args.loop_steps:
        for row in loop_rows(args.batch, args.loop_steps):
            emit({**row, **info})
    if args.xla_variants and info["device"] == "cpu":
        for row in xla_variant_rows(args):
            emit(row)


if __name__ == "__main__":
    main()
