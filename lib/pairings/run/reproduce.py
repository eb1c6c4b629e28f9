"""``python -m pairings reproduce``: re-execute a published run with its record's own parameters, without
publishing, and compare every metric and logged loss with the record."""

from __future__ import annotations

import json
import shutil

from pairings import config, publish
from pairings.params import Params
from pairings.report.record import Record
from pairings.run.plan import preflight
from pairings.run.signals import Interrupted, interrupted
from pairings.run.staging import clear, injected, locked, notebook_of, run_notebook

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
    old = Record.load(published)
    params = Params.from_mapping({**old.rerun_params(), "output_dir": None, "resume": False}, source=str(published))
    preflight(params)
    staging = out / ".staging" / f"{run_name}.reproduce"
    with locked(staging):
        clear(staging)
        parameters = injected(params, staging)
        log(f"reproducing {profile}/{run_name} with its record's parameters (not published)")
        try:
            ok = run_notebook(notebook_of(params), staging, f"{run_name}.reproduce", parameters, None, log, publish=False)
        except Interrupted as err:
            raise interrupted(err, f"{run_name}.reproduce", staging, keep=False) from None
    if not ok:
        raise RuntimeError(f"the re-run of {run_name} failed; see {staging}")
    new = Record.load(staging / "record.json")
    result = {"run": run_name, "profile": profile, **compare_records(old, new, tolerance)}
    target = out / "reproduced" / f"{run_name}.json"
    target.parent.mkdir(exist_ok=True)
    publish.write(target, json.dumps(result, indent=1) + "\n")
    shutil.rmtree(staging, ignore_errors=True)
    log(f"  largest metric gap {result['largest_metric_gap']:.2e}, largest logged-loss gap {result['largest_loss_gap']:.2e} "
        f"(tolerance {tolerance}): {'reproduced' if result['within_tolerance'] else 'NOT reproduced'} → "
        f"{target.relative_to(config.PROJ_ROOT)}")
    return result


def compare_records(old: Record, new: Record, tolerance: float) -> dict:
    """Every metric of two records of the same run, before and after fine-tuning (the transfer row's too), and their
    loss histories: within tolerance when every metric gap and every logged loss's gap is (a metric or a logged step
    the re-run lacks is a failure)."""
    missing = float("inf")
    gaps = {f"{phase} {key}": abs(new.metrics[phase].get(key, missing) - value)
            for phase in ("before", "after") for key, value in old.metrics[phase].items()
            if isinstance(value, (int, float))}
    for phase in ("before", "after"):
        for task, value in ((old.transfer or {}).get(phase) or {}).items():
            if isinstance(value, (int, float)):
                gaps[f"{phase} transfer {task}"] = abs(((new.transfer or {}).get(phase) or {}).get(task, missing) - value)
    losses = dict(map(tuple, new.loss_history))
    loss_gap = max((abs(losses.get(step, missing) - loss) for step, loss in old.loss_history), default=0.0)
    worst = max(gaps.values())
    return {"tolerance": tolerance, "within_tolerance": max(worst, loss_gap) <= tolerance, "largest_metric_gap": worst,
            "largest_loss_gap": loss_gap, "record_created": old.created, "rerun_created": new.created,
            "device": new.device, "versions": new.versions, "metric_gaps": gaps,
            "train_seconds": {"record": old.training["train_seconds"], "rerun": new.training["train_seconds"]}}
