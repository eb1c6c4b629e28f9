"""The Ray executor: each run of a profile (one params file, one seed) is a Ray task that executes its
notebook with papermill in a Ray worker process, on whichever node Ray gives it, with the CPUs and the
(fraction of a) GPU it asks for. Ray is an optional extra (``pip install -e .[ray]``), imported only here.

The rules are the other executors' (``pairings.run.staging``): a run executes into its staging folder; this process,
where the command was started, publishes it or keeps its ``.failed`` notebook, and writes the summary and
the index. A node that sees this project folder (this machine, or a shared file system) leaves its files
in staging; any other node sends the executed notebook, HTML, record and model back through Ray's object
store. Every node runs in its own copy of the project (its environment, data and ../shared), the one
its ``ray start`` was started from, or PAIRINGS_ROOT (docs/scale-out.md)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from pairings import config
from pairings.params import Params, ParamsError
from pairings.run import plan, signals, staging

# The environment a run's kernel needs from the command's (offline hub, another project root or cache).
PASSED_ON = ("PAIRINGS_", "HF_", "STUDY_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_")
# After Ctrl-C, how long the runs under way get to stop their kernels and clean up before Ray kills them.
GRACE_S = 30


def _ray():
    try:
        import ray
    except ImportError:
        raise ParamsError("--executor ray needs Ray, an optional extra: pip install -e '.[ray]' "
                          "(or make setup EXTRAS=ray)") from None
    return ray


def run_all(runs: list[Params], log=print, address: str | None = None, gpus_per_run: float = 0.0,
            cpus_per_run: float = 1.0, local_cpus: int | None = None) -> int:
    """Execute ``runs`` as Ray tasks; publish each as it ends; return the number that failed."""
    ray = _ray()
    if not runs:
        return 0
    if address and address != "auto":
        _check_address(address)
    started = not ray.is_initialized()
    if started:
        import logging

        # without --address, a Ray of our own: ray.init(address=None) would join any Ray already running on
        # this machine (RAY_ADDRESS, or a `ray start` head it finds), with its CPUs rather than --local-cpus
        options = {"num_cpus": local_cpus} if address is None else {}
        try:
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=True, **options)
        except (ConnectionError, ray.exceptions.RayError) as err:
            last = [line for line in str(err).splitlines() if line.strip()][-1:] or [type(err).__name__]
            if address is None:
                raise RuntimeError(f"cannot start a local Ray: {last[0][:300]}") from None
            raise ParamsError(f"--address {address}: cannot join a Ray cluster there: {last[0][:300]} (a cluster "
                              f"with token authentication, Ray's default: RAY_AUTH_MODE=token here too)") from None
    # a node that sees this file shares our project folder: its runs leave their files in our staging
    marker = config.report_dir(runs[0].profile) / ".staging" / f"ray-{uuid.uuid4().hex}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        with signals.interruptible():  # ray.init installs its own SIGTERM handler: ours again
            return _run_all(ray, runs, log, marker, gpus_per_run, cpus_per_run, where=address or "local")
    finally:
        marker.unlink(missing_ok=True)
        if started:
            ray.shutdown()


def _check_address(address: str) -> None:
    """A head's address must answer before Ray is asked to join it: Ray itself retries for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ParamsError(f"--address {address}: expected HOST:PORT of a Ray head (e.g. 10.0.0.1:6379) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ParamsError(f"--address {address}: no Ray head answers there ({err.strerror or err}); start one "
                          f"with `ray start --head --port={port}`") from None


