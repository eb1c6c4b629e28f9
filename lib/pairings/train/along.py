"""Evaluations along training: a trainer callback that, at a few evenly spaced steps, scores the encoder the way the
way back does (head-free task metric, STSb, SICK-R), in eval mode and without gradients, then trains on exactly
as before: every random generator is restored, so the run's training is the one it would have been without it.
It works in the trainer's loop and in the lean loop alike (both call the callbacks' ``on_step_end``)."""

from __future__ import annotations

import random
import time
from typing import Callable

import numpy as np
import torch
import transformers


def steps_for(total: int, points: int) -> list[int]:
    """``points`` evenly spaced steps strictly between 0 and ``total`` (the start and the end are the run's before
    and after evaluations); fewer where the run has fewer steps."""
    if points <= 0:
        return []
    return sorted({round(total * k / (points + 1)) for k in range(1, points + 1)} - {0, total})


class AlongTraining(transformers.TrainerCallback):
    """Scores ``model`` with ``score`` at :func:`steps_for` of the run's steps; ``results`` holds
    ``{"step": …, **scores}`` in order, ``seconds`` the time spent (not training)."""

    def __init__(self, model: torch.nn.Module, score: Callable[[torch.nn.Module], dict[str, float]], points: int):
        self.model, self.score, self.points = model, score, points
        self.at: set[int] = set()
        self.results: list[dict[str, float]] = []
        self.seconds = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.at = set(steps_for(state.max_steps, self.points))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.at:
            start = time.perf_counter()
            self.results.append({"step": state.global_step, **self.evaluate()})
            self.seconds += time.perf_counter() - start

    def evaluate(self) -> dict[str, float]:
        model, was_training = self.model, self.model.training
        states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),
                  torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
        model.eval()
        try:
            with torch.no_grad():
                return self.score(model)
        finally:
            model.train(was_training)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.random.set_rng_state(states[2])
            if states[3] is not None:
                torch.cuda.set_rng_state_all(states[3])
