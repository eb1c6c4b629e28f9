"""Executing the planned runs: one interface, three executors. ``Sequential`` runs one after another here (each
with a live progress bar); ``Threads`` (``--jobs N``) runs N at once here, each in a kernel of its own with an equal
share of the cores; ``OnRay`` (``--executor ray``) runs each as a Ray task (``pairings.run.ray_executor``). Every
executor stages, publishes and fails a run by the same rules (``pairings.run.staging``) and returns how many runs
failed; :func:`run` picks one, then writes the summary and the index."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Protocol

from pairings import config
from pairings.params import Params, ParamsError
from pairings.run import ray_executor
from pairings.run.plan import describe, longest_first, plan
from pairings.run.signals import Busy, Interrupted, landed, leave, stop_kernels
from pairings.run.staging import SUMMARY, Outcome, attempt, execute, execute_summary, land, locked, staging_of, write_index

EXECUTORS = ("sequential", "ray")


class Executor(Protocol):
    """What runs a profile's planned runs: each is staged, executed and published (or kept as ``.failed``) by
    ``pairings.run.staging``'s rules, a line logged as each starts and ends; returns the number that failed."""

    def where(self, n_runs: int) -> str:
        """How the runs will be executed, for the first line of the command's output ("" if plainly)."""

    def run_all(self, runs: list[Params], log: Callable[[str], None]) -> int:
        """Execute ``runs``, publish each as it ends, return how many failed."""


@dataclass(frozen=True)
class Sequential:
    """One run after another in this process's kernel of papermill, with a live progress bar each."""

    def where(self, n_runs: int) -> str:
        return ""

    def run_all(self, runs: list[Params], log=print) -> int:
        failed = 0
        for i, params in enumerate(runs, 1):
            log(f"[{i}/{len(runs)}] {describe(params)}")
            failed += not execute(params, log=log)
        return failed


@dataclass(frozen=True)
class Threads:
    """Up to ``jobs`` runs at once on this machine (:func:`run_parallel`)."""

    jobs: int

    def where(self, n_runs: int) -> str:
        return f", {min(self.jobs, n_runs)} at once"

    def run_all(self, runs: list[Params], log=print) -> int:
        return run_parallel(runs, self.jobs, log)


@dataclass(frozen=True)
class OnRay:
    """Each run a Ray task, on this machine's own Ray or the cluster at ``address`` (``pairings.run.ray_executor``)."""

    address: str | None = None
    gpus_per_run: float = 0.0
    cpus_per_run: float = 1.0
    local_cpus: int | None = None

    def where(self, n_runs: int) -> str:
        return " on Ray"

    def run_all(self, runs: list[Params], log=print) -> int:
        return ray_executor.run_all(runs, log=log, address=self.address, gpus_per_run=self.gpus_per_run,
                                    cpus_per_run=self.cpus_per_run, local_cpus=self.local_cpus)


