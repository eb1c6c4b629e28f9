"""python -m pairings run --profile quick [--pairing NAME ...] [--seed N ...]; also check, params, new,
index, table, summary, reproduce --run NAME."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pairings
from pairings import config, publish
from pairings.data import strict_yaml
from pairings.data.sources import DataError
from pairings.params import LIMITS, Params, ParamsError, shown
from pairings.report import grid, record, stats, uncertainty
from pairings.run import executors, plan, reproduce, scaffold, signals, staging
from pairings.train.base_model import ModelError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pairings", description=__doc__)
    parser.add_argument("--version", action="version", version=f"minilm-pairings {pairings.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the pairing notebooks of a profile and render reports/<profile>/")
    check = sub.add_parser("check", help="validate a profile's params files and data sources; train nothing")
    params = sub.add_parser("params", help="print each parameter of a run, its value and where it came from")
    params.add_argument("pairing", help="a pairing, e.g. snli-softmax")
    params.add_argument("--variant", default="", help="a variant, e.g. mnrl for params/<profile>/<pairing>.mnrl.yaml")
    new = sub.add_parser("new", help="make a pairing from your own file: its params and its notebook")
    new.add_argument("name", help="the pairing's name: lowercase letters, digits, '_' or '-'")
    new.add_argument("--data", required=True, help="a .parquet, .csv or .jsonl file with two text columns "
                                                    "(and a 'label' class id or a 'score' in [0, 1])")
    new.add_argument("--loss", required=True, help="mnrl (pairs), softmax (a 'label' column) or cosine (a 'score' column)")
    index = sub.add_parser("index", help="rewrite reports/<profile>/index.html from the records")
    table = sub.add_parser("table", help="print the summary table of a profile's records as Markdown")
    shown_table = table.add_mutually_exclusive_group()
    shown_table.add_argument("--grid", action="store_true", help="the data × loss grid and its decomposition instead")
    table.add_argument("--learning-rate", type=float, default=None,
                       help="with --grid: the grid's cells trained at this rate (variants lr<rate>, <loss>-lr<rate>)")
    shown_table.add_argument("--heads", action="store_true",
                             help="SoftmaxLoss three ways (the card's random head, the head fitted first, the probe "
                                  "alone) and what each run's head learned, instead")
    summary = sub.add_parser("summary", help="re-execute the summary notebook from the records, and the index")
    reproduce = sub.add_parser("reproduce", help="re-run a published run with its record's parameters and compare")
    reproduce.add_argument("--run", required=True, help="the run's name, e.g. udemy-cosine (its reports/<profile>/<run>.json)")
    reproduce.add_argument("--tolerance", type=float, default=None, help="largest allowed metric difference")
    for p in (index, table, summary):
        p.add_argument("--allow-missing", action="store_true",
                       help="go on without a record that cannot be read (a warning names it) instead of stopping")
    for p in (run, check, params, index, table, summary, reproduce):
        p.add_argument("--profile", default="quick", help=f"one of {', '.join(config.PROFILES)} (default: quick)")
    for p in (run, check):
        p.add_argument("--pairing", action="append",
                       help="a pairing with its variants (all of params/<profile>/ by default), or one variant "
                            "as PAIRING.VARIANT (e.g. snli-softmax.mnrl); repeat for several")
        p.add_argument("--seed", action="append", type=int, help="run each pairing with this seed; repeat for several")
    run.add_argument("--no-summary", action="store_true", help="skip the summary notebook")
    run.add_argument("--no-variants", action="store_true",
                     help="each pairing's own params file only, not its variants (e.g. the five seed pairings)")
    run.add_argument("--jobs", "-j", type=int, default=1,
                     help="runs at once on this machine, each with an equal share of its CPU cores (default 1)")
    run.add_argument("--resume", action="store_true",
                     help="continue each run from its latest checkpoint (params need checkpoint_steps)")
    scale = run.add_argument_group("scale out (Ray, an optional extra: pip install -e '.[ray]')")
    scale.add_argument("--executor", choices=executors.EXECUTORS, default="sequential",
                       help="sequential: one run after another here (default); ray: each run a Ray task")
    scale.add_argument("--address", help="join this running Ray cluster (e.g. 10.0.0.1:6379 or auto); "
                                         "default: start a Ray of its own on this machine, even beside a running one")
    scale.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs Ray gives each run; a fraction "
                                                                       "lets several runs share one (default 0)")
    scale.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs Ray gives each run (default 1)")
    scale.add_argument("--local-cpus", type=int, help="CPUs of the local Ray (default: all of this machine's)")
    args = parser.parse_args(argv)
    if args.command == "run" and args.executor == "sequential":
        given = [o for o in ("address", "local_cpus") if getattr(args, o) is not None]
        given += [o for o, d in (("gpus_per_run", 0.0), ("cpus_per_run", 1.0)) if getattr(args, o) != d]
        if given:
            parser.error(f"--{given[0].replace('_', '-')} is an option of --executor ray")
    if args.command == "run" and args.executor == "ray" and args.jobs != 1:
        parser.error("--jobs is an option of the sequential executor (Ray runs as many as --cpus-per-run allows)")

    known = (ParamsError, DataError, ModelError, strict_yaml.YAMLInputError, FileNotFoundError, PermissionError,
             publish.PublishError, record.RecordError,
             IsADirectoryError, NotADirectoryError, signals.Busy)
    try:
        with signals.interruptible():
            code = _command(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except known as err:  # bad input: one line, no traceback
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (e.g. `| head`): nothing more to say, and nobody to say it to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush must not fail again
        return 141
    except KeyboardInterrupt as err:  # signals.Interrupted says which run stopped and what became of it
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"interrupted: {_one_line(err) or 'by ' + signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    except Exception as err:  # a bug: one line here, the traceback in a log file
        print(f"internal error: {type(err).__name__}: {_one_line(err)} (traceback in {_log_traceback(args)})",
              file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _log_traceback(args) -> str:
    """Write the current exception's traceback to logs/<time>-<pid>.log (git-ignored); return its path."""
    text = f"python -m pairings {' '.join(sys.argv[1:])}\n{traceback.format_exc()}"
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (config.PROJ_ROOT / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
            return shown(folder / name)
        except OSError:
            continue
    return "nowhere: the log could not be written"


def _command(args) -> int:
    if args.command == "params":
        p = Params.load(args.profile, args.pairing, variant=args.variant)
        rows = p.explain()
        width = max(len(k) for k, _, _ in rows)
        print(f"{p.run_name} ({p.profile} profile): data set {p.data_set} × loss {p.loss}")
        for key, value, origin in rows:
            low, high = LIMITS.get(key, (None, None))
            limits = "" if low is None else f"  [{low:g} … {'' if high is None else f'{high:g}'}]"
            print(f"  {key:<{width}}  {value!r:<40}  {origin}{limits}")
        return 0
    if args.command == "new":
        for path in scaffold.new_pairing(args.name, args.data, args.loss):
            print(f"wrote {shown(path)}")
        print(f"run it: python -m pairings run --profile quick --pairing {args.name}")
        return 0
    if args.command == "table":
        records = record.load_all(args.profile, args.allow_missing)
        if not records:
            print(f"no run records in reports/{args.profile}/ (python -m pairings run --profile {args.profile} "
                  f"writes them)", file=sys.stderr)
            return 1
        if args.learning_rate is not None:
            if not args.grid:
                raise ParamsError("--learning-rate is an option of --grid")
            records = grid.at_rate(records, args.learning_rate)
            if not records:
                raise ParamsError(f"--learning-rate {args.learning_rate:g}: no run of reports/{args.profile}/ is a grid "
                                  f"cell at that rate (variants {grid.rate_tag(args.learning_rate)}, "
                                  f"<loss>-{grid.rate_tag(args.learning_rate)})")
        if args.grid or args.heads:
            print(grid.grid_markdown(records) if args.grid else grid.heads_markdown(records))
            intervals = uncertainty.intervals_table(records) if args.grid else None
            if intervals is not None and len(intervals):
                print("\nHow sure the shares are: each recomputed over 1,000 resamples of every cell's seeds (95 % "
                      "interval; a cell with one seed adds no spread):\n")
                print(stats.markdown(intervals))
            return 0
        print(stats.markdown(stats.summary_table(records).drop(columns=["data (stand-in)"])))
        return 0
    if args.command == "reproduce":
        tolerance = reproduce.REPRODUCE_TOLERANCE if args.tolerance is None else args.tolerance
        if not tolerance >= 0:  # negative, or nan
            raise ParamsError(f"--tolerance {args.tolerance}: must be 0 (identical) or more")
        result = reproduce.reproduce(args.profile, args.run, tolerance)
        return 0 if result["within_tolerance"] else 1
    if args.command == "summary":
        ok = staging.execute_summary(args.profile, allow_missing=args.allow_missing)
        print(staging.write_index(args.profile, args.allow_missing))
        return 0 if ok else 1
    if args.command == "index":
        print(staging.write_index(args.profile, args.allow_missing))
        return 0
    runs = plan.plan(args.profile, args.pairing, args.seed)
    if args.command == "check":
        for p in runs:
            print(f"ok  {p.profile}/{p.run_name}  ({p.data_set} × {p.loss})")
        return 0
    ray_options = {} if args.executor == "sequential" else dict(
        address=args.address, gpus_per_run=args.gpus_per_run, cpus_per_run=args.cpus_per_run, local_cpus=args.local_cpus)
    return 1 if executors.run(args.profile, args.pairing, args.seed, summary=not args.no_summary,
                           resume=args.resume, executor=args.executor, with_variants=not args.no_variants, jobs=args.jobs,
                           **ray_options) else 0


if __name__ == "__main__":
    sys.exit(main())
