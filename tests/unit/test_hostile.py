"""Hostile input outside the params catalogue (tests/unit/test_bad_input.py): data sanity counted in the
record, broken results never saved, broken records skipped, the CLI's one-line errors, the run lock."""

import json
import os
import signal
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from pairings import config
from pairings import data as data_sets
from pairings.data import sanity
from pairings.params import Params
from pairings.report import record
from pairings.run import cli, signals, staging
from pairings.run.pipeline import Run


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(config, "PROJ_ROOT", tmp_path)
    out = tmp_path / "reports" / "quick"
    out.mkdir(parents=True)
    return out


# ---- data sanity ------------------------------------------------------------------------------

def test_a_test_set_equal_to_the_training_set_is_counted_as_leakage(tmp_path):
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"question1": [f"question {i}" for i in range(40)],
                  "question2": [f"duplicate {i}" for i in range(40)]}).to_parquet(path)
    params = Params.load("quick", "quora-mnrl").replace(train_data=str(path), test_data=str(path))
    counts = data_sets.get("quora").prepare(params).sanity
    assert counts["held_out_in_train"] == counts["held_out_texts"] == 40
    assert "40 of 40 held-out texts also occur in training (leakage)" in counts["warnings"]
    assert counts["duplicate_train_pairs"] == 0 and counts["in_batch_false_negatives"] == 0.0


def test_duplicate_pairs_are_counted(tmp_path):
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"question1": [f"question {i % 20}" for i in range(40)],
                  "question2": [f"duplicate {i % 20}" for i in range(40)]}).to_parquet(path)
    params = Params.load("quick", "quora-mnrl").replace(train_data=str(path), batch_size=8)
    counts = data_sets.get("quora").prepare(params).sanity
    assert counts["duplicate_train_pairs"] == 20 and "20 duplicate training pairs" in counts["warnings"]
    assert 0 < counts["in_batch_false_negatives"] < sanity.MAX_FALSE_NEGATIVES


# ---- a broken result is never saved -------------------------------------------------------------

@pytest.mark.parametrize("training, metrics, message", [
    ({"loss_history": [[1, 2.0], [2, float("nan")]]}, {"before": {"mrr@10": 0.5}}, r"the loss logged at step 2 is nan"),
    ({"loss_history": [[1, 2.0]]}, {"before": {"mrr@10": 0.5}, "after": {"stsb_spearman": float("nan")}},
     r"metric 'stsb_spearman' after fine-tuning is nan"),
    ({"loss_history": [[1, float("inf")]]}, {}, r"step 1 is inf"),
    ({"loss_history": [[1, 2.0]]}, {"transfer": {"after": {"snli": float("nan")}}}, r"metric 'snli' transfer after fine-tuning is nan"),
])
def test_nan_or_inf_is_never_saved(training, metrics, message):
    run = Run.__new__(Run)
    run.params, run.data, run.training, run.metrics = None, None, training, metrics
    run.transfer = metrics.pop("transfer", {})
    with pytest.raises(record.BrokenRun, match=message):
        run.save()


def test_finite_runs_pass_the_check():
    record.check_finite({"loss_history": [[1, 2.0]]}, {"before": {"a": 0.1, "n": 3}, "after": {"a": 0.2}})


