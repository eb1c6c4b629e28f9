"""Live progress of a run in the terminal, without touching what the executed notebook records.

The runner sets ``PAIRINGS_PROGRESS`` to a file in the run's staging folder before papermill starts the kernel
(which inherits the variable); the library in the kernel appends one JSON line per event to it: the phase
(pipeline.Run) and, during training, ``{step, total, loss}`` (a TrainerCallback added by train.fit). The runner
follows the file in a thread and drives one tqdm bar per run on stderr. Without the variable (JupyterLab,
tests) nothing is written."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

ENV = "PAIRINGS_PROGRESS"
STEP_SECONDS = 1.0  # between training events that carry no new loss


def emit(**event: Any) -> None:
    """Append one event to $PAIRINGS_PROGRESS; nothing when it is unset; never fails the run."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
    except OSError:
        pass


def phase(name: str) -> None:
    emit(phase=name)


def callbacks() -> list:
    """The callbacks train.fit adds: none unless the runner asked for progress."""
    return [_trainer_progress()()] if os.environ.get(ENV) else []


def _trainer_progress():
    from transformers import TrainerCallback  # only in the kernel: the runner need not import transformers

    class TrainerProgress(TrainerCallback):
        """{step, total} at most every STEP_SECONDS, and {step, total, loss} at every logging step."""

        last = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            emit(phase="train", step=state.global_step, total=state.max_steps)
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() - self.last >= STEP_SECONDS:
                emit(step=state.global_step, total=state.max_steps)
                self.last = time.monotonic()

        def on_train_end(self, args, state, control, **kwargs):
            emit(step=state.global_step, total=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                emit(step=state.global_step, total=state.max_steps, loss=logs["loss"])
                self.last = time.monotonic()

    return TrainerProgress


# ---- the runner's side ------------------------------------------------------------------------------


def apply(bar, event: dict) -> None:
    """One event onto a tqdm bar: the phase and the loss in its postfix, the step and total as its count."""
    postfix = dict(getattr(bar, "_pairings_postfix", {}))
    if "phase" in event:
        postfix["phase"] = event["phase"]
    if "total" in event and event["total"] and bar.total != event["total"]:
        bar.reset(total=event["total"])  # the rate (and the time left) counts training steps only
    if "step" in event and event["step"] is not None and event["step"] != bar.n:
        bar.update(event["step"] - bar.n)
    if "loss" in event:
        postfix["loss"] = f"{event['loss']:.4f}"
    bar._pairings_postfix = postfix
    bar.set_postfix(postfix, refresh=False)


def drain(f: IO[str], bar, pending: str = "") -> str:
    """Apply every complete line now in ``f``; return the incomplete tail (a line still being written)."""
    pending += f.read()
    *lines, pending = pending.split("\n")
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            apply(bar, event)
    now = time.monotonic()
    phase = getattr(bar, "_pairings_postfix", {}).get("phase")
    if phase != getattr(bar, "_pairings_phase", None) or now - getattr(bar, "_pairings_shown", 0.0) >= bar.mininterval:
        # every new phase is shown at once; otherwise the clock ticks, less often off a TTY
        bar._pairings_phase = phase
        bar.refresh()
        bar._pairings_shown = now
    return pending


class Lines:
    """Off a terminal (a log file, a CI log, a batch job's output), each of tqdm's redraws as a line of its own,
    instead of carriage returns that pile an hour of redraws onto one line."""

    def __init__(self, file: IO[str]):
        self.file = file

    def write(self, text: str) -> None:
        text = text.replace("\r", "").replace("\x1b[A", "").strip("\n")  # a redraw, its cursor moves dropped
        if text.strip():
            self.file.write(text + "\n")

    def flush(self) -> None:
        self.file.flush()

    def __getattr__(self, name: str):
        return getattr(self.file, name)


def make_bar(name: str, file=None):
    from tqdm import tqdm

    file = file or sys.stderr
    tty = getattr(file, "isatty", lambda: False)()
    return tqdm(desc=name, unit="step", file=file if tty else Lines(file), dynamic_ncols=tty,
                mininterval=0.5 if tty else 10, leave=True, postfix={"phase": "start"})


@contextlib.contextmanager
def following(path: Path, name: str, file=None, poll: float = 0.5):
    """Within: $PAIRINGS_PROGRESS names ``path`` and a thread follows it onto a tqdm bar; on leaving, the last
    events are applied, the bar closed and the variable restored."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    previous = os.environ.get(ENV)
    os.environ[ENV] = str(path)
    bar = make_bar(name, file)
    stop = threading.Event()

    def follow():
        with open(path, encoding="utf-8") as f:
            pending = ""
            while not stop.wait(poll):
                pending = drain(f, bar, pending)
            drain(f, bar, pending)

    thread = threading.Thread(target=follow, name=f"progress {name}", daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join(timeout=5)
        bar.close()
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
