"""What each seed model card reports: its logged training losses, its usage example and the
similarity matrix it printed, and its recipe. The cards are copied in data/seed-cards/."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np

from pairings import config
from pairings import data as data_sets


@dataclass(frozen=True)
class SeedCard:
    pairing: str
    file: str
    dataset_size: int
    loss_log: list[tuple[float, int, float]]  # (epoch, step, training loss)
    example: list[str]  # the usage example's sentences
    reported_similarity: np.ndarray | None  # the similarity matrix the card printed for them
    max_seq_length: int
    has_normalize: bool
    hyperparameters: dict[str, str]
    shown_example: list[str]  # the example as reports and records may show it (the data set's show_example)

    @property
    def log_steps(self) -> list[int]:
        return [step for _, step, _ in self.loss_log]

    @property
    def log_losses(self) -> list[float]:
        return [loss for _, _, loss in self.loss_log]


def logs_loss(card: SeedCard | None, loss: str) -> bool:
    """Are the card's logged losses comparable with a run's: did the card train with ``loss`` (its seed
    pairing's loss)? A grid cell under another loss logs another quantity."""
    return bool(card and card.loss_log) and data_sets.get(data_sets.seed_pairings()[card.pairing]).recipe["loss"] == loss


def mojibake_fix(text: str) -> str:
    """Undo UTF-8 read as cp1252, as in the cards' text ("Itâ€™s" → "It’s")."""
    if not re.search("[âÃ]", text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def for_pairing(pairing: str, data_set: str | None = None) -> SeedCard | None:
    """The seed card of a pairing's data set, or None for a data set without one (a user's file)."""
    name = data_set or data_sets.seed_pairings().get(pairing)
    spec = data_sets.registry().get(name) if name else None
    return load(spec.pairing) if spec is not None and spec.card else None


def load(pairing: str) -> SeedCard:
    """The seed card of a seed pairing (e.g. "quora-mnrl")."""
    spec = data_sets.registry()[data_sets.seed_pairings()[pairing]]
    path = config.SEED_CARDS_DIR / f"{spec.card}.md"
    text = path.read_text(encoding="utf-8")
    loss_log = [(float(e), int(s), float(x)) for e, s, x in
                re.findall(r"^\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*$", text, flags=re.M)]
    example = re.search(r"sentences = (\[.*?\n\])", text, flags=re.S)
    example = [mojibake_fix(s) for s in ast.literal_eval(example.group(1))] if example else []
    matrix = re.search(r"print\(similarities\)\n((?:# .*\n)+)", text)
    reported = None
    if matrix:
        numbers = re.findall(r"-?\d+\.\d+", matrix.group(1))
        reported = np.array([float(x) for x in numbers]).reshape(len(example), len(example))
    size = re.search(r"dataset_size:(\d+)", text)
    seq = re.search(r"'max_seq_length': (\d+)", text)
    hyper = dict(re.findall(r"^- `(\w+)`: (.*)$", text, flags=re.M))
    return SeedCard(pairing=pairing, file=path.name, dataset_size=int(size.group(1)) if size else 0,
                    loss_log=loss_log, example=example, reported_similarity=reported,
                    max_seq_length=int(seq.group(1)) if seq else 256,
                    has_normalize="Normalize()" in text, hyperparameters=hyper,
                    shown_example=spec.show_example(example))
