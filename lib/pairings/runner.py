"""Run a profile: papermill executes each pairing notebook with its params file, nbconvert renders it,
and the index links the reports. A run writes to a staging folder and replaces the last good report
only when it succeeds; a failed run leaves ``<run>.failed.ipynb`` and ``.html`` beside it."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from . import config, progress, record, sets, site
from .params import Params, ParamsError, shown, variants
from .params import pairings as profile_pairings

SUMMARY = "summary"


class _KnownParameters(logging.Filter):
    """The notebooks declare only ``profile`` and ``variant``; the runner injects every parameter of the run
    (so the executed notebook records them) and Params checks each one: papermill's warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


logging.getLogger("papermill").addFilter(_KnownParameters())

KERNEL = "minilm-pairings"  # registered by `make setup` for the project's .venv; the notebooks name it
# The kernel's own log (e.g. ipykernel's notice that its local TCP sockets are not encrypted) is not for the
# reader of the terminal; what the notebook prints and warns is recorded in the executed notebook. CRITICAL:
# a kernel stopped mid-cell (Ctrl-C, see Interrupted) logs its closed sockets as errors with a traceback.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def kernel_name() -> str:
    """The project's kernel where `make setup` registered it, else this interpreter's own (python3)."""
    from jupyter_client.kernelspec import find_kernel_specs

    return KERNEL if KERNEL in find_kernel_specs() else "python3"


def preflight(params: Params) -> None:
    """Everything that can be checked without loading a model, for every run before any starts: the
    params (validated on load), the output folder, the base model's folder, and all of the run's data
    (read, standardised, shaped for the loss and checked by the same ``prepare`` the notebook calls)."""
    from . import train

    check_writable(config.report_dir(params.profile))
    train.check_device(params)
    train.check_base_model(train.base_model_source(params), train.base_model_origin(params))
    sets.get(params.data_set).prepare(params)
    if not notebook_of(params).is_file():
        raise FileNotFoundError(f"{notebook_of(params)}: pairing {params.pairing} has no notebook "
                                f"(python -m pairings new writes one for a pairing of your own)")


def notebook_of(params: Params) -> Path:
    return config.NOTEBOOKS_DIR / f"{params.pairing}.ipynb"


def plan(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None,
         resume: bool = False, with_variants: bool = True) -> list[Params]:
    """The runs of a profile, every params file validated and all their data checked first."""
    runs = []
    if profile not in config.PROFILES:
        close = difflib.get_close_matches(profile, config.PROFILES, n=1)
        raise ParamsError(f"unknown profile {profile!r}; known: {', '.join(config.PROFILES)}"
                          + (f" (did you mean '{close[0]}'?)" if close else ""))
    known = profile_pairings(profile)
    for name in dict.fromkeys(pairings or known):  # a pairing named twice runs once
        pairing, _, only = name.partition(".")  # a pairing with its variants, or one run: pairing.variant
        if only and only not in variants(profile, pairing):
            raise ParamsError(f"--pairing {name}: params/{profile}/{name}.yaml does not exist (variants of {pairing}: "
                              f"{', '.join(variants(profile, pairing)) or 'none'})")
        for variant in [only] if only else ["", *(variants(profile, pairing) if with_variants else [])]:
            base = Params.load(profile, pairing, variant=variant)
            for seed in dict.fromkeys(seeds or [base.seed]):
                params = base if seed == base.seed else base.replace(origin="command line (--seed)", seed=seed)
                params = params.replace(origin="command line (--resume)", resume=True) if resume else params
                preflight(params)
                runs.append(params)
    return runs


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a name of its own: two runs may check at once
            pass
    except OSError as err:
        raise PermissionError(f"output folder {out}: cannot write there: {err}") from None


# ---- interruptions and locks --------------------------------------------------------------------