def executor_for(executor: str = "sequential", jobs: int = 1, n_runs: int = 2, **ray_options) -> Executor:
    """The executor a command names: ``--executor ray`` (with its options), else ``--jobs N`` (N > 1, more than one
    run) at once on this machine, else one after another."""
    if executor not in EXECUTORS:
        raise ParamsError(f"--executor {executor}: one of {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise ParamsError(f"--jobs {jobs}: must be at least 1")
    if executor == "ray":
        return OnRay(**ray_options)
    if ray_options:
        raise ParamsError(f"--{next(iter(ray_options)).replace('_', '-')} is an option of --executor ray")
    return Threads(jobs) if jobs > 1 and n_runs > 1 else Sequential()


def run(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None,
        summary: bool = True, resume: bool = False, log=print, executor: str = "sequential", with_variants: bool = True,
        jobs: int = 1, **ray_options) -> int:
    """Run a profile with the executor :func:`executor_for` picks; write the summary and the index; return the
    number of failed runs."""
    if jobs < 1:
        raise ParamsError(f"--jobs {jobs}: must be at least 1")
    runs = plan(profile, pairings, seeds, resume, with_variants)
    chosen = executor_for(executor, jobs, len(runs), **ray_options)
    log(f"minilm-pairings: {len(runs)} run(s) of the '{profile}' profile → reports/{profile}/" + chosen.where(len(runs)))
    start = time.perf_counter()
    with contextlib.ExitStack() as locks:
        for params in runs:  # a run of this profile already under way elsewhere: refuse before starting any
            locks.enter_context(locked(staging_of(params)))
        failed = chosen.run_all(runs, log)
    summary_nb = config.NOTEBOOKS_DIR / f"{SUMMARY}.ipynb"
    if summary and summary_nb.exists():
        log(f"[summary] notebooks/{SUMMARY}.ipynb")
        try:
            failed += not execute_summary(profile, log=log)
        except Busy as err:
            log(f"  skipped: {err}")
    index = write_index(profile)
    log(f"{len(runs) - failed} of {len(runs)} run(s) succeeded in {time.perf_counter() - start:.0f} s; "
        f"open {index.relative_to(config.PROJ_ROOT)}")
    return failed


def run_parallel(runs: list[Params], jobs: int, log=print) -> int:
    """Up to ``jobs`` runs at once on this machine, each in a papermill kernel of its own with an equal share
    of the CPU cores as torch threads (the record says how many); this thread publishes each run as it ends,
    by the same rules as one after another. A line per run when it starts and when it ends, not a bar. The
    longest runs start first (:func:`longest_first`), so that the last to end is a short one.

    The kernels start in notebooks/: papermill sets the process's working directory around each execution
    (not thread-safe unless every execution sets the same one, as here, from there). Ctrl-C or SIGTERM stops
    every kernel; runs under way are cleaned (or kept for --resume), those not started never start."""
    jobs = min(jobs, len(runs))
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    log = one_at_a_time(log)  # the pool's threads and this one print; a line must not break into another
    done: dict[str, bool] = {}
    started: set[str] = set()

    def start(params: Params) -> Outcome:
        started.add(params.run_name)
        log(f"[start] {describe(params)}")
        return attempt(params, follow=False)

    with environment(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads), contextlib.chdir(config.NOTEBOOKS_DIR), \
            ThreadPoolExecutor(jobs, thread_name_prefix="run") as pool:
        pending = {pool.submit(start, params): params for params in longest_first(runs)}
        try:
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in ready:
                    params = pending.pop(future)
                    prefix = f"[{len(done) + 1}/{len(runs)}] {params.run_name}"
                    try:
                        done[params.run_name] = land(params, future.result(), log=lambda line: log(f"{prefix}: {line.strip()}"))
                    except Interrupted as err:
                        if err.told:  # published, then the signal
                            done[params.run_name] = True
                        raise
        except Interrupted as err:
            for future in pending:
                future.cancel()
            stop_kernels()  # the runs under way fail at once; their threads end
            wait(pending)
            left = [p for p in runs if p in pending.values()]  # in the study's order, whatever order they started in
            under_way = [p for p in left if p.run_name in started]
            kept = [p.run_name for p in under_way if leave(staging_of(p), keep=bool(p.checkpoint_steps))]
            parts = landed(done) + [f"stopped {', '.join(p.run_name for p in under_way) or 'none'}",
                      f"not started {', '.join(p.run_name for p in left if p not in under_way) or 'none'}"]
            parts += [f"staging kept for --resume: {', '.join(kept)}"] * bool(kept)
            raise Interrupted(err.signum, f"runs by {signal.Signals(err.signum).name}: {'; '.join(parts)}; every "
                                          f"other report is as it was", told=True) from None
    return sum(not ok for ok in done.values())


def one_at_a_time(log):
    """``log`` behind a lock: ``print`` writes a line's text and its end separately, so two threads printing
    at once can put both texts on one line (seen in CI: ``[start] a…[start] b…`` then an empty line)."""
    lock = threading.Lock()

    def locked_log(line: str) -> None:
        with lock:
            log(line)

    return locked_log


@contextlib.contextmanager
def environment(**values: str):
    """Within: these environment variables set (kernels started within inherit them); then restored."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
