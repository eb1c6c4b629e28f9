"""One run's files: its staging folder and lock, papermill executing its notebook there, nbconvert rendering it,
and publishing a run that finished (notebook, HTML, record, model) in place of the last good one; a run that
failed leaves ``<run>.failed.ipynb`` and ``.html`` beside it. Also the profile's index page."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from pairings import config, progress
from pairings import publish as atomic
from pairings.params import Params, shown
from pairings.report import record, site
from pairings.run.signals import Busy, Interrupted, interrupted, publishing

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


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process of this project's runner: a live process that is not a Python running
    ``pairings`` (a pid reused by another program, pid 1) does not hold a lock. Where /proc cannot say, alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return True  # no /proc (macOS) or not ours to read: trust the pid
    # the runner, a test or a notebook kernel driving it in-process
    return any(word in command for word in (b"pairings", b"pytest", b"ipykernel"))


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
            if (holder is None and age < 10) or (holder is not None and alive(holder)):
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


def notebook_of(params: Params) -> Path:
    return config.NOTEBOOKS_DIR / f"{params.pairing}.ipynb"


def staging_of(params: Params) -> Path:
    return config.report_dir(params.profile) / ".staging" / params.run_name


def injected(params: Params, staging: Path) -> dict:
    """What papermill injects: every parameter of the run, writing into its staging folder."""
    return {**{k: v for k, v in params.to_dict().items() if k != "pairing"},
            "output_dir": str(staging.relative_to(config.PROJ_ROOT))}


@dataclasses.dataclass
class Outcome:
    """What became of one execution in its staging folder: where it ran, and its first error line if it failed."""
    name: str
    ok: bool
    seconds: float
    error: str = ""
    node: str = ""
    device: str = ""


def attempt(params: Params, notebook: Path | None = None, follow: bool = True) -> "Outcome":
    """Execute one run's notebook into its staging folder and render its HTML there; publish nothing.
    The sequential executor lands it at once; the Ray executor (ray_executor.py) calls this in a Ray task."""
    staging = staging_of(params)
    clear(staging, keep=("checkpoints",) if params.resume else ())
    try:
        return execute_notebook(notebook or notebook_of(params), staging, params.run_name, injected(params, staging), follow)
    except KeyboardInterrupt as err:  # a signal here (Interrupted), or Ray cancelling its task
        err = err if isinstance(err, Interrupted) else Interrupted(signal.SIGINT)
        raise interrupted(err, params.run_name, staging, keep=bool(params.checkpoint_steps)) from None


def execute_notebook(notebook: Path, staging: Path, name: str, parameters: dict, follow: bool = True) -> Outcome:
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
        return Outcome(name, False, time.perf_counter() - start, first_line(err))
    site.render_html(executed, staging / f"{name}.html")
    return Outcome(name, True, time.perf_counter() - start)


def land(params: Params, outcome: "Outcome", log=print) -> bool:
    """Publish a successful attempt from its staging folder, or keep a failed one's notebook as .failed."""
    staging = staging_of(params)
    try:
        return land_outcome(outcome, staging, config.MODELS_DIR / params.profile / params.run_name, log)
    except Interrupted as err:
        raise interrupted(err, params.run_name, staging, keep=bool(params.checkpoint_steps)) from None


def land_outcome(outcome: Outcome, staging: Path, model_dst: Path | None, log) -> bool:
    out, name = staging.parent.parent, outcome.name
    if not outcome.ok:
        if (staging / f"{name}.ipynb").exists():
            shutil.copy(staging / f"{name}.ipynb", out / f"{name}.failed.ipynb")
            shutil.copy(staging / f"{name}.html", out / f"{name}.failed.html")
        log(f"  FAILED after {outcome.seconds:.0f} s: {outcome.error}")
        log(f"  see {(out / f'{name}.failed.html').relative_to(config.PROJ_ROOT)}; the last good report is untouched")
        return False
    with publishing(name):
        publish(staging, out, name, model_dst)
        log(f"  done in {outcome.seconds:.0f} s → {(out / f'{name}.html').relative_to(config.PROJ_ROOT)}")
    return True


def execute(params: Params, notebook: Path | None = None, log=print) -> bool:
    """Execute one run into staging; on success move the notebook, HTML, record and model into place."""
    return land(params, attempt(params, notebook), log)


def run_notebook(notebook: Path, staging: Path, name: str, parameters: dict, model_dst: Path | None, log,
             publish: bool = True) -> bool:
    outcome = execute_notebook(notebook, staging, name, parameters)
    if outcome.ok and not publish:
        return True
    return land_outcome(outcome, staging, model_dst, log)


def execute_summary(profile: str, log=print, allow_missing: bool = False) -> bool:
    """The summary notebook reads the profile's records (an unreadable one fails it, unless ``allow_missing``); it
    follows the same staging rules."""
    out = config.report_dir(profile)
    staging = out / ".staging" / SUMMARY
    with locked(staging):
        clear(staging)
        try:
            ok = run_notebook(config.NOTEBOOKS_DIR / f"{SUMMARY}.ipynb", staging, SUMMARY,
                              {"profile": profile, "allow_missing": allow_missing}, None, log)
        except Interrupted as err:
            raise interrupted(err, SUMMARY, staging, keep=False) from None
    if ok:
        shutil.rmtree(out / "figures", ignore_errors=True)
        site.save_figures(out / f"{SUMMARY}.ipynb", out / "figures", SUMMARY)
    return ok


def clear(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Empty a staging folder, keeping the named entries (a resumed run keeps its checkpoints)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def publish(staging: Path, out: Path, name: str, model_dst: Path | None) -> None:
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


def first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    lines = [line for line in text if line.strip() and not set(line.strip()) <= set("-")]
    return lines[-1] if lines else type(err).__name__


def write_index(profile: str, allow_missing: bool = False) -> Path:
    """reports/<profile>/index.html from the records (an unreadable one stops it, unless ``allow_missing``)."""
    out = config.report_dir(profile)
    records = record.load_all(profile, allow_missing)
    pages = {p.stem: p.name for p in out.glob("*.html") if p.name != "index.html" and ".failed" not in p.name}
    failed = sorted(p.name.removesuffix(".failed.html") for p in out.glob("*.failed.html"))
    path = out / "index.html"
    atomic.write(path, site.index_html(profile, records, pages, failed))
    return path