class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM: the current run stops; the command exits 128 + ``signum``."""

    def __init__(self, signum: int, message: str = "", told: bool = False):
        super().__init__(message or f"by {signal.Signals(signum).name}")
        self.signum, self.told = signum, told  # told: the message already says what became of the run


class Busy(RuntimeError):
    """Another process runs the same run of the same profile (its lock file names its pid)."""


_deferred: list[int] = []  # signals that came while a run was being published, raised afterwards
_publishing = threading.Event()


def _on_signal(signum, frame):
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
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _stop_kernels() -> None:
    """Stop the kernels this process started (papermill's own cleanup does not run on a signal). SIGKILL:
    the run's durable state is its checkpoints, and a kernel asked to shut down mid-cell prints tracebacks."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=5)


def _interrupted(err: Interrupted, name: str, staging: Path, keep: bool) -> Interrupted:
    """The one line an interrupted run gets; its staging cleaned, or kept for --resume."""
    _stop_kernels()
    if err.told:
        return err
    keep = _leave(staging, keep)
    where = f"staging kept for --resume ({shown(staging)})" if keep else "staging cleaned"
    return Interrupted(err.signum, f"{name} by {signal.Signals(err.signum).name}; {where}; "
                                   f"the last good report is untouched")


def _leave(staging: Path, keep: bool) -> bool:
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(staging: Path):
    """Hold ``<staging>.lock`` (created exclusively, our pid inside) while a run uses its staging folder;
    a lock whose process is gone is taken over; a live one refuses with its pid (Busy)."""
    lock = staging.parent / f"{staging.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                text, age = lock.read_text().strip(), time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            holder = int(text) if text.isdigit() else None
            if (holder is None and age < 10) or (holder is not None and _alive(holder)):
                raise Busy(f"{shown(lock)}: {staging.name} of the {staging.parent.parent.name} profile is already "
                           f"running (pid {holder or 'starting'}); wait for it to finish or stop it") from None
            lock.unlink(missing_ok=True)  # a stale lock: its process is gone
    else:
        raise Busy(f"{shown(lock)}: cannot take the lock")
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def staging_of(params: Params) -> Path:
    return config.report_dir(params.profile) / ".staging" / params.run_name


def _parameters(params: Params, staging: Path) -> dict:
    """What papermill injects: every parameter of the run, writing into its staging folder."""
    return {**{k: v for k, v in params.to_dict().items() if k != "pairing"},
            "output_dir": str(staging.relative_to(config.PROJ_ROOT))}


def execute(params: Params, notebook: Path | None = None, log=print) -> bool:
    """Execute one run into staging; on success move the notebook, HTML, record and model into place."""
    return land(params, attempt(params, notebook), log)


def attempt(params: Params, notebook: Path | None = None, follow: bool = True) -> "Outcome":
    """Execute one run's notebook into its staging folder and render its HTML there; publish nothing.
    The sequential executor lands it at once; the Ray executor (cluster.py) calls this in a Ray task."""
    staging = staging_of(params)
    _clear(staging, keep=("checkpoints",) if params.resume else ())
    try:
        return _attempt(notebook or notebook_of(params), staging, params.run_name, _parameters(params, staging), follow)
    except KeyboardInterrupt as err:  # a signal here (Interrupted), or Ray cancelling its task
        err = err if isinstance(err, Interrupted) else Interrupted(signal.SIGINT)
        raise _interrupted(err, params.run_name, staging, keep=bool(params.checkpoint_steps)) from None


def land(params: Params, outcome: "Outcome", log=print) -> bool:
    """Publish a successful attempt from its staging folder, or keep a failed one's notebook as .failed."""
    staging = staging_of(params)
    try:
        return _land(outcome, staging, config.MODELS_DIR / params.profile / params.run_name, log)
    except Interrupted as err:
        raise _interrupted(err, params.run_name, staging, keep=bool(params.checkpoint_steps)) from None


def execute_summary(profile: str, log=print) -> bool:
    """The summary notebook reads the profile's records; it follows the same staging rules."""
    out = config.report_dir(profile)
    staging = out / ".staging" / SUMMARY
    with locked(staging):
        _clear(staging)
        try:
            ok = _execute(config.NOTEBOOKS_DIR / f"{SUMMARY}.ipynb", staging, SUMMARY, {"profile": profile}, None, log)
        except Interrupted as err:
            raise _interrupted(err, SUMMARY, staging, keep=False) from None
    if ok:
        shutil.rmtree(out / "figures", ignore_errors=True)
        site.save_figures(out / f"{SUMMARY}.ipynb", out / "figures", SUMMARY)
    return ok


@dataclasses.dataclass
class Outcome:
    """What became of one execution in its staging folder: where it ran, and its first error line if it failed."""
    name: str
    ok: bool
    seconds: float
    error: str = ""
    node: str = ""
    device: str = ""


def _attempt(notebook: Path, staging: Path, name: str, parameters: dict, follow: bool = True) -> Outcome:
    import papermill as pm

    executed = staging / f"{name}.ipynb"
    start = time.perf_counter()
    try:
        # the run's bar, fed by the kernel; the Ray executor prints a line per run instead
        with progress.following(staging / "progress.jsonl", name) if follow else contextlib.nullcontext():
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel_name(),
                                cwd=str(config.NOTEBOOKS_DIR), progress_bar=False, log_output=False,
                                extra_arguments=KERNEL_ARGUMENTS)
    except Exception as err:  # papermill's execution error, or a kernel that died
        if executed.exists():
            site.render_html(executed, staging / f"{name}.html")
        return Outcome(name, False, time.perf_counter() - start, _first_line(err))
    site.render_html(executed, staging / f"{name}.html")
    return Outcome(name, True, time.perf_counter() - start)


