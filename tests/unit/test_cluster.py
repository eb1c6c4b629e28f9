"""The Ray executor's parts that need no Ray: its options, its missing-extra error, and the files a run on
another node sends home (tests/slow/test_ray.py runs it on Ray)."""

import builtins
import socket
import sys

import pytest

from pairings import config
from pairings.params import Params, ParamsError
from pairings.run import cli, ray_executor, staging


@pytest.mark.parametrize("option", [["--address", "auto"], ["--gpus-per-run", "0.5"], ["--cpus-per-run", "2"],
                                    ["--local-cpus", "2"]])
def test_ray_options_need_the_ray_executor(option, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--profile", "quick", *option])
    assert exit_.value.code == 2
    assert f"{option[0]} is an option of --executor ray" in capsys.readouterr().err


def test_without_ray_the_executor_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ParamsError, match=r"--executor ray needs Ray, an optional extra: pip install -e '\.\[ray\]'"):
        ray_executor.run_all([Params.load("quick", "greetings-mnrl")])


def test_the_sequential_executor_never_imports_ray():
    import subprocess

    code = ("import sys; from pairings.run import cli, executors; "
            "assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_run_on_another_node_sends_its_files_but_not_its_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "REPORTS_DIR", tmp_path / "reports")
    params = Params.load("quick", "greetings-mnrl")
    folder = staging.staging_of(params)
    for name, text in {"greetings-mnrl.ipynb": "{}", "greetings-mnrl.html": "<html>", "record.json": "{}",
                       "model/config.json": "{}", "model/1_Pooling/config.json": "{}",
                       "checkpoints/checkpoint-5/state.json": "{}", "progress.jsonl": "{}"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    files = ray_executor._pack(folder)
    assert sorted(files) == ["greetings-mnrl.html", "greetings-mnrl.ipynb", "model/1_Pooling/config.json",
                             "model/config.json", "record.json"]
    (folder / "greetings-mnrl.html").write_text("stale")  # the driver's own folder: replaced, checkpoints kept
    ray_executor._unpack(params, files)
    assert (folder / "greetings-mnrl.html").read_text() == "<html>"
    assert (folder / "model" / "1_Pooling" / "config.json").is_file()
    assert (folder / "checkpoints" / "checkpoint-5" / "state.json").is_file()
    assert not (folder / "progress.jsonl").exists()


def test_an_address_where_no_head_answers_is_refused_at_once():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ParamsError, match=rf"--address 127.0.0.1:{port}: no Ray head answers there"):
        ray_executor._check_address(f"127.0.0.1:{port}")
    with pytest.raises(ParamsError, match=r"--address nonsense: expected HOST:PORT of a Ray head"):
        ray_executor._check_address("nonsense")


class FakeRay:
    """What _check_resources reads of Ray: its nodes and the cluster's total resources."""

    def __init__(self, *nodes: dict, dead: dict | None = None):
        self._nodes = [{"Alive": True, "Resources": n} for n in nodes] + ([{"Alive": False, "Resources": dead}] if dead else [])

    def nodes(self):
        return self._nodes

    def cluster_resources(self):
        total: dict[str, float] = {}
        for n in self._nodes:
            if n["Alive"]:
                for k, v in n["Resources"].items():
                    total[k] = total.get(k, 0) + v
        return total


def test_ray_refuses_what_no_live_node_can_give_and_counts_the_runs_at_once():
    """Ray would wait for ever for a task no node can hold: refused by name before any run; a dead node's
    resources do not count; the line says how many runs fit at once."""
    ray = FakeRay({"CPU": 4}, {"CPU": 8, "GPU": 1}, dead={"CPU": 64, "GPU": 8})
    assert ray_executor._check_resources(ray, 0.5, 2) == \
        "2 node(s), 12 CPU(s), 1 GPU(s); 2 CPU(s) and 0.5 GPU(s) per run: up to 2 at once"
    assert ray_executor._check_resources(ray, 0, 4).endswith("up to 3 at once")
    with pytest.raises(ParamsError, match=r"--cpus-per-run 16: no node of the Ray cluster has that many CPUs \(the largest has 8\)"):
        ray_executor._check_resources(ray, 0, 16)
    with pytest.raises(ParamsError, match=r"--gpus-per-run 2: no node of the Ray cluster has that many GPUs \(the largest has 1\)"):
        ray_executor._check_resources(ray, 2, 1)
    with pytest.raises(ParamsError, match="--gpus-per-run 1: the Ray cluster has no GPU"):
        ray_executor._check_resources(FakeRay({"CPU": 4}), 1, 1)
    with pytest.raises(ParamsError, match="--cpus-per-run must be > 0"):
        ray_executor._check_resources(ray, 0, 0)
