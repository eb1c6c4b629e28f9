"""The committed quick reports: each run's record agrees with its executed notebook and its index row.
(nbval re-executes the notebooks themselves; see the Makefile's test target.)"""

import json
import math
import re

import nbformat
import pandas as pd
import pytest

from pairings import config
from pairings.data import seedcards
from pairings.params import Params
from pairings.report import record, site, stats
from pairings.run import plan

QUICK = config.report_dir("quick")
RECORDS = {r.run: r for r in record.load_all("quick")}
PUBLISHED_STSB = 0.8203  # all-MiniLM-L6-v2's published STSb test Spearman


def test_every_quick_run_has_a_report():
    for params in plan.plan("quick"):
        assert params.run_name in RECORDS, f"run `make study` to record {params.run_name}"
        assert (QUICK / f"{params.run_name}.ipynb").exists() and (QUICK / f"{params.run_name}.html").exists()
    assert (QUICK / "summary.html").exists() and 'href="summary.html"' in (QUICK / "index.html").read_text()


def test_a_seed_pairing_under_another_loss_is_a_grid_cell_of_its_own():
    """snli-softmax.mnrl: SNLI shaped for MNRL (premise → entailed hypothesis, a contradiction as the hard
    negative), its head-free headline, no head, and its own page in the index."""
    softmax, mnrl = RECORDS["snli-softmax"], RECORDS["snli-softmax.mnrl"]
    assert softmax.task_metric == "nli_accuracy" and mnrl.task_metric == "entailment_auc"
    assert "nli_accuracy" not in mnrl.metrics["after"]  # no head without SoftmaxLoss
    assert mnrl.params["loss"] == "mnrl" and mnrl.params["variant"] == "mnrl"
    assert mnrl.data["train_pairs"] == softmax.params["train_pairs"]  # triplets of the whole split, then cut
    nb = nbformat.read(QUICK / "snli-softmax.mnrl.ipynb", as_version=4)
    assert any("MultipleNegativesRankingLoss on snli: (premise, entailed hypothesis" in o.get("text", "")
               for c in nb.cells for o in c.get("outputs", []))
    assert 'href="snli-softmax.mnrl.html"' in (QUICK / "index.html").read_text()


@pytest.mark.parametrize("run", sorted(RECORDS))
def test_every_record_has_sick_and_the_transfer_row(run):
    rec = RECORDS[run]
    for phase in ("before", "after"):
        assert 0 < rec.metrics[phase]["sick_spearman"] <= 1
        assert set(rec.transfer[phase]) == set(rec.transfer["metrics"]) == {"quora", "ncert", "snli", "greetings", "udemy"}
    quick = Params.load("quick", "quora-mnrl")
    assert rec.data["sick_pairs"] == quick.sick_pairs and rec.metrics["before"]["stsb_spearman"] == pytest.approx(
        RECORDS["quora-mnrl"].metrics["before"]["stsb_spearman"])  # the same base model, the same pairs


@pytest.mark.parametrize("run", sorted(RECORDS))
def test_record_is_complete_and_matches_its_notebook(run):
    rec = RECORDS[run]
    params = Params.from_mapping(rec.params)  # still valid parameters
    expected = Params.load("quick", rec.pairing, variant=rec.params.get("variant", ""))
    assert params.to_dict() == expected.to_dict() | {"output_dir": params.output_dir}
    injected = nbformat.read(QUICK / f"{run}.ipynb", as_version=4).metadata.papermill.parameters
    assert {k: v for k, v in injected.items() if k != "output_dir"} == \
        {k: v for k, v in rec.params.items() if k not in ("pairing", "output_dir")}
    for phase in ("before", "after"):
        assert rec.task_metric in rec.metrics[phase]
        assert all(math.isfinite(v) for v in rec.metrics[phase].values())
    assert rec.training["steps"] > 0 and len(rec.training["loss_history"]) > 0
    assert rec.timings["total_seconds"] > rec.training["train_seconds"] > 0
    assert {"torch", "sentence-transformers", "transformers"} <= set(rec.versions)