def _land(outcome: Outcome, staging: Path, model_dst: Path | None, log) -> bool:
    out, name = staging.parent.parent, outcome.name
    if not outcome.ok:
        if (staging / f"{name}.ipynb").exists():
            shutil.copy(staging / f"{name}.ipynb", out / f"{name}.failed.ipynb")
            shutil.copy(staging / f"{name}.html", out / f"{name}.failed.html")
        log(f"  FAILED after {outcome.seconds:.0f} s: {outcome.error}")
        log(f"  see {(out / f'{name}.failed.html').relative_to(config.PROJ_ROOT)}; the last good report is untouched")
        return False
    _publishing.set()
    try:
        _publish(staging, out, name, model_dst)
    finally:
        _publishing.clear()
    log(f"  done in {outcome.seconds:.0f} s → {(out / f'{name}.html').relative_to(config.PROJ_ROOT)}")
    if _deferred:
        signum = _deferred[0]
        _deferred.clear()
        raise Interrupted(signum, f"{name} was published, then {signal.Signals(signum).name} stopped the command",
                          told=True)
    return True


def _execute(notebook: Path, staging: Path, name: str, parameters: dict, model_dst: Path | None, log,
             publish: bool = True) -> bool:
    outcome = _attempt(notebook, staging, name, parameters)
    if outcome.ok and not publish:
        return True
    return _land(outcome, staging, model_dst, log)


# A re-run of a published run on the same kind of machine must give every metric within this (absolute).
REPRODUCE_TOLERANCE = 0.005


def reproduce(profile: str, run_name: str, tolerance: float = REPRODUCE_TOLERANCE, log=print) -> dict:
    """Re-execute a published run with its record's own parameters, without publishing, and compare every
    metric (before and after fine-tuning) and the loss history with the record. The comparison is written
    to ``reports/<profile>/reproduced/<run>.json``; ``within_tolerance`` says whether it passed."""
    out = config.report_dir(profile)
    published = out / f"{run_name}.json"
    if not published.is_file():
        raise FileNotFoundError(f"{published.relative_to(config.PROJ_ROOT)}: no such run record")
    old = json.loads(published.read_text(encoding="utf-8"))
    params = Params.from_mapping({**record_params(old), "output_dir": None, "resume": False}, source=str(published))
    preflight(params)
    staging = out / ".staging" / f"{run_name}.reproduce"
    with locked(staging):
        _clear(staging)
        parameters = _parameters(params, staging)
        log(f"reproducing {profile}/{run_name} with its record's parameters (not published)")
        try:
            ok = _execute(notebook_of(params), staging, f"{run_name}.reproduce", parameters, None, log, publish=False)
        except Interrupted as err:
            raise _interrupted(err, f"{run_name}.reproduce", staging, keep=False) from None
    if not ok:
        raise RuntimeError(f"the re-run of {run_name} failed; see {staging}")
    new = json.loads((staging / "record.json").read_text(encoding="utf-8"))
    result = {"run": run_name, "profile": profile, **compare_records(old, new, tolerance)}
    target = out / "reproduced" / f"{run_name}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)
    log(f"  largest metric gap {result['largest_metric_gap']:.2e}, largest logged-loss gap {result['largest_loss_gap']:.2e} "
        f"(tolerance {tolerance}): {'reproduced' if result['within_tolerance'] else 'NOT reproduced'} → "
        f"{target.relative_to(config.PROJ_ROOT)}")
    return result


