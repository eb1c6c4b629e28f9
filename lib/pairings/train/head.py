"""A loss's own classifier (SoftmaxLoss's head): fitting it on the frozen encoder before the fine-tune (a linear
probe, as LP-FT: Kumar et al., ICLR 2022), and what a run's head has learned against what its encoder has.

``warm_up`` trains the head alone on the base encoder's embeddings (encoder untouched); ``diagnose`` scores the
fine-tuned encoder with its trained head, with the head it started the fine-tune from and with heads it never saw
(other seeds'), and says how far the head's weights moved."""

from __future__ import annotations

import copy
import random
import time

import numpy as np
import torch

from pairings.losses import head_features

UNSEEN_SEEDS = 2  # heads drawn from seed + 1 and seed + 2: heads the encoder never trained with
DIAGNOSTIC_ROWS = 2000  # at most this many labelled pairs score the heads


def has_head(loss) -> bool:
    """Whether the loss has a classifier of its own (SoftmaxLoss)."""
    return getattr(loss, "classifier", None) is not None


def embed_pairs(model, first: list[str], second: list[str], batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's embeddings of both texts of every pair, each distinct text encoded once (eval mode: no
    dropout, no gradient)."""
    texts = list(dict.fromkeys([*first, *second]))
    emb = model.encode(texts, convert_to_tensor=True, batch_size=batch_size)
    where = {t: i for i, t in enumerate(texts)}
    index = lambda column: torch.tensor([where[t] for t in column], device=emb.device)
    return emb[index(first)], emb[index(second)]


def warm_up(model, loss, dataset, *, epochs: int, learning_rate: float, batch_size: int, seed: int,
            logging_steps: int = 10) -> dict:
    """Fit the loss's head on the frozen encoder: the training rows' embeddings are computed once, then the
    classifier alone is trained with cross-entropy (AdamW, constant ``learning_rate``, no weight decay, the rows
    shuffled with ``seed``) for ``epochs``. The encoder's weights are not touched, and the global random state is
    left as it was (the fine-tune after it draws the same batches and dropout as without the warm-up).

    Returns what the record keeps: epochs, learning rate, steps, seconds, the logged losses [[step, loss], ...]
    and the head's accuracy on the training rows before and after."""
    start = time.perf_counter()
    first, second, labels = (dataset[c] for c in dataset.column_names[:3])
    with torch.no_grad():
        u, v = embed_pairs(model, list(first), list(second))
        x = head_features(loss, u, v).detach()
    y = torch.tensor(list(labels), device=x.device, dtype=torch.long)
    head = loss.classifier
    before = _accuracy(head, x, y)
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history, step, running = [], 0, []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator).to(x.device)
        for i in range(0, len(y), batch_size):
            rows = order[i:i + batch_size]
            value = torch.nn.functional.cross_entropy(head(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            step += 1
            running.append(value.item())
            if step == 1 or step % logging_steps == 0:
                history.append([step, float(np.mean(running))])
                running = []
    optimizer.zero_grad(set_to_none=True)
    return {"epochs": epochs, "learning_rate": learning_rate, "steps": step, "seconds": time.perf_counter() - start,
            "rows": len(y), "loss_history": history, "train_accuracy_before": before,
            "train_accuracy_after": _accuracy(head, x, y)}


def _accuracy(head: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((head(x).argmax(-1) == y).float().mean())


def drawn_head(loss, seed: int) -> dict:
    """The head's weights as ``losses.get("softmax").make`` draws them for ``seed`` (transformers.set_seed, then the
    classifier's initialisation), without touching the global random state."""
    state = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        import transformers

        transformers.set_seed(seed)
        fresh = torch.nn.Linear(loss.classifier.in_features, loss.classifier.out_features,
                                device=loss.classifier.weight.device, dtype=loss.classifier.weight.dtype)
        return {k: v.detach().clone() for k, v in fresh.state_dict().items()}
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.random.set_rng_state(state[2])


def snapshot(loss) -> dict:
    """A copy of the head's weights now."""
    return {k: v.detach().clone() for k, v in loss.classifier.state_dict().items()}


def diagnose(model, loss, start: dict, pairs: tuple[list[str], list[str], list[int]], where: str, seed: int,
             start_kind: str = "drawn") -> dict:
    """How much of the task the fine-tuned encoder, not its head, has learned.

    ``start``: the head's weights when the phase that trained it began; ``start_kind`` says what it was: "drawn"
    (from the seed, the card's recipe), "fitted" (by the warm-up, before the fine-tune) or "probe" (drawn, and
    only the head trained: the encoder is the base model). ``pairs``: labelled pairs (first texts, second texts,
    labels) to score heads on, ``where`` names them. The accuracy of the trained head, of the starting head, of
    the head drawn from ``seed`` ("initial") and of heads drawn from other seeds, all on the fine-tuned encoder;
    the head's weight change; and ``head_share``: the share of the trained head's lead over unseen heads that the
    head's own training in that phase gives (the rest: the head it started from, and the encoder bent to it)."""
    first, second, labels = (list(c)[:DIAGNOSTIC_ROWS] for c in pairs)
    with torch.no_grad():
        u, v = embed_pairs(model, first, second)
        x = head_features(loss, u, v)
    y = torch.tensor(labels, device=x.device, dtype=torch.long)
    probe = copy.deepcopy(loss.classifier)

    def accuracy(state: dict) -> float:
        probe.load_state_dict(state)
        return _accuracy(probe, x, y)

    trained = snapshot(loss)
    unseen = {seed + k: accuracy(drawn_head(loss, seed + k)) for k in range(1, UNSEEN_SEEDS + 1)}
    acc = {"trained": accuracy(trained), "start": accuracy(start), "initial": accuracy(drawn_head(loss, seed)),
           **{f"unseen_seed_{s}": a for s, a in unseen.items()}}
    w0, w1 = start["weight"], trained["weight"]
    change = {"mean_abs_start": float(w0.abs().mean()), "mean_abs_change": float((w1 - w0).abs().mean()),
              "max_abs_change": float((w1 - w0).abs().max())}
    lead = acc["trained"] - float(np.mean(list(unseen.values())))
    share = (acc["trained"] - acc["start"]) / lead if lead > 0.01 else None
    return {"pairs": where, "rows": len(y), "start": start_kind, "accuracy": acc, "weights": change,
            "head_share": share, "line": line(acc, change, share, list(unseen), start_kind)}


STARTS = {"drawn": "the random head it started from", "fitted": "the fitted head the fine-tune started from",
          "probe": "the random head the probe started from"}
REST = {"drawn": "the encoder fitting itself to its random starting head",
        "fitted": "the fitted head it started from, with the encoder bent to it",
        "probe": "the random head's luck (the encoder is the base model's)"}


def share_text(x: float) -> str:
    """A share as a percentage, with a decimal below 10 % (a head that moved 0.3 % did move)."""
    return f"{x:.1%}" if abs(x) < 0.1 else f"{x:.0%}"


def line(acc: dict, change: dict, share: float | None, unseen: list[int], start_kind: str = "drawn") -> str:
    """The one-line diagnostic the notebook prints and the record keeps."""
    others = float(np.mean([acc[f"unseen_seed_{s}"] for s in unseen]))
    encoder = "the base encoder" if start_kind == "probe" else "the fine-tuned encoder"
    text = (f"{encoder} scores {acc['trained']:.3f} with its trained head, {acc['start']:.3f} with "
            f"{STARTS[start_kind]}, {others:.3f} with heads it never saw (seeds {', '.join(map(str, unseen))}); "
            f"the head's weights moved {share_text(change['mean_abs_change'] / change['mean_abs_start'])} of their mean size")
    if share is None:
        return text + ": no head leads unseen ones, so nothing to split between head and encoder."
    share = min(max(share, 0.0), 1.0)
    return text + (f": {share:.0%} of the trained head's lead over unseen heads comes from training the head, "
                   f"{1 - share:.0%} from {REST[start_kind]}.")
