"""A profile on a Ray cluster of several nodes on this machine (a head and workers started with `ray start` on
loopback ports, each with its own CPUs), against the sequential executor: wall time, and the largest gap of
any metric or logged loss between the two executors' records.

    python -m benchmarks.ray_cluster                    # quick profile, 2 nodes x 1 CPU, against reports/quick
    python -m benchmarks.ray_cluster --sequential       # also time the sequential executor here, in a copy

Both executors run in copies of the project (its notebooks, params and data), so reports/ is left as it is.
Without --sequential the cluster's records are compared with the project's own reports/<profile>/ (made by
the sequential executor: run `make study` just before, on the same machine, for a fair time). The result
goes to benchmarks/results/<date>-ray-cluster-<profile>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pairings import config
from pairings.report import record
from pairings.report.record import Record
from pairings.run import reproduce


def copy_project(folder: Path, profile: str) -> Path:
    root = folder / "project"
    shutil.copytree(config.NOTEBOOKS_DIR, root / "notebooks")
    (root / "data").symlink_to(config.DATA_DIR)
    shutil.copytree(config.PARAMS_DIR / profile, root / "params" / profile)
    for other in config.PROFILES:
        (root / "params" / other).mkdir(exist_ok=True)
    return root


def pairings(root: Path, *args: str) -> float:
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pairings", "run", *args], cwd=root, env=env, check=True)
    return time.perf_counter() - start


def gaps(reference: Path, other: Path) -> dict:
    """Every record of ``reference`` against ``other``'s: the largest metric and logged-loss gap of each run."""
    out = {}
    for path in sorted(reference.glob("*.json")):
        theirs = other / path.name
        if not theirs.is_file():
            continue
        if "metrics" not in json.loads(path.read_text()):
            continue
        c = reproduce.compare_records(Record.load(path), Record.load(theirs), 0.0)
        out[path.stem] = {"metric": c["largest_metric_gap"], "loss": c["largest_loss_gap"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--sequential", action="store_true", help="also time the sequential executor in a copy")
    parser.add_argument("--pairing", action="append", default=[], help="only these (as python -m pairings run takes them)")
    args = parser.parse_args()
    only = [a for p in args.pairing for a in ("--pairing", p)]

    ray_cli = str(Path(sys.executable).parent / "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="ray-cluster-"))
    # Ray's default for `ray start --head` is token authentication: the nodes that join, and the command, say so
    os.environ["RAY_AUTH_MODE"] = "token"
    try:
        result = {"profile": args.profile, "nodes": args.nodes, "cpus_per_node": args.cpus_per_node,
                  "machine": record.device_info("cpu"), "processor": platform.processor(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if args.sequential:
            seq = copy_project(work / "sequential", args.profile)
            result["sequential_s"] = pairings(seq, "--profile", args.profile, "--no-summary", *only)
            reference = seq / "reports" / args.profile
        else:
            reference = config.report_dir(args.profile)
        root = copy_project(work / "cluster", args.profile)
        env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
        common = [f"--num-cpus={args.cpus_per_node}", "--num-gpus=0", "--disable-usage-stats",
                  "--node-ip-address=127.0.0.1"]
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True)
        for _ in range(args.nodes - 1):
            subprocess.run([ray_cli, "start", f"--address={address}", *common], env=env, check=True, capture_output=True)
        result["cluster_s"] = pairings(root, "--profile", args.profile, "--no-summary", *only, "--executor", "ray",
                                       "--address", address)
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    result["gaps"] = gaps(reference, root / "reports" / args.profile)
    worst = max((max(g.values()) for g in result["gaps"].values()), default=float("nan"))
    result["largest_gap"] = worst
    out = Path(__file__).parent / "results" / f"{time.strftime('%Y-%m-%d')}-ray-cluster-{args.profile}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(result['gaps'])} run(s) of the {args.profile} profile on {args.nodes} Ray node(s) x "
          f"{args.cpus_per_node} CPU: {result['cluster_s']:.0f} s"
          + (f"; sequential executor {result['sequential_s']:.0f} s "
             f"({result['sequential_s'] / result['cluster_s']:.2f}x)" if "sequential_s" in result else "")
          + f"; largest metric or loss gap to the sequential records {worst:.1e} → {out.relative_to(config.PROJ_ROOT)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