def record_params(rec: dict) -> dict:
    """A record's parameters, with what it left implicit made explicit: a record made before ``fast_path``
    (or ``fast_dropout``, or a loop ``auto`` chose) was a parameter trained on the path its ``training`` names,
    whatever today's default."""
    params = dict(rec["params"])
    params.setdefault("fast_path", rec["training"].get("path", "trainer") == "fast")
    # a record made before ``fast_dropout`` was a parameter used torch's dropout
    params.setdefault("fast_dropout", any("PCG64" in o for o in rec["training"].get("options", [])))
    # "auto" chose the trainer's loop on the CPU before the lean loop became its choice there; records made
    # before the lean loop existed trained in the trainer's: the loop the record names
    if params.get("train_loop", "auto") == "auto":
        params["train_loop"] = rec["training"].get("loop", "trainer")
    return params


def compare_records(old: dict, new: dict, tolerance: float) -> dict:
    """Every metric of two records of the same run, before and after fine-tuning, and their loss histories."""
    gaps = {f"{phase} {key}": abs(new["metrics"][phase].get(key, float("inf")) - value)
            for phase in ("before", "after") for key, value in old["metrics"][phase].items()
            if isinstance(value, (int, float))}
    losses = dict(map(tuple, old["training"]["loss_history"]))
    loss_gap = max((abs(loss - losses[step]) for step, loss in new["training"]["loss_history"] if step in losses),
                   default=float("inf"))
    worst = max(gaps.values())
    return {"tolerance": tolerance, "within_tolerance": worst <= tolerance, "largest_metric_gap": worst,
            "largest_loss_gap": loss_gap, "record_created": old["created"], "rerun_created": new["created"],
            "device": new["device"], "versions": new["versions"], "metric_gaps": gaps,
            "train_seconds": {"record": old["training"]["train_seconds"], "rerun": new["training"]["train_seconds"]}}