def test_base_model_scores_its_published_stsb_wherever_the_full_test_set_is_evaluated():
    """The quick profile evaluates 50 STSb pairs; every local record evaluates the whole test set (1,379 pairs), where
    the base model must score the published 0.8203 before training, whichever run measured it."""
    full = [r for r in record.load_all("local") if r.params["stsb_pairs"] is None]
    assert len(full) >= 40, "the local records evaluate the full STSb test set"
    off = {r.run: r.before["stsb_spearman"] for r in full if abs(r.before["stsb_spearman"] - PUBLISHED_STSB) > 5e-4}
    assert not off, off
    assert all(r.params["stsb_pairs"] == 50 for r in RECORDS.values())  # the quick ones cannot be held to it


def index_rows(html: str) -> dict[str, str]:
    """Each run's row of the index (its <tr>…</tr>), by the report it links."""
    rows = {}
    for row in html.split("<tr")[1:]:
        row = row.split("</tr>")[0]
        found = re.search(r'href="([^"]+)\.html"', row)
        if found:
            rows.setdefault(found.group(1), row)
    return rows


def test_index_shows_each_records_numbers_in_its_own_row(tmp_path):
    rows = index_rows((QUICK / "index.html").read_text().split('id="runs"', 1)[1])
    for run, rec in RECORDS.items():
        assert run in rows, run
        task = rec.task_metric
        assert f'{rec.after[task]:.3f}' in rows[run], run
        assert f'{rec.after["stsb_spearman"]:.4f}' in rows[run], run


def test_index_escapes_what_it_shows(tmp_path, monkeypatch):
    rec = record.Record.from_dict(json.loads(json.dumps(next(iter(RECORDS.values())).to_dict())))
    rec.data["train_source"] = "<script>alert(1)</script>"
    html = site.index_html("quick", [rec], {}, [])
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_summary_conclusions_are_computed_from_the_records():
    records = record.load_all("quick")
    lines = stats.conclusions(records)
    gains = {r.run: r.metrics["after"][r.task_metric] - r.metrics["before"][r.task_metric] for r in records}
    assert all(r.params["seed"] == 42 for r in records)  # one run per pairing and variant: a run is its group
    best = max(gains, key=gains.get)
    assert lines[0].startswith(f"Largest gain on its own task: {best},") and f"{gains[best]:+.3f}" in lines[0]


def test_seed_reference_averages_our_loss_like_the_card():

    rec = record.Record.from_dict({"pairing": "greetings-mnrl", "profile": "local", "run": "g", "params": {"variant": "", "loss": "mnrl"},
                                   "data": {}, "metrics": {}, "timings": {},
                                   "training": {"loss_history": [[s, 2.0 + (s > 500)] for s in range(1, 1001)]}, "extra": {}})
    table = stats.seed_reference([rec], {"greetings-mnrl": seedcards.SeedCard(
        "greetings-mnrl", "003", 3000, [(1.3, 500, 2.13), (2.7, 1000, 2.08)], [], None, 256, True, {}, [])})
    assert table.loc[("greetings-mnrl", "loss at step 500"), "ours"] == 2.0
    assert table.loc[("greetings-mnrl", "loss at step 1000"), "ours"] == 3.0