def _check_resources(ray, gpus_per_run: float, cpus_per_run: float) -> str:
    """Refuse what no node can give (Ray would wait for it for ever); describe the cluster."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ParamsError("--cpus-per-run must be > 0 and --gpus-per-run >= 0")
    if cpus_per_run > cpus:
        raise ParamsError(f"--cpus-per-run {cpus_per_run:g}: no node of the Ray cluster has that many CPUs "
                          f"(the largest has {cpus:g})")
    if gpus_per_run > gpus:
        raise ParamsError(f"--gpus-per-run {gpus_per_run:g}: " + ("the Ray cluster has no GPU" if not gpus else
                          f"no node of the Ray cluster has that many GPUs (the largest has {gpus:g})"))
    total = ray.cluster_resources()
    at_once = int(total.get("CPU", 0) // cpus_per_run)
    if gpus_per_run:
        at_once = min(at_once, int(total.get("GPU", 0) // gpus_per_run))
    return (f"{len(nodes)} node(s), {total.get('CPU', 0):g} CPU(s), {total.get('GPU', 0):g} GPU(s); "
            f"{cpus_per_run:g} CPU(s) and {gpus_per_run:g} GPU(s) per run: up to {at_once} at once")


def _run_all(ray, runs, log, marker: Path, gpus_per_run, cpus_per_run, where: str) -> int:
    from ray.util.queue import Empty, Queue

    log(f"ray ({where}): {_check_resources(ray, gpus_per_run, cpus_per_run)}")
    events = Queue()
    # not PAIRINGS_ROOT: a node runs in its own copy of the project (a local Ray inherits ours)
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ON) and k != "PAIRINGS_ROOT"}
    task = ray.remote(_task)
    options = dict(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0, runtime_env={"env_vars": env})
    pending = {task.options(name=p.run_name, **options).remote(p, marker.name, events): p for p in runs}
    where_ran: dict[str, str] = {}
    done: dict[str, bool] = {}
    failed = 0

    def drain():
        while True:
            try:
                name, node, device = events.get_nowait()
            except Empty:
                return
            where_ran[name] = f"{node}, {device}"
            params = next(p for p in runs if p.run_name == name)
            log(f"[start] {plan.describe(params)} on {where_ran[name]}")

    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            drain()
            for ref in ready:
                params = pending.pop(ref)
                outcome, files = _result(ray, ref, params)
                if files is not None:
                    _unpack(params, files)
                prefix = f"[{len(done) + 1}/{len(runs)}] {params.run_name} ({where_ran.get(params.run_name, '?')})"
                ok = staging.land(params, outcome, log=lambda line: log(f"{prefix}: {line.strip()}"))
                done[params.run_name] = ok
                failed += not ok
    except KeyboardInterrupt as err:
        raise _cancel(ray, pending, done, err, log) from None
    finally:
        ray.kill(events.actor)
    return failed


def _result(ray, ref, params: Params):
    """A task's Outcome and its files (None when it left them in our staging), or a failed Outcome."""
    try:
        return ray.get(ref)
    except (ray.exceptions.RayTaskError, ray.exceptions.RayError) as err:  # a worker that died or a bug
        text = str(getattr(err, "cause", None) or err).strip().splitlines()
        return staging.Outcome(params.run_name, False, 0.0, f"Ray: {type(err).__name__}: {text[-1] if text else ''}"), None


def _cancel(ray, pending: dict, done: dict, err: KeyboardInterrupt, log) -> signals.Interrupted:
    """Ctrl-C or SIGTERM: cancel the pending runs, stop those under way (their kernels stop and their staging
    is cleaned or kept for --resume), and say what ran. Published reports stay as they were."""
    for ref in pending:
        ray.cancel(ref)  # KeyboardInterrupt in a running task: staging.attempt stops its kernel
    _, stuck = ray.wait(list(pending), num_returns=len(pending), timeout=GRACE_S)
    for ref in stuck:
        ray.cancel(ref, force=True)
    signum = getattr(err, "signum", 2)
    cancelled = [p.run_name for p in pending.values()]
    parts = signals.landed(done) + [f"cancelled {', '.join(cancelled) or 'none'}"]
    import signal

    return signals.Interrupted(signum, f"Ray runs by {signal.Signals(signum).name}: {'; '.join(parts)}; "
                                      f"every other report is as it was", told=True)


# ---- in the Ray worker ------------------------------------------------------------------------------

def _task(params: Params, marker: str, events):
    """One run in a Ray worker: execute into staging (staging.attempt), and return the Outcome, with the
    staging files when this node does not see the command's project folder."""
    import ray

    gpus = ray.get_gpu_ids()
    device = f"GPU {','.join(map(str, gpus))}" if gpus else "cpu"
    node = socket.gethostname()
    if _nodes_on_host(ray) > 1:
        node = f"{node}:{ray.get_runtime_context().get_node_id()[:6]}"
    # fire and forget: a task that waits on ray.get lends its CPU back, and Ray would start another run on it
    events.actor.put_nowait.remote((params.run_name, node, device))
    folder = staging.staging_of(params)
    shared = (folder.parent / marker).exists()
    outcome = staging.attempt(params, follow=False)
    outcome.node, outcome.device = node, device
    return outcome, (None if shared else _pack(folder))


def _nodes_on_host(ray) -> int:
    """How many Ray nodes share this host (a loopback test cluster): then the node id tells them apart."""
    here = ray.util.get_node_ip_address()
    return sum(1 for n in ray.nodes() if n.get("Alive") and n.get("NodeManagerAddress") == here)


def _pack(folder: Path) -> dict[str, bytes]:
    """The files a run leaves in staging (notebook, HTML, record, model), for a driver on another node;
    not its checkpoints (a --resume continues on the node that has them) nor its progress feed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] not in ("checkpoints", "progress.jsonl")}


def _unpack(params: Params, files: dict[str, bytes]) -> None:
    folder = staging.staging_of(params)
    staging.clear(folder, keep=("checkpoints",))
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
