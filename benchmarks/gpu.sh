#!/usr/bin/env bash
# The GPU throughput table of benchmarks/RESULTS.md, in one run:
#   bash benchmarks/gpu.sh OUTDIR [TORCH_REFERENCE]
# JAX and the PyTorch peer side by side at batch 64 in three precision pairings
# (f32 with TF32 matmuls in both, strict f32 in both, bf16 compute in both),
# and bf16 at batch 512. One JSON file per pairing in OUTDIR.
set -uo pipefail
out=${1:?usage: gpu.sh OUTDIR [TORCH_REFERENCE]}
ref=${2:-../shared/peers/torch_reference.py}
py=${PYTHON:-python3}
mkdir -p "$out"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.5 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
$py -c "import jax, flax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'torch', torch.__version__, jax.devices())" | tee -a "$out/gpu.txt"
run() {
  local name=$1; shift
  echo "== $name"
  $py benchmarks/throughput.py --no_pipeline --loop_steps 0 --torch "$ref" "$@" 2>>"$out/stderr.log" | tee "$out/$name.jsonl"
}
run tf32 --torch_args=--tf32 --steps 20
run f32 --matmul_precision highest --steps 20
run bf16 --dtype bfloat16 --steps 20
run bf16_b512 --dtype bfloat16 --batch 512 --steps 10
