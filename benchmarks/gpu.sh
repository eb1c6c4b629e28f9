#!/usr/bin/env bash
# The GPU part of the speed issue in one command on one H100, in at most 8 minutes:
#   1. make bench: both training paths for the five seed recipes in one process, and encode throughput (on CUDA
#      the study's path is the lean loop, pairings/loop.py; 30 untimed steps first, and the median step beside
#      the mean);
#   2. the equivalence check (a whole local udemy-cosine run on each path, compared);
#   3. the five seed pairings of the local profile at seed 42 (their records say device cuda).
# Each stage has a time limit; stage.txt says what each took. PROBE_COMPILE=1 adds a fourth, 90 s: quora-mnrl's
# study path with torch_compile on (off by default since it segfaulted there; see benchmarks/results/*-notes.md). Everything lands in OUT/gpu-results.tgz, with
# stage.txt and the JSON results beside it (the device returns at most 8 files).
#
# On the lent device machine (no network; read ../shared/device/kit.sh first): stage the base model and the
# wheels with kit.sh's three calls (the third also carries .device/ncert, see below), then, while it is warm:
#   run  carry [".device/stage.sh"]  command: source .device/stage.sh && bash benchmarks/gpu.sh "$OUT"
# NCERT is read by path (../shared/data/ncert/chapters.parquet, never committed), and every run of the local
# profile needs it (the transfer matrix evaluates NCERT's held-out task): where it is not at that path, the
# script copies $NCERT (default .device/ncert/chapters.parquet, git-ignored: `mkdir -p .device/ncert && cp
# ../shared/data/ncert/chapters.parquet .device/ncert/` here) there, or else leaves stage 3 out and says so.
# A call carries at most 64 MiB, the tree included, and the tracked reports are 35 MiB of it: for the kit's calls
# (a model part is 31 MiB) take them out of the index first, `git rm -r -q --cached reports && echo /reports/ >>
# .git/info/exclude`, and put them back after the last call: `git reset -q -- reports`, and drop that line.
# Here, on a machine with the project's .venv: bash benchmarks/gpu.sh [OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-benchmarks/results/gpu-$(date +%Y-%m-%d)}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
py=${PY:-python3}
[ -x .venv/bin/python ] && [ -z "${PY:-}" ] && py=.venv/bin/python
export PYTHONPATH="$PWD/lib:$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# nbconvert's templates, where the wheels were installed with --target (kit.sh): under <target>/share/jupyter
for dir in ${PYTHONPATH//:/ }; do
  [ -d "$dir/share/jupyter" ] && export JUPYTER_PATH="$dir/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
done
: > "$work/stage.txt"

stage() {  # stage NAME LIMIT_S COMMAND...: run it, log to NAME.log, note its exit status and time
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" > "$work/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - start )) s (limit $limit s)" | tee -a "$work/stage.txt"
}

{ nvidia-smi || echo "no nvidia-smi"; "$py" -c 'import torch, transformers, sentence_transformers as st
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
print("transformers", transformers.__version__, "sentence-transformers", st.__version__)'; } > "$work/versions.txt" 2>&1
tail -2 "$work/versions.txt"

ncert=../shared/data/ncert/chapters.parquet
if [ ! -f "$ncert" ] && [ -f "${NCERT:-.device/ncert/chapters.parquet}" ]; then
  mkdir -p "$(dirname "$ncert")" && cp "${NCERT:-.device/ncert/chapters.parquet}" "$ncert"
fi
seed=(quora-mnrl snli-softmax greetings-mnrl udemy-cosine)
[ -f "$ncert" ] && seed=(quora-mnrl ncert-mnrl snli-softmax greetings-mnrl udemy-cosine)
args=()
for p in "${seed[@]}"; do args+=(--pairing "$p"); done

stage bench 150 "$py" -m benchmarks.run --steps 100 --warmup 30 "${args[@]}" --out "$work"
stage equivalence 90 "$py" -m benchmarks.run --equivalence udemy-cosine --out "$work"
if [ -f "$ncert" ]; then
  stage pairings 240 "$py" -m pairings run --profile local --no-variants --no-summary "${args[@]}"
  mkdir -p "$work/reports-local"
  for p in "${seed[@]}"; do
    cp reports/local/"$p".json reports/local/"$p".html "$work/reports-local/" 2>/dev/null || true
  done
else
  echo "pairings: left out: every local run needs $ncert (set NCERT=path/to/chapters.parquet)" | tee -a "$work/stage.txt"
fi
if [ -n "${PROBE_COMPILE:-}" ]; then  # optional, last: the compiled lean loop crashed the process on an H100
  mkdir -p "$work/compile"
  stage compile 90 "$py" -X faulthandler -m benchmarks.run --steps 50 --warmup 30 --pairing quora-mnrl \
    --torch-compile --out "$work/compile"
fi
tar -C "$work" -czf "$out/gpu-results.tgz" .
cp "$work"/stage.txt "$work"/*.json "$out/" 2>/dev/null
cat "$out/stage.txt"
