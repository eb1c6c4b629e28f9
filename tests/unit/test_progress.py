"""Live progress: the kernel's events (only with $PAIRINGS_PROGRESS) drive the runner's tqdm bar."""

import io
import json
import types

from tqdm import tqdm

from pairings import progress


def _state(step, total):
    return types.SimpleNamespace(global_step=step, max_steps=total)


def test_events_are_written_only_with_the_env_var(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    monkeypatch.delenv(progress.ENV, raising=False)
    progress.phase("evaluate before")
    assert progress.callbacks() == [] and not path.exists()
    monkeypatch.setenv(progress.ENV, str(path))
    progress.phase("evaluate before")
    (callback,) = progress.callbacks()
    callback.on_train_begin(None, _state(0, 4), None)
    callback.on_log(None, _state(2, 4), None, logs={"loss": 0.75})
    callback.on_log(None, _state(2, 4), None, logs={"learning_rate": 1e-5})  # no loss: nothing
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"phase": "evaluate before"}, {"phase": "train", "step": 0, "total": 4},
                     {"step": 2, "total": 4, "loss": 0.75}]


def test_reader_drives_a_bar(tmp_path):
    out, path = io.StringIO(), tmp_path / "progress.jsonl"
    bar = tqdm(desc="quora-mnrl", file=out, mininterval=0)
    events = [{"phase": "evaluate before"}, {"phase": "train", "step": 0, "total": 10},
              {"step": 4, "total": 10, "loss": 1.25}, {"step": 10, "total": 10, "loss": 0.5}]
    text = "".join(json.dumps(e) + "\n" for e in events)
    path.write_text(text + '{"phase": "evaluate af')  # the last line still being written
    with open(path) as f:
        pending = progress.drain(f, bar)
        assert (bar.n, bar.total) == (10, 10) and bar.postfix == "phase=train, loss=0.5000"
        with open(path, "a") as w:
            w.write('ter"}\n')
        assert progress.drain(f, bar, pending) == ""
    assert bar.postfix == "phase=evaluate after, loss=0.5000"
    bar.close()
    assert "quora-mnrl: 100%" in out.getvalue() and "10/10" in out.getvalue()


def test_following_sets_and_restores_the_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    out = io.StringIO()
    with progress.following(tmp_path / "progress.jsonl", "run", file=out, poll=0.01):
        progress.emit(phase="train", step=3, total=3, loss=0.25)
    assert progress.ENV not in __import__("os").environ
    assert "3/3" in out.getvalue() and "loss=0.2500" in out.getvalue()


def test_off_a_terminal_each_redraw_is_a_line_of_its_own():
    out = io.StringIO()  # not a TTY: a log file, CI
    bar = progress.make_bar("udemy-cosine", file=out)
    bar.mininterval = 0
    for step in range(1, 4):
        progress.apply(bar, {"phase": "train", "step": step, "total": 3, "loss": 1.0 / step})
        bar.refresh()
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert len(lines) >= 4 and all(line.startswith("udemy-cosine: ") for line in lines), lines
    assert "3/3" in lines[-1] and "loss=0.3333" in lines[-1]
