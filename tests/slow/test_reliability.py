"""Failures keep the last good report; interrupted training resumes; the same seed gives the same
numbers; hostile strings in the data stay text in the HTML reports."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import projects
import pytest
import transformers

from pairings import config, losses
from pairings import data as data_sets
from pairings.evaluate import metrics
from pairings.params import Params
from pairings.report import site, tables
from pairings.report.record import Record
from pairings.train import base_model, trainer


def tiny(**changes) -> Params:
    """A greetings run of a few steps: short texts, batch 8, on the CPU."""
    base = dict(train_pairs=48, logging_steps=1, stsb_pairs=40, device="cpu")
    return Params.load("quick", "greetings-mnrl").replace(**{**base, **changes})


def train_once(params: Params, out: Path, callbacks=None):
    transformers.set_seed(params.seed)
    prep = data_sets.get(params.data_set).prepare(params)
    model = base_model.load(params)
    loss = losses.get(params.loss).make(model)
    result = trainer.fit(model, loss, prep.train_dataset, params, out, callbacks=callbacks)
    embedding = model.encode(["Hello, how can I help?", "The cat sat on the mat."])
    return result, embedding, metrics.stsb(model, prep.stsb.dataset)


def test_same_seed_same_numbers(tmp_path):
    """Determinism on the CPU: two runs with the same parameters agree exactly (timings aside)."""
    a = train_once(tiny(), tmp_path / "a")
    b = train_once(tiny(), tmp_path / "b")
    assert a[0]["loss_history"] == b[0]["loss_history"]
    assert np.array_equal(a[1], b[1]) and a[2] == b[2]
    c = train_once(tiny(seed=43), tmp_path / "c")
    assert c[0]["loss_history"] != a[0]["loss_history"]  # the seed does change the run


class Interrupt(transformers.TrainerCallback):
    """Stops training as a crash would, right after `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"interrupted at step {self.step}")


@pytest.mark.parametrize("train_loop, saved", [("trainer", "checkpoint-2"), ("lean", "lean-2")])
def test_resume_continues_the_same_run(tmp_path, train_loop, saved):
    """Checkpoint every 2 steps, crash at step 3, resume: the record matches an uninterrupted run; in the
    trainer's loop (the local profile's) and in the lean loop (the study path's default)."""
    params = tiny(checkpoint_steps=2, train_loop=train_loop)
    whole = train_once(params, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_once(params, tmp_path / "resumed", callbacks=[Interrupt(3)])
    assert (tmp_path / "resumed" / "checkpoints" / saved).is_dir()
    resumed = train_once(params.replace(resume=True), tmp_path / "resumed")
    assert resumed[0]["resumed_from_step"] == 2 and resumed[0]["steps"] == whole[0]["steps"] == 6
    ours, theirs = dict(map(tuple, resumed[0]["loss_history"])), dict(map(tuple, whole[0]["loss_history"]))
    assert sorted(ours) == sorted(theirs)  # the history before the checkpoint is restored too
    for step in theirs:
        assert ours[step] == pytest.approx(theirs[step], rel=1e-4, abs=1e-4), step
    np.testing.assert_allclose(resumed[1], whole[1], atol=1e-4)
    assert resumed[2]["stsb_spearman"] == pytest.approx(whole[2]["stsb_spearman"], abs=1e-4)
    # the report's training line says which steps this call trained (and timed), not the whole run's
    assert tables.training_line(resumed[0]).startswith("6 steps; resumed from the checkpoint at step 2: steps 3–6 in ")
    assert tables.training_line(whole[0]).startswith("6 steps in ")


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(tmp_path, capsys):
    result = train_once(tiny(resume=True), tmp_path / "fresh")
    assert result[0]["resumed_from_step"] is None and result[0]["steps"] == 6
    assert "resume: no complete checkpoint under " in capsys.readouterr().out


# ---- a run killed mid-training keeps the last good report --------------------------------------

def _project(tmp: Path) -> Path:
    """A project root of our own: the real notebooks and data, our params and reports."""
    root = tmp / "project"
    (root / "params" / "quick").mkdir(parents=True)
    for name in ("notebooks", "data"):
        (root / name).symlink_to(config.PROJ_ROOT / name)
    shutil.copy(config.PARAMS_DIR / "quick" / "_profile.yaml", root / "params" / "quick")
    (root / "params" / "quick" / "greetings-mnrl.yaml").write_text("train_pairs: 800\nstsb_pairs: 40\ncheckpoint_steps: 5\n")
    good = root / "reports" / "quick"
    good.mkdir(parents=True)
    for suffix in (".ipynb", ".html", ".json"):
        shutil.copy(config.report_dir("quick") / f"greetings-mnrl{suffix}", good)
    (root / "models" / "quick" / "greetings-mnrl").mkdir(parents=True)
    (root / "models" / "quick" / "greetings-mnrl" / "last-good").write_text("the last good model")
    return root


def test_sigkill_mid_training_keeps_the_last_good_report(tmp_path):
    pytest.importorskip("psutil")
    root = _project(tmp_path)
    good = {p.name: p.read_bytes() for p in (root / "reports" / "quick").iterdir()}
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen([sys.executable, "-m", "pairings", "run", "--profile", "quick", "--pairing", "greetings-mnrl",
                            "--no-summary"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoint = root / "reports" / "quick" / ".staging" / "greetings-mnrl" / "checkpoints" / "lean-5"
    deadline = time.time() + 240
    while not checkpoint.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "training never reached its first checkpoint"
    kernels = projects.kernels(run.pid)
    assert kernels, "no kernel process found"
    for kernel in kernels:
        kernel.send_signal(signal.SIGKILL)  # in the middle of training
    output, _ = run.communicate(timeout=180)
    assert run.returncode == 1, output
    assert "FAILED" in output and "the last good report is untouched" in output
    reports = root / "reports" / "quick"
    for name, content in good.items():
        assert (reports / name).read_bytes() == content, f"{name} changed"
    assert (reports / "greetings-mnrl.failed.ipynb").exists() and (reports / "greetings-mnrl.failed.html").exists()
    assert (root / "models" / "quick" / "greetings-mnrl" / "last-good").read_text() == "the last good model"
    assert json.loads((reports / "greetings-mnrl.json").read_text())["run"] == "greetings-mnrl"


# ---- hostile strings stay text in the HTML -----------------------------------------------------

HOSTILE = ["<script>document.title='pwned'</script>", "<img src=x onerror=\"document.title='pwned'\">",
           "Learn <b>HTML</b> & \"quotes\""]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(html_path: Path) -> str:
    """The page as headless Chromium builds it, after its scripts ran."""
    profile = html_path.parent / "chromium-profile"
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
                             html_path.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_hostile_strings_are_shown_escaped_and_never_run(tmp_path):
    """A notebook that shows hostile course titles as a table and as printed text, executed by a real
    kernel and rendered by site.render_html, then opened in headless Chromium."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"import pandas as pd\ntitles = {HOSTILE!r}\nprint(titles[0])\n"
                                          "pd.DataFrame({'course title': titles, 'subject': ['Web Development'] * 3})")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    path = tmp_path / "hostile.ipynb"
    nbformat.write(nb, path)
    dom = _dom(site.render_html(path, tmp_path / "hostile.html"))
    assert "pwned" not in dom.split("</title>")[0]  # neither payload ran
    assert not re.search(r"<img[^>]*onerror", dom)  # no element was made of the payload
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown, as text
    assert "&lt;img src=x onerror=" in dom and "Learn &lt;b&gt;HTML&lt;/b&gt; &amp;" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_index_page_escapes_hostile_record_fields(tmp_path):
    rec = Record.load(config.report_dir("quick") / "udemy-cosine.json")
    rec.data["train_source"] = HOSTILE[0]
    rec.run = HOSTILE[1]
    page = tmp_path / "index.html"
    page.write_text(site.index_html("quick", [rec], {}, []))
    dom = _dom(page)
    assert "pwned" not in dom.split("</title>")[0]
    assert "&lt;script&gt;" in dom and not re.search(r"<img[^>]*onerror", dom)


def test_a_quick_run_reproduces_its_record(tmp_path):
    """`python -m pairings reproduce` re-runs the committed quick greetings run from its record's parameters."""
    root = tmp_path / "project"
    for name in ("notebooks", "data", "params"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(config.PROJ_ROOT / name)
    (root / "reports" / "quick").mkdir(parents=True)
    shutil.copy(config.report_dir("quick") / "greetings-mnrl.json", root / "reports" / "quick")
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "pairings", "reproduce", "--profile", "quick", "--run", "greetings-mnrl"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((root / "reports" / "quick" / "reproduced" / "greetings-mnrl.json").read_text())
    # every metric (the transfer row's too) and every logged loss as recorded, to float32 rounding of another CPU
    assert result["largest_metric_gap"] <= 1e-5 and result["largest_loss_gap"] <= 1e-5, result["metric_gaps"]
    assert result["within_tolerance"] and any(k.startswith("after transfer") for k in result["metric_gaps"])
    assert not (root / "reports" / "quick" / "greetings-mnrl.html").exists()  # nothing was published


@pytest.mark.parametrize("run", ["snli-softmax", "snli-softmax.lp"])
def test_softmax_runs_reproduce_their_records_closely(tmp_path, run):
    """The card's SoftmaxLoss recipe (no head warm-up: the option off) trains as the committed record did, and so
    does the run with its head fitted first: every metric and every logged loss within 1e-5 (float32 rounding of
    another machine), and the record says what the head learned."""
    root = tmp_path / "project"
    (root / "reports" / "quick").mkdir(parents=True)
    for name in ("notebooks", "data", "params"):
        (root / name).symlink_to(config.PROJ_ROOT / name)
    shutil.copy(config.report_dir("quick") / f"{run}.json", root / "reports" / "quick")
    env = {**os.environ, "PAIRINGS_ROOT": str(root), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "pairings", "reproduce", "--profile", "quick", "--run", run,
                           "--tolerance", "1e-5"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((root / "reports" / "quick" / "reproduced" / f"{run}.json").read_text())
    assert result["within_tolerance"], result["metric_gaps"]
    assert result["largest_loss_gap"] <= 1e-5
    committed = json.loads((config.report_dir("quick") / f"{run}.json").read_text())
    assert committed["head"]["start"] == ("fitted" if run.endswith(".lp") else "drawn")
    assert ("head_warmup" in committed["training"]) == run.endswith(".lp")
