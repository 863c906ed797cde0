#!/usr/bin/env bash
# GPU throughput, JAX against the PyTorch peer on the same architectures, and
# the roofline, in one run of at most BUDGET_S seconds (default 480):
#   bash benchmarks/gpu.sh OUTDIR [TORCH_REFERENCE]
# Installs '.[test,bench,cuda12]' first when JAX has no GPU or PyTorch no CUDA.
# Then, each under its own time limit and skipped when the budget is spent:
#   roofline.jsonl   XLA's FLOPs and bytes of each compiled train step (on this
#                    GPU) and the floors at the H200 and TPU v5e vendor peaks
#   tf32.jsonl       f32 steps, TF32 matmuls in both (JAX's GPU default)
#   f32.jsonl        strict f32 in both (--matmul_precision highest; peer IEEE)
#   bf16.jsonl       bf16 compute in both
#   bf16_b512.jsonl  bf16 at batch 512
# Each timing file has the like-for-like models (scorer, vae_paper, dcgan_paper:
# parameter counts checked equal to the peer's, a JAX/PyTorch ratio) and the
# default configs' own rate (vae, dcgan: no peer, no ratio). status.tsv: the
# exit status and seconds of each step; stderr.log, install.log: what they said.
set -uo pipefail
out=${1:?usage: gpu.sh OUTDIR [TORCH_REFERENCE]}
ref=${2:-../shared/peers/torch_reference.py}
budget=${BUDGET_S:-480}
if [[ -n ${PYTHON:-} ]]; then py=$PYTHON
elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python
else py=python3; fi
mkdir -p "$out"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.5 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
left() { echo $((budget - SECONDS)); }
printf 'step\trc\tseconds\n' >"$out/status.tsv"

# step NAME CAP CMD...: runs CMD under min(CAP, what is left - 10 s) seconds,
# stdout to OUTDIR/NAME.jsonl; skipped when under 45 s would be left for it.
step() {
  local name=$1 cap=$2; shift 2
  local limit=$(( $(left) - 10 < cap ? $(left) - 10 : cap )) t0=$SECONDS rc
  if (( limit < 45 )); then
    printf '%s\tskipped\t0\n' "$name" >>"$out/status.tsv"; echo "== $name: skipped (budget)"; return
  fi
  echo "== $name (at most ${limit}s)"
  timeout "$limit" "$@" 2>>"$out/stderr.log" | tee "$out/$name.jsonl"
  rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$rc" $((SECONDS - t0)) >>"$out/status.tsv"
}

ready() {  # 0: JAX sees a GPU; prints whether PyTorch sees CUDA
  JAX_PLATFORMS=cuda "$py" -c "import jax; jax.devices()" >/dev/null 2>&1 || return 1
  "$py" -c "import torch; print(torch.cuda.is_available())" 2>/dev/null || echo False
}
if ! torch_cuda=$(ready) || [[ $torch_cuda != True ]]; then
  echo "== installing .[test,bench,cuda12] (at most 300s)"
  timeout 300 "$py" -m pip install -q --retries 1 --timeout 20 -e '.[test,bench,cuda12]' \
    >>"$out/install.log" 2>&1
  printf 'install\t%s\t%s\n' $? "$SECONDS" >>"$out/status.tsv"
  if ! torch_cuda=$(ready); then
    echo "JAX sees no GPU after the install (see $out/install.log)" >&2
    exit 1
  fi
fi
export JAX_PLATFORMS=cuda  # no quiet fall back to the CPU
torch=$ref
if [[ $torch_cuda != True ]]; then
  # A CPU build of torch==2.13.0 satisfies the pin; it would time the peer on the CPU.
  echo "PyTorch sees no CUDA: JAX rows only (install a CUDA build of torch 2.13.0)" \
    | tee -a "$out/gpu.txt" >&2
  torch=""
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  | tee -a "$out/gpu.txt"
"$py" -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())" \
  2>>"$out/stderr.log" | tee -a "$out/gpu.txt"
[[ -n $torch ]] && "$py" -c "import torch; print('torch', torch.__version__)" | tee -a "$out/gpu.txt"

bench=("$py" benchmarks/throughput.py --no_pipeline --loop_steps 0 --torch "$torch")
step roofline 120 "$py" benchmarks/throughput.py --roofline
step tf32 150 "${bench[@]}" --torch_args=--tf32 --steps 20
step f32 150 "${bench[@]}" --matmul_precision highest --steps 20
step bf16 150 "${bench[@]}" --dtype bfloat16 --steps 20
step bf16_b512 120 "${bench[@]}" --dtype bfloat16 --batch 512 --steps 10 \
  --models scorer,vae_paper,dcgan_paper
echo "== done in ${SECONDS}s; $out/status.tsv:"
cat "$out/status.tsv"
