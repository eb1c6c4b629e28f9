"""Training and encoding speed: the plain trainer (the peer) against the study's path, recipe by recipe.

    python -m benchmarks.run                          # every recipe of params/local, then the JSON
    python -m benchmarks.run --pairing snli-softmax --steps 50
    python -m benchmarks.run --equivalence udemy-cosine   # train a whole run both ways and compare

For each recipe both paths train the same model on the same data, batch size and schedule (the recipe's
own epochs; the run is stopped after ``--warmup + --steps`` steps) in this one process; steps/s is timed
over the steps after the warm-up. With ``--repeats N`` (2 on a CPU) the two paths take turns N times (peer,
study, peer, study) and each path counts its fastest run: a shared VM's neighbours only ever slow a run down
(the 2-core VM's peer took 1,779 and 2,919 ms a NCERT step in two benchmarks half an hour apart), and taking turns
spreads a slow spell over both. Every run's rate is in the JSON. Results go to
``benchmarks/results/<date>-<device>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from pairings import data as data_sets
from pairings import losses
from pairings.data import seed_pairings  # noqa: E402
from pairings.evaluate import metrics  # noqa: E402
from pairings.params import Params  # noqa: E402
from pairings.report import record
from pairings.train import base_model, speed, trainer

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {"cuda": 5.0, "cpu": 1.5}  # issue 6: the study's path against the peer, steps/s
EQUIVALENCE_TOLERANCE = 0.01  # final STSb Spearman of the two paths, and 50-step mean losses, may differ by this
ENCODE_BATCH = 256  # the peer's evaluation batch size in the issue
ENCODE_PASSES = {"cuda": 3, "cpu": 1}  # timed passes over the sentences (the fastest counts), after an untimed one
ENCODE_GOAL = {"cuda": 20_000}  # issue 17: sentences/s of the study's path at float32 on one H100


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    return f"{model or platform.processor() or 'cpu'} ({os.cpu_count()} cores)"


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepTimer(TrainerCallback):
    """Time each optimizer step; stop the run after ``warmup + steps`` of them."""

    def __init__(self, warmup: int, steps: int, device: str):
        self.warmup, self.steps, self.device, self.times = warmup, steps, device, []

    def on_step_end(self, args, state, control, **kwargs):
        sync(self.device)
        self.times.append(time.perf_counter())
        if state.global_step >= self.warmup + self.steps:
            control.should_training_stop = True

    def steps_per_second(self) -> float:
        timed = self.times[self.warmup:]
        return (len(timed) - 1) / (timed[-1] - timed[0])

    def median_ms(self) -> float:
        """The median step of the timed ones: the steady state, without a one-off cost among them (on CUDA, the
        lean loop records a CUDA graph the first time a batch shape appears)."""
        timed = self.times[self.warmup:]
        return 1000 * float(np.median(np.diff(timed)))


def recipe(profile: str, pairing: str) -> Params:
    """A profile's recipe for timing: no checkpoints, no resume, a scratch output folder."""
    return Params.load(profile, pairing).replace(checkpoint_steps=None, resume=False, output_dir=None)


def study(params: Params, torch_compile: bool = False) -> Params:
    """The study's path with its defaults: whatever the profile says of ``fast_dropout`` and ``train_loop`` (the
    local profile keeps torch's dropout and the trainer's loop for its records' sake), the benchmark times the
    CPU dropout and the lean loop. ``torch_compile`` (CUDA only, off by default since it crashed on an H100): the
    lean loop's compiled encoder, as a probe."""
    return params.replace(fast_path=True, fast_dropout=True, train_loop="auto", torch_compile=torch_compile)


def train_steps(params: Params, train_set, warmup: int, steps: int, workdir: Path, callbacks=()) -> tuple[float, dict]:
    torch.manual_seed(params.seed)
    model = base_model.load(params)
    loss = losses.get(params.loss).make(model)
    timer = StepTimer(warmup, steps, base_model.device(params))
    result = trainer.fit(model, loss, train_set, params, workdir, callbacks=[timer, *callbacks])
    result["median_ms_per_step"] = timer.median_ms()
    return timer.steps_per_second(), result


