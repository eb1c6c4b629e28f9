"""python -m pairings run --profile quick [--pairing NAME ...] [--seed N ...]; also check, index, table,
summary, reproduce --run NAME."""

from __future__ import annotations

import argparse
import sys

from . import config
from .params import PAIRINGS, ParamsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pairings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the pairing notebooks of a profile and render reports/<profile>/")
    check = sub.add_parser("check", help="validate a profile's params files and data sources; train nothing")
    index = sub.add_parser("index", help="rewrite reports/<profile>/index.html from the records")
    table = sub.add_parser("table", help="print the summary table of a profile's records as Markdown")
    summary = sub.add_parser("summary", help="re-execute the summary notebook from the records, and the index")
    reproduce = sub.add_parser("reproduce", help="re-run a published run with its record's parameters and compare")
    reproduce.add_argument("--run", required=True, help="the run's name, e.g. udemy-cosine (its reports/<profile>/<run>.json)")
    reproduce.add_argument("--tolerance", type=float, default=None, help="largest allowed metric difference")
    for p in (run, check, index, table, summary, reproduce):
        p.add_argument("--profile", default="quick", help=f"one of {', '.join(config.PROFILES)} (default: quick)")
    for p in (run, check):
        p.add_argument("--pairing", action="append", help=f"one of {', '.join(PAIRINGS)}; repeat for several (default: all)")
        p.add_argument("--seed", action="append", type=int, help="run each pairing with this seed; repeat for several")
    run.add_argument("--no-summary", action="store_true", help="skip the summary notebook")
    run.add_argument("--resume", action="store_true",
                     help="continue each run from its latest checkpoint (params need checkpoint_steps)")
    args = parser.parse_args(argv)

    from . import runner

    try:
        if args.command == "table":
            from . import record, report

            print(report.markdown(report.summary_table(record.load_all(args.profile)).drop(columns=["data (stand-in)"])))
            return 0
        if args.command == "reproduce":
            result = runner.reproduce(args.profile, args.run, args.tolerance or runner.REPRODUCE_TOLERANCE)
            return 0 if result["within_tolerance"] else 1
        if args.command == "summary":
            ok = runner.execute_summary(args.profile)
            print(runner.write_index(args.profile))
            return 0 if ok else 1
        if args.command == "index":
            print(runner.write_index(args.profile))
            return 0
        runs = runner.plan(args.profile, args.pairing, args.seed)
        if args.command == "check":
            for params in runs:
                print(f"ok  {params.profile}/{params.run_name}")
            return 0
        return 1 if runner.run(args.profile, args.pairing, args.seed, summary=not args.no_summary,
                               resume=args.resume) else 0
    except (ParamsError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
