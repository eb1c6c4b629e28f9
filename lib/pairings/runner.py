"""Run a profile: papermill executes each pairing notebook with its params file, nbconvert renders it,
and the index links the reports. A run writes to a staging folder and replaces the last good report
only when it succeeds; a failed run leaves ``<run>.failed.ipynb`` and ``.html`` beside it."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from . import config, data, record, report
from .params import PAIRINGS, Params, variants

SUMMARY = "summary"


def preflight(params: Params) -> None:
    """Everything that can be checked without loading a model: the params themselves (already
    validated on load), the local data sources and the output folder."""
    for key in ("train_data", "test_data", "stsb_data"):
        spec = getattr(params, key)
        if spec and spec != "generated" and not spec.startswith("hub:"):
            data.check_source(spec, key)
    if getattr(params, "ncert_path", None) and params.pairing == "ncert-mnrl":
        data.check_source(params.ncert_path, "ncert_path")
    out = config.report_dir(params.profile)
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"reports/{params.profile}: cannot write there: {err}") from None


def plan(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None) -> list[Params]:
    """The runs of a profile, every params file validated and every local source checked first."""
    runs = []
    for pairing in pairings or list(PAIRINGS):
        for variant in ["", *variants(profile, pairing)]:
            base = Params.load(profile, pairing, variant=variant)
            for seed in seeds or [base.seed]:
                params = base if seed == base.seed else base.replace(seed=seed)
                preflight(params)
                runs.append(params)
    return runs


def execute(params: Params, notebook: Path | None = None, log=print) -> bool:
    """Execute one run into staging; on success move the notebook, HTML, record and model into place."""
    import papermill as pm

    out = config.report_dir(params.profile)
    name = params.run_name
    staging = out / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    notebook = notebook or config.NOTEBOOKS_DIR / f"{params.pairing}.ipynb"
    executed = staging / f"{name}.ipynb"
    parameters = {k: v for k, v in params.to_dict().items() if k != "pairing"}
    parameters["output_dir"] = str(staging.relative_to(config.PROJ_ROOT))
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                            cwd=str(config.NOTEBOOKS_DIR), progress_bar=sys.stderr.isatty(), log_output=False)
    except Exception as err:  # papermill's execution error, or a kernel that died
        if executed.exists():
            shutil.copy(executed, out / f"{name}.failed.ipynb")
            report.render_html(out / f"{name}.failed.ipynb", out / f"{name}.failed.html")
        log(f"  FAILED after {time.perf_counter() - start:.0f} s: {_first_line(err)}")
        log(f"  see reports/{params.profile}/{name}.failed.html; the last good report is untouched")
        return False
    report.render_html(executed, staging / f"{name}.html")
    _publish(staging, out, name, params)
    log(f"  done in {time.perf_counter() - start:.0f} s → reports/{params.profile}/{name}.html")
    return True


def _publish(staging: Path, out: Path, name: str, params: Params) -> None:
    """Move a successful run's files into place, replacing the previous ones."""
    moves = [(staging / f"{name}.ipynb", out / f"{name}.ipynb"), (staging / f"{name}.html", out / f"{name}.html")]
    if (staging / "record.json").exists():
        moves.append((staging / "record.json", out / f"{name}.json"))
    for src, dst in moves:
        src.replace(dst)  # atomic within one file system
    if (staging / "model").is_dir():
        model_dst = config.MODELS_DIR / params.profile / name
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
    path.write_text(report.index_html(profile, records, pages, failed), encoding="utf-8")
    return path


def run(profile: str, pairings: list[str] | None = None, seeds: list[int] | None = None,
        summary: bool = True, log=print) -> int:
    """Run a profile; return the number of failed runs."""
    runs = plan(profile, pairings, seeds)
    log(f"minilm-pairings: {len(runs)} run(s) of the '{profile}' profile → reports/{profile}/")
    failed = 0
    start = time.perf_counter()
    for i, params in enumerate(runs, 1):
        log(f"[{i}/{len(runs)}] {params.run_name}: notebooks/{params.pairing}.ipynb with params/{profile}/{params.pairing}.yaml")
        failed += not execute(params, log=log)
    summary_nb = config.NOTEBOOKS_DIR / f"{SUMMARY}.ipynb"
    if summary and summary_nb.exists():
        log(f"[summary] notebooks/{SUMMARY}.ipynb")
        failed += not execute_summary(profile, log=log)
    index = write_index(profile)
    log(f"{len(runs) - failed} of {len(runs)} run(s) succeeded in {time.perf_counter() - start:.0f} s; "
        f"open {index.relative_to(config.PROJ_ROOT)}")
    return failed


def execute_summary(profile: str, log=print) -> bool:
    """The summary notebook reads the profile's records; it follows the same staging rules."""
    import papermill as pm

    out = config.report_dir(profile)
    staging = out / ".staging" / SUMMARY
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executed = staging / f"{SUMMARY}.ipynb"
    try:
        pm.execute_notebook(str(config.NOTEBOOKS_DIR / f"{SUMMARY}.ipynb"), str(executed),
                            parameters={"profile": profile}, kernel_name="python3",
                            cwd=str(config.NOTEBOOKS_DIR), progress_bar=sys.stderr.isatty(), log_output=False)
    except Exception as err:
        if executed.exists():
            shutil.copy(executed, out / f"{SUMMARY}.failed.ipynb")
            report.render_html(out / f"{SUMMARY}.failed.ipynb", out / f"{SUMMARY}.failed.html")
        log(f"  FAILED: {_first_line(err)}")
        return False
    report.render_html(executed, staging / f"{SUMMARY}.html")
    for suffix in (".ipynb", ".html"):
        (staging / f"{SUMMARY}{suffix}").replace(out / f"{SUMMARY}{suffix}")
    for stale in (out / f"{SUMMARY}.failed.ipynb", out / f"{SUMMARY}.failed.html"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    log(f"  done → reports/{profile}/{SUMMARY}.html")
    return True