def test_markdown_table_prints_each_runs_numbers(capsys):
    from pairings.run import cli

    assert cli.main(["table", "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    for run, rec in RECORDS.items():
        line = next(x for x in out.splitlines() if x.startswith(f"| `{run}`"))
        assert f'{rec.metrics["after"][rec.task_metric]:.3f}' in line


def test_readme_results_table_is_printed_from_the_local_records(capsys):
    """Each number of the results document's (docs/results.md) table traces to a record: the table is the one that
    `python -m pairings table --profile local` prints from reports/local/*.json, row for row."""
    from pairings.run import cli

    assert cli.main(["table", "--profile", "local"]) == 0
    printed = [x for x in capsys.readouterr().out.splitlines() if x.startswith("|")]
    results = (config.PROJ_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    lines = results.splitlines()
    start = lines.index(printed[0])  # the summary table (the section's other tables quote single records)
    table = [x for x in lines[start:start + len(printed) + 1] if x.startswith("|")]
    assert len(printed) > 2 and table == printed


def test_readme_grid_is_printed_from_the_local_records(capsys):
    """docs/results.md's data × loss grid and its decomposition are what `python -m pairings table --profile local
    --grid` prints from reports/local/*.json, verbatim."""
    from pairings.run import cli

    assert cli.main(["table", "--profile", "local", "--grid"]) == 0
    printed = capsys.readouterr().out.strip()
    results = (config.PROJ_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert printed.count("\n|") > 10 and printed in results


def test_readme_heads_tables_are_printed_from_the_local_records(capsys):
    """docs/results.md's headline tables (SoftmaxLoss three ways, each run's head) are what `python -m pairings table
    --profile local --heads` prints from reports/local/*.json, verbatim."""
    from pairings.run import cli

    assert cli.main(["table", "--profile", "local", "--heads"]) == 0
    printed = capsys.readouterr().out.strip()
    results = (config.PROJ_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    headline = results.split("\n## ", 2)[1]  # the results' first section
    tables = [block for block in printed.split("\n\n") if block.startswith("|")]
    assert len(tables) == 2 and all(t.count("\n|") > 10 and t in headline for t in tables)


def test_summary_figures_are_saved_from_the_executed_notebook(tmp_path):
    paths = site.save_figures(QUICK / "summary.ipynb", tmp_path, "summary")
    assert len(paths) >= 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert [p.read_bytes() for p in paths] == [(QUICK / "figures" / p.name).read_bytes() for p in paths]


def _run(name, seed, after, variant="", before=0.5):
    return record.Record.from_dict({"pairing": name, "profile": "local", "run": f"{name}-{seed}", "task_metric": "mrr@10",
            "params": {"variant": variant, "loss": "mnrl", "seed": seed},
            "data": {"train_source": "generated", "train_pairs": 10}, "training": {"steps": 1, "train_seconds": 1.0},
            "timings": {"total_seconds": 2.0},
            "metrics": {"before": {"mrr@10": before, "stsb_spearman": 0.82},
                        "after": {"mrr@10": after, "stsb_spearman": 0.80 + seed / 1000}}})


def test_a_resumed_run_is_left_out_of_the_timings():
    """A resumed run times only the steps after its checkpoint: its metrics count, its time does not."""
    runs = [_run("greetings-mnrl", s, 0.9) for s in (42, 43, 44)]
    runs[0].training.update(train_seconds=100.0, resumed_from_step=1000)
    row = stats.summary_table(runs).loc["greetings-mnrl"]
    assert row["seeds"] == 3 and row["train time (s)"] == "1 ± 0 (2 of 3 runs; resumed runs left out)"
    assert stats.summary_table(runs[:1]).loc["greetings-mnrl", "wall time (s)"] == "(resumed runs only)"
    runs[0].device = {"device": "cpu"}
    assert "resumed at step 1000" in site.index_html("local", runs[:1], {}, [])


def test_changes_within_the_seed_spread_are_marked_not_significant():
    # a change of 0.01 ± 0.1 over three seeds is noise; 0.4 ± 0.01 is not; one seed: no verdict
    noisy = [_run("greetings-mnrl", s, 0.5 + d) for s, d in zip((42, 43, 44), (0.11, -0.09, 0.01))]
    table = stats.summary_table(noisy)
    assert table.loc["greetings-mnrl", "task change"].endswith("(n.s.)")
    clear = [_run("greetings-mnrl", s, 0.9 + d) for s, d in zip((42, 43, 44), (0.01, -0.01, 0.0))]
    assert "n.s." not in stats.summary_table(clear).loc["greetings-mnrl", "task change"]
    assert "n.s." not in stats.summary_table(clear[:1]).loc["greetings-mnrl", "task change"]
    assert stats.within_spread([0.1]) is None


def test_ablations_are_judged_against_the_seed_spread():
    base = [_run("greetings-mnrl", s, 0.40 + d) for s, d in zip((42, 43, 44), (0.02, -0.02, 0.0))]
    close = [_run("greetings-mnrl", s, 0.41 + d, "by_intent") for s, d in zip((42, 43, 44), (0.01, -0.01, 0.0))]
    far = [_run("greetings-mnrl", s, 0.95, "by_intent") for s in (42, 43, 44)]
    verdict = lambda recs: stats.ablations(base + recs).loc[("greetings-mnrl.by_intent", "MRR@10"), "verdict"]
    assert verdict(close).startswith("not significant")
    assert verdict(far) == "larger than the seed spread"
    assert verdict(far[:1]) == "larger than the seed spread"  # the base's three seeds give the spread
    single = stats.ablations(base[:1] + far[:1])
    assert single.loc[("greetings-mnrl.by_intent", "MRR@10"), "verdict"] == "spread unknown (one seed)"


def test_ablations_show_the_metric_the_ablation_moved_most():
    # with or without the Normalize module, cosine metrics agree; dot-product retrieval is what moves
    base, normalized = _run("ncert-mnrl", 42, 0.69), _run("ncert-mnrl", 42, 0.69, "normalized")
    for r, dot in ((base, 0.64), (normalized, 0.69)):
        r.metrics["after"].update({"dot-product mrr@10": dot, "recall@1": 0.60})
    table = stats.ablations([base, normalized])
    assert list(table.loc["ncert-mnrl.normalized"].index) == ["MRR@10", "STSb test Spearman (cosine)", "dot-product: MRR@10"]
    assert table.loc[("ncert-mnrl.normalized", "dot-product: MRR@10"), "difference"] == "+0.0500"


def test_conclusions_take_the_base_score_from_the_records():
    runs = [_run("greetings-mnrl", 42, 0.9), _run("quora-mnrl", 42, 0.6)]
    for r in runs:
        r.params["loss"] = "cosine"
        r.metrics["before"]["unrelated_cosine"] = r.metrics["after"]["unrelated_cosine"] = 0.3
    runs[0].metrics["before"]["stsb_spearman"] = 0.7
    runs[0].metrics["after"]["stsb_spearman"] = 0.1
    lines = stats.conclusions(runs)
    assert lines[1] == "Most general similarity lost: greetings-mnrl, STSb Spearman -0.6000 (from 0.7000)."


@pytest.mark.parametrize("profile", ["quick", "local"])
def test_no_record_holds_an_ncert_passage(profile):
    """NCERT text is copyrighted: records may hold short answer phrases, never a passage."""
    for rec in record.load_all(profile):
        if rec.pairing == "ncert-mnrl":
            for sentence in rec.extra["example"]:
                assert len(sentence.split()) <= 12 or sentence.startswith("[the card's NCERT passage"), rec.run


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_no_report_shows_an_ncert_passage():
    """Where the NCERT chapters are at hand: no 16 words in a row of them appear in any report file
    (the notebooks show answer phrases of at most 12 words)."""
    path = config.resolve(Params.load("local", "ncert-mnrl").options.ncert_path)
    if not path.exists():
        pytest.skip(f"the NCERT chapters are not here ({path})")
    n = 16
    chapters = pd.read_parquet(path, columns=["text"])["text"]
    shingles = {hash(tuple(w[i:i + n])) for w in map(_words, chapters) for i in range(len(w) - n + 1)}
    for file in sorted(config.PROJ_ROOT.joinpath("reports").rglob("*")):
        shown = file.relative_to(config.PROJ_ROOT).parts
        if file.suffix in (".html", ".ipynb", ".json") and not any(p.startswith(".") for p in shown):  # not .staging
            w = _words(file.read_text(encoding="utf-8"))
            hits = [" ".join(w[i:i + n]) for i in range(len(w) - n + 1) if hash(tuple(w[i:i + n])) in shingles]
            assert not hits, f"{file.relative_to(config.PROJ_ROOT)} holds NCERT text: {hits[0]!r}"


def test_loss_at_chance_is_judged_over_every_seed():
    runs = [_run("greetings-mnrl", s, 0.4) for s in (42, 43, 44)]
    for r, end in zip(runs, (2.00, 2.10, 2.14)):  # ln 8 = 2.079; seed 42 alone ends 0.079 below it
        r.params["batch_size"] = 8
        r.metrics["before"]["unrelated_cosine"] = r.metrics["after"]["unrelated_cosine"] = 0.3
        r.training["loss_history"] = [[i, 4.0] for i in range(1, 10)] + [[10, end]]
    line = [s for s in stats.conclusions(runs) if "ends at" in s]
    assert line == ["greetings-mnrl: the loss ends at 2.080 (mean over 3 seeds), within 0.1 of ln 8 = 2.079: "
                    "the in-batch ranking is at chance."]


@pytest.mark.parametrize("profile", ["quick", "local"])
def test_every_record_agrees_with_its_executed_notebook(profile):
    """docs/results.md's numbers come from the local records: each must be what its executed notebook shows, with the
    parameters papermill injected into it (STSb before and after to 4 decimals, the task metric to 3)."""
    records = record.load_all(profile)
    assert records
    for rec in records:
        nb = nbformat.read(config.report_dir(profile) / f"{rec.run}.ipynb", as_version=4)
        injected = nb.metadata.papermill.parameters
        assert {k: v for k, v in injected.items() if k != "output_dir"} == \
            {k: v for k, v in rec.params.items() if k in injected and k != "output_dir"}, rec.run
        assert set(injected) - {"output_dir"} <= set(rec.params), rec.run
        shown = "\n".join(str(o.get("text", "")) + json.dumps(o.get("data", {})) for c in nb.cells for o in c.get("outputs", []))
        for number in (f'{rec.before["stsb_spearman"]:.4f}', f'{rec.after["stsb_spearman"]:.4f}',
                       f'{rec.after[rec.task_metric]:.3f}'):
            assert number in shown, f"{profile}/{rec.run}: {number} is not in its notebook's outputs"


def test_the_index_has_one_row_per_pairing_and_variant_with_its_changes(tmp_path):
    """The index opens with a row per cell (pairing and variant, over seeds): its task, STSb and SICK-R change as the
    records give them, coloured by sign; every seed's report linked; no NaN anywhere."""
    from pairings.report import stats

    records = record.load_all("local")
    pages = {r.run: f"{r.run}.html" for r in records}
    page = site.index_html("local", records, pages, [])
    cells = page.split('id="cells"', 1)[1].split("</table>", 1)[0]
    groups = stats.group(records)
    assert cells.count("<tr>") - 1 == len(groups) > 20  # the header row aside
    snli = [row for row in cells.split("<tr>") if "<b>snli-softmax.lp</b>" in row][0]
    runs = groups["snli-softmax.lp"]
    stsb = [r.after["stsb_spearman"] - r.before["stsb_spearman"] for r in runs]
    assert stats.change_text(stsb, 4) in snli and "rgba(220, 38, 38" in snli  # STSb fell: red
    assert all(f'href="{r.run}.html"' in snli for r in runs) and len(runs) == 3
    assert "NaN" not in page and "nan" not in cells


def test_a_record_names_the_code_it_ran(tmp_path, monkeypatch):
    """versions()["minilm-pairings"]: the commit, marked where lib/, notebooks/ or params/ differ from it; outside a
    git checkout, "unknown"."""
    version = record.versions()["minilm-pairings"]
    assert re.fullmatch(r"[0-9a-f]{40}( \+ uncommitted changes)?", version), version
    monkeypatch.setattr(config, "PROJ_ROOT", tmp_path)
    assert record.code_version() == "unknown (not a git checkout)"
