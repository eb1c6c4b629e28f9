"""The training path's options, one object (``Params.speed``, written flat in params files): which of the study's
speed mechanisms (``pairings.train.speed``, ``pairings.train.loop``) a run uses. None changes the recipe; each
changes how much work a step does, and the record says which ran."""

from __future__ import annotations

from dataclasses import dataclass

TRAIN_LOOPS = ("auto", "trainer", "lean")
ENCODE_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Speed:
    # the study's training path (pairings.train.speed): packed encoder + fused AdamW, the same fp32 training;
    # false: the plain SentenceTransformerTrainer with the seed card's arguments (the peer)
    fast_path: bool = True
    # on the CPU, the study's path also draws its dropout masks from NumPy's PCG64 and attends text by text
    # for long texts (pairings.train.speed); false: torch's dropout and attention there, as the plain model
    fast_dropout: bool = True
    # the training loop: "trainer" (SentenceTransformerTrainer.train), "lean" (pairings.train.loop: the trainer's
    # batches, optimiser and schedule without its per-step work) or "auto": lean with fast_path, the trainer
    # without (the local profile pins "trainer", the loop its records trained with)
    train_loop: str = "auto"
    # the lean loop on CUDA compiles the encoder: torch.compile(mode="reduce-overhead"), CUDA graphs. Off by
    # default: on an H100 (torch 2.11) the backward's CUDA graphs crashed the process (a segfault, which no
    # fallback catches) for quora-mnrl, while udemy-cosine trained (benchmarks/results/2026-11-27-nvidia-*)
    torch_compile: bool = False
    # the evaluation's encoding: float32, or float16 / bfloat16 autocast (faster on a GPU, other numerics)
    encode_dtype: str = "float32"

    @property
    def lean_loop(self) -> bool:
        """Whether training runs the lean loop: ``train_loop``, where "auto" means with the study's path."""
        return self.fast_path if self.train_loop == "auto" else self.train_loop == "lean"

    def problems(self) -> list[tuple[str, str]]:
        """(parameter, why) for each option out of its range or at odds with another."""
        out = []
        if self.train_loop not in TRAIN_LOOPS:
            out.append(("train_loop", f"must be one of {', '.join(TRAIN_LOOPS)}"))
        elif self.train_loop == "lean" and not self.fast_path:
            out.append(("train_loop", "'lean' is the study's path: it needs fast_path: true (the plain path is the trainer's)"))
        if self.encode_dtype not in ENCODE_DTYPES:
            out.append(("encode_dtype", f"must be one of {', '.join(ENCODE_DTYPES)}"))
        return out