def _clear(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Empty a staging folder, keeping the named entries (a resumed run keeps its checkpoints)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _publish(staging: Path, out: Path, name: str, model_dst: Path | None) -> None:
    """Move a successful run's files into place, replacing the previous ones."""
    for suffix, target in ((".ipynb", f"{name}.ipynb"), (".html", f"{name}.html")):
        (staging / f"{name}{suffix}").replace(out / target)  # atomic within one file system
    if (staging / "record.json").exists():
        (staging / "record.json").replace(out / f"{name}.json")
    if model_dst is not None and (staging / "model").is_dir():
        shutil.rmtree(model_dst, ignore_errors=True)
        model_dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / "model"), model_dst)
    for stale in (out / f"{name}.failed.ipynb", out / f"{name}.failed.html"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    lines = [line for line in text if line.strip() and not set(line.strip()) <= set("-")]
    return lines[-1] if lines else type(err).__name__


def write_index(profile: str) -> Path:
    out = config.report_dir(profile)
    records = record.load_all(profile)
    pages = {p.stem: p.name for p in out.glob("*.html") if p.name != "index.html" and ".failed" not in p.name}
    failed = sorted(p.name.removesuffix(".failed.html") for p in out.glob("*.failed.html"))
    path = out / "index.html"
    path.write_text(site.index_html(profile, records, pages, failed), encoding="utf-8")
    return path


def run(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None,
        summary: bool = True, resume: bool = False, log=print, executor: str = "sequential", with_variants: bool = True,
        jobs: int = 1, **ray_options) -> int:
    """Run a profile; return the number of failed runs. ``jobs`` > 1 runs that many at once on this machine
    (run_parallel); ``executor="ray"`` runs them as Ray tasks (cluster.py, with ``ray_options``); the summary
    and the index are written here either way."""
    if jobs < 1:
        raise ParamsError(f"--jobs {jobs}: must be at least 1")
    runs = plan(profile, pairings, seeds, resume, with_variants)
    at_once = f", {min(jobs, len(runs))} at once" if executor != "ray" and jobs > 1 and len(runs) > 1 else ""
    log(f"minilm-pairings: {len(runs)} run(s) of the '{profile}' profile → reports/{profile}/"
        + (" on Ray" if executor == "ray" else at_once))
    start = time.perf_counter()
    with contextlib.ExitStack() as locks:
        for params in runs:  # a run of this profile already under way elsewhere: refuse before starting any
            locks.enter_context(locked(staging_of(params)))
        if executor == "ray":
            from . import cluster

            failed = cluster.run_all(runs, log=log, **ray_options)
        elif jobs > 1 and len(runs) > 1:
            failed = run_parallel(runs, jobs, log)
        else:
            failed = 0
            for i, params in enumerate(runs, 1):
                log(f"[{i}/{len(runs)}] {describe(params)}")
                failed += not execute(params, log=log)
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


def longest_first(runs: list[Params]) -> list[Params]:
    """The runs in the order that ends a parallel study soonest: the longest first, by the time each took when
    it was last published (its record's ``timings.total_seconds``), runs never published before the rest."""
    def seconds(params: Params) -> float:
        try:
            rec = json.loads((config.report_dir(params.profile) / f"{params.run_name}.json").read_text(encoding="utf-8"))
            return float(rec["timings"]["total_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return float("inf")
    return sorted(runs, key=seconds, reverse=True)  # stable: ties keep the study's order


def run_parallel(runs: list[Params], jobs: int, log=print) -> int:
    """Up to ``jobs`` runs at once on this machine, each in a papermill kernel of its own with an equal share
    of the CPU cores as torch threads (the record says how many); this thread publishes each run as it ends,
    by the same rules as one after another. A line per run when it starts and when it ends, not a bar. The
    longest runs start first (:func:`longest_first`), so that the last to end is a short one.

    The kernels start in notebooks/: papermill sets the process's working directory around each execution
    (not thread-safe unless every execution sets the same one, as here, from there). Ctrl-C or SIGTERM stops
    every kernel; runs under way are cleaned (or kept for --resume), those not started never start."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    jobs = min(jobs, len(runs))
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    log = one_at_a_time(log)  # the pool's threads and this one print; a line must not break into another
    done: dict[str, bool] = {}
    started: set[str] = set()

    def start(params: Params) -> Outcome:
        started.add(params.run_name)
        log(f"[start] {describe(params)}")
        return attempt(params, follow=False)

    with _environment(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads), contextlib.chdir(config.NOTEBOOKS_DIR), \
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
            _stop_kernels()  # the runs under way fail at once; their threads end
            wait(pending)
            left = [p for p in runs if p in pending.values()]  # in the study's order, whatever order they started in
            under_way = [p for p in left if p.run_name in started]
            kept = [p.run_name for p in under_way if _leave(staging_of(p), keep=bool(p.checkpoint_steps))]
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
def _environment(**values: str):
    """Within: these environment variables set (kernels started within inherit them); then restored."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def describe(params: Params) -> str:
    """A run, its notebook, its params file and its cell of the grid, as the progress lines name it."""
    source = f"{params.pairing}.{params.variant}" if params.variant else params.pairing
    return (f"{params.run_name}: notebooks/{params.pairing}.ipynb with params/{params.profile}/{source}.yaml "
            f"({params.data_set} × {params.loss})")
