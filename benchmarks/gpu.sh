#!/usr/bin/env bash
# The GPU part of the speed issue in one command on one H100, everything under one output folder:
#   1. make bench: both training paths for the five seed recipes in one process, and encode throughput (on CUDA
#      the study's path is the lean loop with CUDA graphs, pairings/loop.py; 30 untimed steps first so that most
#      batch shapes are recorded, and the median step beside the mean);
#   2. the equivalence check (a whole local udemy-cosine run on each path, compared);
#   3. the five seed pairings of the local profile at seed 42 (their records say device cuda).
# Each stage has a time limit so that the whole fits the device's 10-minute call; stage.txt says what each took.
#
# On the lent device machine (no network; read ../shared/device/kit.sh first): stage the base model and the
# wheels with kit.sh's three calls, then, while the machine is warm:
#   run  carry [".device/stage.sh"]  command: source .device/stage.sh && bash benchmarks/gpu.sh "$OUT"
# NCERT is read by path (../shared/data/ncert, never committed): without it the NCERT pairing is left out and
# stage.txt says so. Here, on a machine with the project's .venv: bash benchmarks/gpu.sh [OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-benchmarks/results/gpu-$(date +%Y-%m-%d)}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PY:-python3}
[ -x .venv/bin/python ] && [ -z "${PY:-}" ] && py=.venv/bin/python
export PYTHONPATH="$PWD/lib:$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
: > "$out/stage.txt"

stage() {  # stage NAME LIMIT_S COMMAND...: run it, log to NAME.log, note its exit status and time
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - start )) s (limit $limit s)" | tee -a "$out/stage.txt"
}

{ nvidia-smi || echo "no nvidia-smi"; "$py" -c 'import torch, transformers, sentence_transformers as st
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
print("transformers", transformers.__version__, "sentence-transformers", st.__version__)'; } > "$out/versions.txt" 2>&1
cat "$out/versions.txt"

stage bench 200 "$py" -m benchmarks.run --steps 100 --warmup 30 --out "$out"
stage equivalence 120 "$py" -m benchmarks.run --equivalence udemy-cosine --out "$out"

pairings=(quora-mnrl snli-softmax greetings-mnrl udemy-cosine)
if [ -f ../shared/data/ncert/chapters.parquet ]; then
  pairings=(quora-mnrl ncert-mnrl snli-softmax greetings-mnrl udemy-cosine)
else
  echo "pairings: ncert-mnrl left out (../shared/data/ncert/chapters.parquet is not on this machine)" | tee -a "$out/stage.txt"
fi
args=()
for p in "${pairings[@]}"; do args+=(--pairing "$p"); done
stage pairings 260 "$py" -m pairings run --profile local --no-variants --no-summary "${args[@]}"
mkdir -p "$out/reports-local"
for p in "${pairings[@]}"; do
  cp reports/local/"$p".json reports/local/"$p".html "$out/reports-local/" 2>/dev/null || true
done
cat "$out/stage.txt"
