"""The way back toward the base model: the fine-tuned encoder's weights moved part of the way home,
θ(α) = (1 − α)·θ_base + α·θ_fine-tuned (weight-space ensembling, WiSE-FT: Wortsman et al., CVPR 2022), evaluated
at a few α; and the operating point of such a curve (or of evaluations along training): the furthest point at
which general similarity stays within a tolerance of the base model's, and the share of the task gain kept there.

The interpolation is state-dict arithmetic on the one model in memory (no copy per α, no extra dependency, the
same on every sentence-transformers version the study runs on); ``SentenceTransformer.merge(..., "linear")``
computes the same mixture through mergekit, as a new model each time."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

STSB_TOLERANCE = 0.01  # how much STSb Spearman a user may give up: the operating point's default


def alphas(points: int) -> list[float]:
    """``points`` evenly spaced α from 0 (the base model) to 1 (the fine-tuned one)."""
    if points < 2:
        raise ValueError(f"parameter 'interpolation_points' = {points}: at least 2 (α = 0 and α = 1), or 0 for none")
    return [round(float(a), 6) for a in np.linspace(0.0, 1.0, points)]


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's weights (and buffers)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def mixed(base: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """θ(α): every floating-point tensor (1 − α)·base + α·tuned (α = 0 and 1 exactly the two); integer buffers
    (position ids) the fine-tuned model's. The two must have the same keys and shapes."""
    if base.keys() != tuned.keys():
        raise ValueError(f"the base and the fine-tuned model differ in their weights: {sorted(set(base) ^ set(tuned))[:3]}")
    if alpha == 0:
        return {k: v.clone() for k, v in base.items()}
    if alpha == 1:
        return {k: v.clone() for k, v in tuned.items()}
    return {k: torch.lerp(base[k], t, alpha) if t.is_floating_point() else t.clone() for k, t in tuned.items()}


@contextlib.contextmanager
def weights(model: torch.nn.Module, values: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Within: the model holds ``values``; after: its own weights again, bit for bit."""
    own = state(model)
    model.load_state_dict(values)
    try:
        yield
    finally:
        model.load_state_dict(own)


def curve(model: torch.nn.Module, base: Mapping[str, torch.Tensor], points: int,
          evaluate: Callable[[torch.nn.Module], dict[str, float]]) -> list[dict[str, float]]:
    """``evaluate`` at each α of :func:`alphas` (the model's own weights are the fine-tuned end), in order; the
    model is left as it was."""
    tuned = state(model)
    out = []
    for alpha in alphas(points):
        with weights(model, mixed(base, tuned, alpha)):
            out.append({"alpha": alpha, **evaluate(model)})
    return out


def operating_point(points: list[Mapping[str, float]], at: str, task: str, general: str = "stsb_spearman",
                    tolerance: float = STSB_TOLERANCE) -> dict:
    """Of points ordered by ``at`` (α, or the training step) from the base model (the first) to the fine-tuned one
    (the last): the furthest point whose ``general`` metric stays within ``tolerance`` of the base's, its task
    metric, and the share of the fine-tune's task gain kept there (None where the fine-tune gained nothing:
    ``gain`` says so)."""
    if len(points) < 2:
        raise ValueError("an operating point needs the base and the fine-tuned point at least")
    first, last = points[0], points[-1]
    kept = [p for p in points if p[general] >= first[general] - tolerance]  # the first is always within
    best = max(kept, key=lambda p: p[at])
    gain = last[task] - first[task]
    share = (best[task] - first[task]) / gain if gain > 0 else None
    return {at: best[at], "task": best[task], general: best[general], "tolerance": tolerance,
            "gain": gain, "kept": best[task] - first[task], "kept_share": share, "all_within": len(kept) == len(points)}


def describe(point: Mapping, at: str, task_label: str) -> str:
    """One line: where the operating point lies and what it keeps."""
    where = f"α = {point[at]:g}" if at == "alpha" else f"step {point[at]:,}"
    if point["gain"] <= 0:
        what = "lost" if point["gain"] < 0 else "did not change"
        return (f"the fine-tune {what} {task_label} ({point['gain']:+.3f}): nothing to keep; {where} is the furthest "
                f"point within {point['tolerance']:g} of the base model's STSb")
    if point["all_within"]:
        return f"STSb stays within {point['tolerance']:g} of the base model's all the way: the whole task gain is kept"
    return (f"at {where} STSb stays within {point['tolerance']:g} of the base model's and keeps "
            f"{point['kept_share']:.0%} of the {task_label} gain ({point['kept']:+.3f} of {point['gain']:+.3f})")