def encode_rate(params: Params, sentences: list[str], fast: bool, dtype: str = "float32") -> float:
    """Sentences per second of model.encode at batch 256, the fastest of ``ENCODE_PASSES`` passes after an
    untimed one (on the CPU of its first batch only). The study's path encodes as its evaluations do
    (``speed.evaluation``: packed on the CPU, in static shapes from CUDA graphs on a GPU, the graphs captured in
    the untimed pass); ``dtype``: encode_dtype."""
    model = base_model.load(params)
    device = base_model.device(params)
    best = float("inf")
    with speed.evaluation(model) if fast else contextlib.nullcontext(), metrics.precision(model, dtype):
        gpu = device.startswith("cuda")
        model.encode(sentences if gpu else sentences[:ENCODE_BATCH], batch_size=ENCODE_BATCH)
        for _ in range(ENCODE_PASSES["cuda" if gpu else "cpu"]):
            sync(device)
            start = time.perf_counter()
            model.encode(sentences, batch_size=ENCODE_BATCH)
            sync(device)
            best = min(best, time.perf_counter() - start)
    return len(sentences) / best


def bench(profile: str, pairing: str, warmup: int, steps: int, encode_limit: int | None = None,
          torch_compile: bool = False, repeats: int = 1, encode_dtypes: bool = False) -> dict:
    """Both paths on ``pairing``'s recipe; ``encode_dtypes`` (on a GPU): the study's encoding in float16 and
    bfloat16 too (the same base model and sentences for every recipe: the first recipe's is enough)."""
    base = recipe(profile, pairing)
    prep = data_sets.get(base.data_set).prepare(base)
    train_set = prep.train_dataset
    runs: dict[str, list[float]] = {"peer": [], "study": []}
    options, medians = {}, {"peer": [], "study": []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(repeats):
            for path in ("peer", "study"):  # taking turns
                params = study(base, torch_compile) if path == "study" else base.replace(fast_path=False)
                rate, result = train_steps(params, train_set, warmup, steps, Path(tmp) / f"{path}-{turn}")
                runs[path].append(rate)
                options[path] = result["options"]
                medians[path].append(result["median_ms_per_step"])
                print(f"  {pairing:15s} {path:5s} {rate:8.3f} steps/s", flush=True)
    rates = {path: max(r) for path, r in runs.items()}  # each path's fastest run
    sentences = (list(prep.stsb.dataset["sentence1"]) + list(prep.stsb.dataset["sentence2"]))[:encode_limit]
    encode = {f"{path}_encode_per_s": encode_rate(base, sentences, path == "study") for path in ("peer", "study")}
    if encode_dtypes and torch.cuda.is_available():  # the named options that change numerics
        encode |= {f"study_encode_{dtype}_per_s": encode_rate(base, sentences, True, dtype)
                   for dtype in ("float16", "bfloat16")}
    return {"batch_size": base.batch_size, "max_seq_length": base.max_seq_length, "loss": base.loss,
            "train_pairs": len(train_set), "timed_steps": steps, "warmup_steps": warmup,
            "peer_steps_per_s": rates["peer"], "study_steps_per_s": rates["study"],
            "peer_ms_per_step": 1000 / rates["peer"], "study_ms_per_step": 1000 / rates["study"],
            "speedup_ratio": rates["study"] / rates["peer"], "study_options": options["study"],
            "repeats": repeats, "peer_steps_per_s_runs": runs["peer"], "study_steps_per_s_runs": runs["study"],
            "peer_median_ms_per_step": min(medians["peer"]), "study_median_ms_per_step": min(medians["study"]),
            "encode_sentences": len(sentences), **encode}


CATEGORIES = [  # (name, substrings of aten op names), first match wins
    ("matmuls (linear layers)", ("addmm", "aten::mm", "bmm", "matmul")),
    ("attention", ("scaled_dot_product", "_flash_attention", "_efficient_attention")),
    ("optimizer (AdamW)", ("adam",)),
    ("gradient clipping", ("norm", "_foreach_mul", "clamp")),
    ("embeddings and their gradient", ("embedding", "index_add", "index_select", "scatter")),
    ("layer norm, GELU, dropout", ("layer_norm", "gelu", "dropout", "bernoulli")),
    ("packing (gather/scatter of tokens)", ("index", "nonzero", "masked")),
    ("element-wise (add, mul, copy, fill)", ("add", "mul", "copy", "fill", "zero", "div", "sum", "cat", "empty")),
]


def breakdown(profile: str, pairing: str, warmup: int, steps: int, fast: bool = True) -> str:
    """Where a step's time goes: torch.profiler self time per op, grouped, in ms per step."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    params = study(recipe(profile, pairing)) if fast else recipe(profile, pairing).replace(fast_path=False)
    prep = data_sets.get(params.data_set).prepare(params)
    device = base_model.device(params)
    prof = torch_profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else []))

    class Window(TrainerCallback):  # profile the steps after the warm-up only
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                prof.start()
            elif state.global_step == warmup + steps:
                sync(device)
                prof.stop()

    with tempfile.TemporaryDirectory() as tmp:
        rate, _ = train_steps(params, prep.train_dataset, warmup, steps, Path(tmp), callbacks=[Window()])
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        name = event.key.lower()
        group = next((g for g, keys in CATEGORIES if any(k in name for k in keys)), "other")
        totals[group] = totals.get(group, 0.0) + getattr(event, attr) / 1000 / steps
    whole = sum(totals.values())
    lines = [f"{pairing} ({'study' if fast else 'peer'} path, {device}): {1000 / rate:.0f} ms/step under the profiler, "
             f"{whole:.0f} ms/step of op self time",
             "| where | ms/step | share |", "|---|---:|---:|"]
    for group, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {group} | {ms:.1f} | {ms / whole:.0%} |")
    return "\n".join(lines)


def window_means(history: list[list[float]], window: int = 50) -> dict[int, float]:
    """Mean logged loss over windows of ``window`` steps, keyed by the window's first step."""
    out: dict[int, list[float]] = {}
    for step, loss in history:
        out.setdefault((step - 1) // window * window + 1, []).append(loss)
    return {start: float(np.mean(values)) for start, values in sorted(out.items())}


def equivalence(profile: str, pairing: str) -> dict:
    """Train one whole run on each path with the same seed; compare loss windows and final metrics."""
    base = recipe(profile, pairing)
    prep = data_sets.get(base.data_set).prepare(base)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in ("peer", "study"):
            params = study(base) if path == "study" else base.replace(fast_path=False)
            model = base_model.load(params)
            loss = losses.get(params.loss).make(model, prep.shaped.num_labels, seed=params.seed)
            result = trainer.fit(model, loss, prep.train_dataset, params, Path(tmp) / path)
            stsb = metrics.stsb(model, prep.stsb.dataset)
            runs[path] = {"loss_history": result["loss_history"], "seconds_per_step": result["seconds_per_step"],
                          "steps": result["steps"], "options": result["options"], **stsb}
            print(f"  {path:5s} {result['steps']} steps, {result['seconds_per_step']:.3f} s/step, "
                  f"STSb Spearman {stsb['stsb_spearman']:.4f}", flush=True)
    peer, ours = (window_means(runs[p]["loss_history"]) for p in ("peer", "study"))
    gaps = {start: abs(peer[start] - ours[start]) for start in peer if start in ours}
    worst = max(gaps, key=gaps.get)
    out = {"pairing": pairing, "profile": profile, "seed": base.seed, "steps": runs["peer"]["steps"],
           "study_options": runs["study"]["options"],
           "window_steps": 50, "largest_window_gap": gaps[worst], "largest_gap_window_start": worst,
           "loss_at_largest_gap": {"peer": peer[worst], "study": ours[worst]},
           "stsb_spearman": {p: runs[p]["stsb_spearman"] for p in runs},
           "stsb_spearman_gap": abs(runs["peer"]["stsb_spearman"] - runs["study"]["stsb_spearman"]),
           "seconds_per_step": {p: runs[p]["seconds_per_step"] for p in runs}, "windows": {"peer": peer, "study": ours},
           "tolerance": EQUIVALENCE_TOLERANCE}
    out["within_tolerance"] = max(out["largest_window_gap"], out["stsb_spearman_gap"]) <= EQUIVALENCE_TOLERANCE
    print(f"  largest gap between 50-step window means: {gaps[worst]:.4f} (steps {worst}-{worst + 49}: "
          f"peer {peer[worst]:.4f}, study {ours[worst]:.4f}); STSb Spearman gap {out['stsb_spearman_gap']:.4f}")
    return out


def table(results: dict) -> str:
    rows = ["| recipe | batch | peer ms/step | study ms/step | speedup | encode peer/s | encode study/s |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["recipes"].items():
        rows.append(f"| {name} | {r['batch_size']} | {r['peer_ms_per_step']:.0f} | {r['study_ms_per_step']:.0f} | "
                    f"**{r['speedup_ratio']:.2f}×** | {r['peer_encode_per_s']:.0f} | {r['study_encode_per_s']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="local", help="whose recipes (default: local, the seed recipes here)")
    parser.add_argument("--pairing", action="append", choices=list(seed_pairings()), help="repeatable; default: all five")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per path (default: 20 on CPU, 200 on GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 3 on CPU, 20 on GPU)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="the paths take turns this many times, each counting its fastest run (default: 2 on "
                             "CPU, 1 on GPU)")
    parser.add_argument("--equivalence", metavar="PAIRING", choices=list(seed_pairings()),
                        help="train one whole run of PAIRING on both paths and compare")
    parser.add_argument("--breakdown", metavar="PAIRING", choices=list(seed_pairings()), action="append",
                        help="profile the study's path on PAIRING: where the time per step goes (repeatable)")
    parser.add_argument("--torch-compile", action="store_true",
                        help="the study's path with torch_compile on (CUDA only; off by default: it crashed on an H100)")
    parser.add_argument("--encode-sentences", type=int, default=None,
                        help="encode only the first N STSb test sentences (default: all 2,758)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    stamp = time.strftime("%Y-%m-%d")
    slug = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")[:40]
    args.out.mkdir(parents=True, exist_ok=True)
    head = {"date": stamp, "device": device, "device_name": device_name(device), "torch_threads": torch.get_num_threads(),
            "versions": record.versions(), "profile": args.profile, "torch_compile": args.torch_compile}
    if args.breakdown:
        steps, warmup = args.steps or 10, args.warmup if args.warmup is not None else 3
        text = "\n\n".join(breakdown(args.profile, p, warmup, steps) for p in args.breakdown)
        print(text)
        path = args.out / f"{stamp}-{slug}-breakdown.md"
        path.write_text(f"# Where the study's training step spends its time ({head['device_name']})\n\n"
                        f"`python -m benchmarks.run --breakdown ...`, {steps} profiled steps after {warmup}.\n\n{text}\n")
        print(f"wrote {path}")
        return 0
    if args.equivalence:
        print(f"equivalence: {args.profile}/{args.equivalence}, both paths, seed from the params")
        result = head | equivalence(args.profile, args.equivalence)
        path = args.out / f"{stamp}-{slug}-equivalence-{args.equivalence}.json"
    else:
        steps = args.steps or (200 if device == "cuda" else 20)
        warmup = args.warmup if args.warmup is not None else (20 if device == "cuda" else 3)
        repeats = args.repeats or (1 if device == "cuda" else 2)
        print(f"{device_name(device)}: {steps} timed steps after {warmup} per path, {repeats} turn(s) each, "
              f"recipes of params/{args.profile}")
        result = head | {"goal_ratio": GOALS[device], "recipes": {}}
        for i, pairing in enumerate(args.pairing or list(seed_pairings())):
            result["recipes"][pairing] = bench(args.profile, pairing, warmup, steps, args.encode_sentences,
                                               args.torch_compile, repeats, encode_dtypes=i == 0)
        result["all_reach_goal"] = all(r["speedup_ratio"] >= GOALS[device] for r in result["recipes"].values())
        if device in ENCODE_GOAL:
            result["encode_goal_per_s"] = ENCODE_GOAL[device]
            result["encode_reaches_goal"] = all(r["study_encode_per_s"] >= ENCODE_GOAL[device]
                                                for r in result["recipes"].values())
        print(table(result))
        path = args.out / f"{stamp}-{slug}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
