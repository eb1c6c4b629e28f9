"""Ctrl-C and SIGTERM while runs execute: the current run stops with its kernel, its staging folder is cleaned (or
kept for ``--resume``), and one line says what became of it; a signal while a run is being published waits until
its files are in place."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path

from pairings.params import shown


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM: the current run stops; the command exits 128 + ``signum``."""

    def __init__(self, signum: int, message: str = "", told: bool = False):
        super().__init__(message or f"by {signal.Signals(signum).name}")
        self.signum, self.told = signum, told  # told: the message already says what became of the run


class Busy(RuntimeError):
    """Another process runs the same run of the same profile (its lock file names its pid)."""


_deferred: list[int] = []  # signals that came while a run was being published, raised afterwards
_publishing = threading.Event()


@contextlib.contextmanager
def publishing(name: str):
    """Within: a run's files are being moved into place; SIGINT / SIGTERM wait, and are raised after it
    (Interrupted saying the run was published)."""
    _publishing.set()
    try:
        yield
    finally:
        _publishing.clear()
    if _deferred:
        signum = _deferred[0]
        _deferred.clear()
        raise Interrupted(signum, f"{name} was published, then {signal.Signals(signum).name} stopped the command",
                          told=True)


def on_signal(signum, frame):
    if _publishing.is_set():
        _deferred.append(signum)  # never leave a half-published run
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible():
    """SIGINT and SIGTERM raise Interrupted in the main thread, where papermill waits on the kernel."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def stop_kernels() -> None:
    """Stop the kernels this process started (papermill's own cleanup does not run on a signal). SIGKILL:
    the run's durable state is its checkpoints, and a kernel asked to shut down mid-cell prints tracebacks."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=5)


def interrupted(err: Interrupted, name: str, staging: Path, keep: bool) -> Interrupted:
    """The one line an interrupted run gets; its staging cleaned, or kept for --resume."""
    stop_kernels()
    if err.told:
        return err
    keep = leave(staging, keep)
    where = f"staging kept for --resume ({shown(staging)})" if keep else "staging cleaned"
    return Interrupted(err.signum, f"{name} by {signal.Signals(err.signum).name}; {where}; "
                                   f"the last good report is untouched")


def leave(staging: Path, keep: bool) -> bool:
    """An interrupted run's staging: kept for --resume when asked and it has checkpoints, else removed."""
    keep = keep and (staging / "checkpoints").is_dir()
    if not keep:
        shutil.rmtree(staging, ignore_errors=True)
    return keep


def landed(done: dict[str, bool]) -> list[str]:
    """What an interrupted command had already landed, as its line says it: published …[; failed …]."""
    published = [name for name, ok in done.items() if ok]
    failed = [name for name, ok in done.items() if not ok]
    return [f"published {', '.join(published) or 'none'}"] + [f"failed {', '.join(failed)}"] * bool(failed)