def test_a_failing_notebook_keeps_the_last_good_report(reports):
    """What the runner does with a run whose save() raised: .failed.* beside the untouched report."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "raise ValueError('training diverged: the loss logged at step 3 is nan; the run is not saved')")])
    notebook = reports.parent.parent / "broken.ipynb"
    nbformat.write(nb, notebook)
    for suffix in (".ipynb", ".html", ".json"):
        (reports / f"broken{suffix}").write_text(f"last good {suffix}")
    folder = reports / ".staging" / "broken"
    folder.mkdir(parents=True)
    lines = []
    assert staging.run_notebook(notebook, folder, "broken", {}, None, lines.append) is False
    assert all((reports / f"broken{s}").read_text() == f"last good {s}" for s in (".ipynb", ".html", ".json"))
    assert (reports / "broken.failed.ipynb").is_file() and (reports / "broken.failed.html").is_file()
    assert "the loss logged at step 3 is nan" in lines[0]


# ---- records, index, table ------------------------------------------------------------------------

def test_a_broken_record_stops_index_table_and_summary_unless_allowed(reports, capsys):
    """A record that cannot be read stops `index`, `table` and `summary` in one line naming it, and the last good
    index stays as it was (republishing would drop that run); --allow-missing goes on with a warning per file."""
    good = json.loads((config.PARAMS_DIR.parent / "reports" / "quick" / "greetings-mnrl.json").read_text())
    (reports / "greetings-mnrl.json").write_text(json.dumps(good))
    assert cli.main(["index"]) == 0
    last_good = (reports / "index.html").read_bytes()
    (reports / "truncated.json").write_text(json.dumps(good)[:100])
    capsys.readouterr()
    for command in (["index"], ["table"], ["table", "--grid"]):
        assert cli.main(command) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {reports / 'truncated.json'}: unreadable (JSONDecodeError"), err
        assert err[0].endswith("pass --allow-missing to go on without it)")
    assert (reports / "index.html").read_bytes() == last_good
    (reports / "empty.json").write_text("")
    (reports / "list.json").write_text("[1, 2]")
    (reports / "other.json").write_text('{"hello": 1}')
    assert [r.run for r in record.load_all("quick", allow_missing=True)] == ["greetings-mnrl"]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(line.startswith("warning: ") and line.endswith("; skipped") for line in err)
    assert any("empty.json: unreadable (JSONDecodeError" in line for line in err)
    assert any("other.json: not a run record (no pairing, profile" in line for line in err)
    assert cli.main(["index", "--allow-missing"]) == 0 and b"greetings-mnrl" in (reports / "index.html").read_bytes()


def test_a_fifo_named_like_a_record_is_passed_over_not_read(reports, capsys):
    """A FIFO (or a folder) named *.json in reports/<profile>/ would block a reader for ever: never opened."""
    good = (config.PARAMS_DIR.parent / "reports" / "quick" / "greetings-mnrl.json").read_text()
    (reports / "greetings-mnrl.json").write_text(good)
    os.mkfifo(reports / "fifo.json")
    (reports / "folder.json").mkdir()
    assert [r.run for r in record.load_all("quick")] == ["greetings-mnrl"]
    err = capsys.readouterr().err.splitlines()
    assert sorted(e.split(": ", 2)[1].rsplit("/", 1)[-1] for e in err) == ["fifo.json", "folder.json"]
    assert all(e.endswith(": not a regular file; passed over") for e in err)


def test_table_without_records_says_so(reports, capsys):
    assert cli.main(["table"]) == 1
    assert capsys.readouterr().err.strip() == \
        "no run records in reports/quick/ (python -m pairings run --profile quick writes them)"


# ---- the CLI -------------------------------------------------------------------------------------

def test_an_internal_error_is_one_line_and_a_log(reports, monkeypatch, capsys):
    def bug(*args, **kwargs):
        raise KeyError("pairing")

    monkeypatch.setattr(staging, "write_index", bug)
    assert cli.main(["index"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("internal error: KeyError: 'pairing' (traceback in logs/") and "\n" not in err
    log = config.PROJ_ROOT / err.rpartition("traceback in ")[2].rstrip(")")
    assert "Traceback" in log.read_text() and "raise KeyError" in log.read_text()


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert cli.main(["check", "--profile", "quik"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown profile 'quik'")


def test_gitignore_keeps_logs_out():
    assert "/logs/" in (config.PROJ_ROOT / ".gitignore").read_text().split()


# ---- two runs of one run name at once --------------------------------------------------------------

def test_a_second_run_of_the_same_name_is_refused_with_the_holders_pid(tmp_path):
    folder = tmp_path / "quick" / ".staging" / "greetings-mnrl"
    with staging.locked(folder) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(signals.Busy, match=rf"greetings-mnrl\.lock: greetings-mnrl of the quick profile is "
                                              rf"already running \(pid {os.getpid()}\)"):
            with staging.locked(folder):
                pass
    assert not lock.exists()


def test_a_stale_lock_is_taken_over(tmp_path):
    folder = tmp_path / "quick" / ".staging" / "x"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder.parent.mkdir(parents=True)
    (folder.parent / "x.lock").write_text(dead.stdout)
    with staging.locked(folder) as lock:
        assert lock.read_text().strip() == str(os.getpid())


def test_an_interruption_is_reported_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "PROJ_ROOT", tmp_path)
    folder = tmp_path / "staging" / "run"
    (folder / "checkpoints").mkdir(parents=True)
    kept = signals.interrupted(signals.Interrupted(2), "run", folder, keep=True)
    assert str(kept) == ("run by SIGINT; staging kept for --resume (staging/run); the last good report is untouched")
    cleaned = signals.interrupted(signals.Interrupted(15), "run", folder, keep=False)
    assert str(cleaned).startswith("run by SIGTERM; staging cleaned;") and not folder.exists()
    assert cleaned.signum == 15


def test_a_reader_that_leaves_early_is_no_internal_error():
    """`python -m pairings table | head -1`: the pipe closes under the command; it stops quietly (141, as a shell
    reports a command killed by SIGPIPE), with no "internal error", no traceback and no log."""
    proc = subprocess.Popen([sys.executable, "-m", "pairings", "table", "--profile", "local", "--grid"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    proc.stdout.close()  # the reader is gone before the command writes a line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def test_a_signal_while_a_run_is_published_waits_until_its_files_are_in_place():
    """SIGTERM during publishing is held: the files are all moved, then Interrupted says the run was published;
    outside publishing the same signal stops at once."""
    moved = []
    with signals.interruptible():
        with pytest.raises(signals.Interrupted) as caught:
            with signals.publishing("greetings-mnrl"):
                moved.append("record")
                os.kill(os.getpid(), signal.SIGTERM)  # delivered here, in the main thread
                moved.append("notebook")  # still runs: the signal waits
                moved.append("html")
        assert moved == ["record", "notebook", "html"]
        assert caught.value.told and caught.value.signum == signal.SIGTERM
        assert str(caught.value) == "greetings-mnrl was published, then SIGTERM stopped the command"
        with pytest.raises(signals.Interrupted) as at_once:
            os.kill(os.getpid(), signal.SIGTERM)
            moved.append("never")
        assert not at_once.value.told and moved[-1] == "html"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or signal.getsignal(signal.SIGTERM) != signals.on_signal


def test_version_is_the_packages(capsys):
    import pairings

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"minilm-pairings {pairings.__version__}"


def test_a_full_disk_while_publishing_leaves_every_old_file_whole(tmp_path, monkeypatch, capsys):
    """The disk fills while the index, a record and a rendered figure are written: each write fails naming its file,
    the old index, record and figure are byte-identical, no temporary file is left, and the command says so in one
    line (no "internal error")."""
    import errno
    import shutil

    from pairings import publish
    from pairings.report import record as record_module

    root = tmp_path / "project"
    shutil.copytree(config.report_dir("quick"), root / "reports" / "quick", ignore=shutil.ignore_patterns("*.ipynb"))
    monkeypatch.setattr(config, "REPORTS_DIR", root / "reports")
    folder = root / "reports" / "quick"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish.os, "fsync", full)
    assert cli.main(["index", "--profile", "quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {folder / 'index.html'}: not written (No space left on device); the previous file is kept"
    rec = record_module.Record.load(folder / "greetings-mnrl.json")
    out = tmp_path / "run"
    out.mkdir()
    (out / "record.json").write_text("the last good record")
    with pytest.raises(publish.PublishError, match=r"record\.json: not written \(No space left on device\)"):
        record_module.write(rec, out)
    assert (out / "record.json").read_text() == "the last good record"
    with pytest.raises(publish.PublishError):
        publish.write(folder / "figure.png", b"\x89PNG")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before  # nothing new, nothing cut
    assert not list(tmp_path.rglob("*.tmp"))


def test_reproduce_takes_the_tolerance_it_is_given():
    """--tolerance 0 means identical (not the default 0.005); a negative one is refused before anything runs."""
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--profile", "quick", "--run", "greetings-mnrl", "--tolerance", "x"])
    assert cli.main(["reproduce", "--profile", "quick", "--run", "greetings-mnrl", "--tolerance", "-1"]) == 2


def test_a_lock_held_by_a_live_process_that_is_not_the_runner_is_stale(tmp_path):
    """pid 1 (init) is alive but is not this project's runner: its lock is taken over, not obeyed."""
    staging_dir = tmp_path / "reports" / "quick" / ".staging" / "greetings-mnrl"
    staging_dir.parent.mkdir(parents=True)
    (staging_dir.parent / "greetings-mnrl.lock").write_text("1\n")
    with staging.locked(staging_dir) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert staging.alive(os.getpid()) and not staging.alive(1)


def test_a_missing_profile_folder_is_named(tmp_path, monkeypatch):
    from pairings.params import ParamsError

    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path)
    with pytest.raises(ParamsError, match=r"quick/: no such folder: the quick profile's params files are missing"):
        Params.load("quick", "greetings-mnrl")


def test_the_collators_column_order_warning_stays_out_of_the_reports(caplog):
    """SNLI's SoftmaxLoss rows are (premise, hypothesis, label) on purpose; sentence-transformers' warning about
    'hypothesis' not being first is filtered where it is raised, and other warnings of that logger still pass."""
    import logging

    import pairings  # noqa: F401  (installs the filter)

    logger = logging.getLogger("sentence_transformers.base.data_collator")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning("Column 'hypothesis' is at index 1, whereas a column with this name is usually expected at index 0.")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
