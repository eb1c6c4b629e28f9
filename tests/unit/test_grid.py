"""The summary's grid statistics on synthetic records: the data × loss table, the two-way decomposition,
the transfer matrix and the grid's conclusions."""

import itertools

import matplotlib
import pytest

from pairings.report import figures, grid, stats
from pairings.report.record import Record

matplotlib.use("Agg")

DATA = {"quora": -0.03, "snli": -0.30, "udemy": 0.11, "greetings": 0.22}  # sums to zero
LOSS = {"mnrl": 0.05, "softmax": -0.10, "cosine": 0.05}  # sums to zero
GRAND = -0.04
SEED_PAIRING = {"quora": ("quora-mnrl", "mnrl"), "snli": ("snli-softmax", "softmax"), "udemy": ("udemy-cosine", "cosine"),
                "greetings": ("greetings-mnrl", "mnrl")}


def rec(data_set, loss, stsb_change, seed=42, task_change=0.1, variant=None, transfer=None):
    pairing, own = SEED_PAIRING[data_set]
    variant = ("" if loss == own else loss) if variant is None else variant
    before = {"mrr@10": 0.5, "stsb_spearman": 0.8203, "sick_spearman": 0.77}
    after = {"mrr@10": 0.5 + task_change, "stsb_spearman": 0.8203 + stsb_change, "sick_spearman": 0.77 + stsb_change / 2}
    r = {"pairing": pairing, "run": pairing, "task_metric": "mrr@10",
         "params": {"data_set": data_set, "loss": loss, "variant": variant, "seed": seed},
         "metrics": {"before": before, "after": after}}
    if transfer:
        r["transfer"] = {"metrics": {t: "mrr@10" for t in transfer}, "before": {t: 0.5 for t in transfer},
                         "after": {t: 0.5 + v for t, v in transfer.items()}}
    return Record.from_dict({"profile": "local", "data": {}, "training": {}, "timings": {}, **r})


def additive(interaction=None, skip=()):
    out = []
    for d, loss in itertools.product(DATA, LOSS):
        if (d, loss) not in skip:
            out.append(rec(d, loss, GRAND + DATA[d] + LOSS[loss] + (interaction or {}).get((d, loss), 0.0)))
    return out


def test_grid_cells_are_seed_pairings_and_loss_variants_not_ablations():
    records = [rec("quora", "mnrl", 0.0), rec("quora", "softmax", 0.0), rec("quora", "mnrl", 0.0, variant="normalized")]
    assert sorted(grid.grid_cells(records)) == [("quora", "mnrl"), ("quora", "softmax")]
    assert len(grid.grid_cells(records)[("quora", "mnrl")]) == 1
    older = rec("snli", "softmax", 0.0).to_dict()
    del older["params"]["data_set"]  # records written before data sets had names: migrated on reading
    assert list(grid.grid_cells([Record.from_dict(older)])) == [("snli", "softmax")]


def test_the_decomposition_recovers_a_known_data_effect_and_loss_effect():
    d = grid.decompose(additive(), "stsb_spearman")
    assert d.grand == pytest.approx(GRAND)
    assert d.data == pytest.approx(DATA) and d.loss == pytest.approx(LOSS)
    assert d.share["residual"] == pytest.approx(0.0, abs=1e-12)
    assert d.share["data"] > d.share["loss"] > 0  # the data effects are the larger here


def test_an_interaction_goes_to_the_residual_and_a_missing_cell_is_allowed():
    bump = {("snli", "softmax"): -0.2, ("snli", "mnrl"): 0.1, ("snli", "cosine"): 0.1,
            ("udemy", "softmax"): 0.2, ("udemy", "mnrl"): -0.1, ("udemy", "cosine"): -0.1}  # rows and columns sum to zero
    d = grid.decompose(additive(bump), "stsb_spearman")
    assert d.data == pytest.approx(DATA) and d.loss == pytest.approx(LOSS)
    assert d.residual[("snli", "softmax")] == pytest.approx(-0.2) and d.share["residual"] > 0.1
    partial = grid.decompose(additive(skip={("greetings", "cosine")}), "stsb_spearman")
    assert partial.data == pytest.approx(DATA) and partial.loss == pytest.approx(LOSS)  # additive: still exact
    assert grid.decompose([rec("quora", "mnrl", 0.1)], "stsb_spearman") is None
    # one data set under three losses, the others under their seed loss only: the cells fit any effects exactly
    seeds_and_one_row = [r for r in additive() if r.params["data_set"] == "udemy" or r.params["variant"] == ""]
    assert grid.decompose(seeds_and_one_row, "stsb_spearman") is None
    assert (grid.decomposition_table(seeds_and_one_row) == "—").all().all() or grid.decomposition_table(seeds_and_one_row).empty


def test_the_shares_are_the_sums_of_squares_written_out_by_hand():
    """Complete grid: each share is its sum of squares over the total (4 data sets × 3 losses: the data effects
    count 3 times, the loss effects 4 times, the interaction once). A missing cell: the sums of squares are no
    longer orthogonal, and each share is its part over the sum of the parts (not over the total)."""
    ss_data, ss_loss = 3 * sum(v * v for v in DATA.values()), 4 * sum(v * v for v in LOSS.values())
    d = grid.decompose(additive(), "stsb_spearman")
    assert d.share == pytest.approx({"data": ss_data / (ss_data + ss_loss), "loss": ss_loss / (ss_data + ss_loss),
                                     "residual": 0.0}, abs=1e-12)
    r = 0.05
    bump = {("quora", "mnrl"): r, ("quora", "softmax"): -r, ("snli", "mnrl"): -r, ("snli", "softmax"): r}
    ss_res = 4 * r * r
    total = ss_data + ss_loss + ss_res
    d = grid.decompose(additive(bump), "stsb_spearman")
    assert d.share == pytest.approx({"data": ss_data / total, "loss": ss_loss / total, "residual": ss_res / total})

    skip = {("greetings", "cosine")}
    cells = [(g, loss) for g in DATA for loss in LOSS if (g, loss) not in skip]
    y = [GRAND + DATA[g] + LOSS[loss] for g, loss in cells]
    mean = sum(y) / len(y)
    part_data = sum((GRAND + DATA[g] - mean) ** 2 for g, _ in cells)
    part_loss = sum((GRAND + LOSS[loss] - mean) ** 2 for _, loss in cells)
    total = sum((v - mean) ** 2 for v in y)
    assert abs(part_data + part_loss - total) > 1e-4  # not orthogonal: over the total, the shares would not sum to 1
    d = grid.decompose(additive(skip=skip), "stsb_spearman")
    assert d.share == pytest.approx({"data": part_data / (part_data + part_loss), "loss": part_loss / (part_data + part_loss),
                                     "residual": 0.0}, abs=1e-12)


def test_a_cell_within_its_seed_spread_is_marked_not_significant():
    records = [rec("quora", "mnrl", c, seed=s) for c, s in ((0.010, 42), (-0.012, 43), (0.004, 44))]
    records += [rec("quora", "softmax", c, seed=s) for c, s in ((-0.30, 42), (-0.31, 43), (-0.29, 44))]
    table = grid.grid_table(records)
    assert table.loc["quora", ("mnrl", "STSb change")].endswith("(n.s.)")
    assert table.loc["quora", ("softmax", "STSb change")] == "-0.3000 ± 0.0100"
    assert table.loc["quora", ("softmax", "seeds")] == 3 and table.loc["quora", ("cosine", "STSb change")] == "—"


def test_transfer_matrix_is_the_mean_change_and_the_heatmap_shows_it():
    records = [rec("quora", "mnrl", 0.0, seed=42, transfer={"quora": 0.1, "snli": -0.2}),
               rec("quora", "mnrl", 0.0, seed=43, transfer={"quora": 0.3, "snli": -0.4}),
               rec("snli", "softmax", 0.0, transfer={"quora": -0.05, "snli": 0.2})]
    matrix = grid.transfer_matrix(records)
    assert list(matrix.columns) == ["quora: mrr@10", "snli: mrr@10"]
    assert matrix.loc["quora-mnrl", "quora: mrr@10"] == pytest.approx(0.2)
    assert matrix.loc["quora-mnrl", "snli: mrr@10"] == pytest.approx(-0.3)
    fig = figures.transfer_heatmap(matrix)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["quora-mnrl", "snli-softmax"]
    assert "+0.200" in [t.get_text() for t in ax.texts] and "change against the base model" in ax.get_title()
    assert any("transfer" in line.lower() and "snli-softmax (-0.050)" in line for line in grid.grid_conclusions(records))


def test_grid_conclusions_name_the_most_harmful_data_set_and_the_best_loss_per_data_set():
    lines = grid.grid_conclusions(additive())
    assert any("most harmful data set is snli (-0.3000" in line for line in lines)
    assert "snli: mnrl keeps STSb best (-0.2900), softmax least (-0.4400)." in lines
    assert any(line.startswith("STSb falls by more than 0.01 under every loss tried on: quora, snli") for line in lines)


def test_a_grid_cells_notebook_says_it_is_not_its_seed_pairing(capsys):
    from pairings.run.pipeline import Run

    Run.start("udemy-cosine", {"profile": "quick", "variant": "mnrl"}).params_table()
    assert capsys.readouterr().out.startswith("This run is a cell of the data × loss grid: udemy × "
                                              "MultipleNegativesRankingLoss, the recipe of udemy-cosine under another "
                                              "loss; the notes of this notebook describe udemy-cosine "
                                              "(CosineSimilarityLoss).")
    Run.start("udemy-cosine", {"profile": "quick", "variant": ""}).params_table()
    assert capsys.readouterr().out == ""


def test_a_grid_cell_is_not_an_ablation_and_an_ablation_compares_what_both_have():
    seed = [rec("snli", "softmax", -0.49, seed=s) for s in (42, 43)]
    for r in seed:
        r.task_metric = "nli_accuracy"
        r.metrics = {"before": {"nli_accuracy": 0.3, "stsb_spearman": 0.82}, "after": {"nli_accuracy": 0.64, "stsb_spearman": 0.33}}
    cell = rec("snli", "mnrl", -0.005)  # a record made later: the head-free metric the older seed records lack
    cell.task_metric = "entailment_auc"
    cell.after["entailment_auc"] = cell.before["entailment_auc"] = 0.8
    ablation = rec("snli", "softmax", -0.45, variant="longer")
    ablation.task_metric = "entailment_auc"
    ablation.after.update(entailment_auc=0.7, nli_accuracy=0.6)
    table = stats.ablations(seed + [cell, ablation])
    assert set(table.index.get_level_values("ablation")) == {"snli-softmax.longer"}
    # its own task metric (entailment AUC) is left out: the seed records lack it
    assert set(table.index.get_level_values("metric")) == {stats.label("stsb_spearman"), stats.label("nli_accuracy")}


def fitted(data_set, stsb_change, epochs=1, seed=42):
    """SoftmaxLoss with its head fitted first (epochs 0: the probe alone) on a data set."""
    pairing, own = SEED_PAIRING[data_set]
    kind = "lp" if epochs else "probe"
    r = rec(data_set, "softmax", stsb_change, seed=seed, variant=kind if own == "softmax" else f"softmax-{kind}")
    r.params.update(head_warmup_epochs=5, epochs=epochs)
    return r


def test_the_head_fitted_first_is_a_column_of_its_own_and_the_probe_no_cell():
    records = [*additive(), *(fitted(d, 0.01) for d in DATA), *(fitted(d, 0.0, epochs=0) for d in DATA)]
    cells = grid.grid_cells(records)
    assert sorted({c for _, c in cells}) == ["cosine", "mnrl", "softmax", "softmax-lp"]
    assert all(len(runs) == 1 for runs in cells.values()) and len(cells) == 16  # the probes are in no cell
    assert grid.grid_column({"loss": "softmax", "variant": "normalized", "head_warmup_epochs": 5}) is None
    table = grid.grid_table(records)
    assert list(dict.fromkeys(c for c, _ in table.columns)) == ["mnrl", "softmax", "softmax-lp", "cosine"]
    # the card's decomposition ignores the fitted column; the fitted one puts it in softmax's place
    assert grid.decompose(records, "stsb_spearman").loss == pytest.approx(LOSS)
    d = grid.decompose(records, "stsb_spearman", grid.FITTED_LOSSES)
    changes = {("mnrl", d_): GRAND + DATA[d_] + LOSS["mnrl"] for d_ in DATA}
    changes.update({("cosine", d_): GRAND + DATA[d_] + LOSS["cosine"] for d_ in DATA})
    expected_grand = (sum(changes.values()) + 0.01 * len(DATA)) / (3 * len(DATA))
    assert d.grand == pytest.approx(expected_grand)
    assert d.loss["softmax-lp"] == pytest.approx(0.01 - expected_grand)
    assert set(d.loss) == {"mnrl", "softmax-lp", "cosine"}
    markdown = grid.grid_markdown(records)
    assert "With the head fitted first (softmax-lp in place of softmax)" in markdown


def test_the_fitted_head_table_sets_three_ways_of_softmax_side_by_side():
    records = [rec("snli", "softmax", -0.5, seed=s) for s in (42, 43)]
    records += [fitted("snli", -0.01, seed=s) for s in (42, 43)] + [fitted("snli", 0.0, epochs=0)]
    records += [rec("quora", "softmax", -0.3)]  # no fitted run: not in the table
    table = grid.fitted_head_table(records)
    assert list(table.index) == [("snli", "card's recipe"), ("snli", "head fitted first"), ("snli", "probe alone")]
    assert table.loc[("snli", "card's recipe"), "STSb change"] == "-0.5000 ± 0.0000"
    assert table.loc[("snli", "head fitted first"), "runs (seeds)"] == 2
    assert table.loc[("snli", "probe alone"), "STSb change"] == "0.0000"


def test_the_shares_interval_covers_a_known_share_and_shrinks_with_the_noise():
    """Synthetic records: a known additive grid (its shares written out above) plus seed noise. With no noise every
    resample is the grid itself: the interval is the point. With noise the interval widens and still holds the
    noiseless share; with noise ten times larger it is wider again."""
    import numpy as np

    from pairings.report import uncertainty

    def noisy(sd, seed=0):
        rng = np.random.default_rng(seed)
        return [rec(d, loss, GRAND + DATA[d] + LOSS[loss] + rng.normal(0, sd), seed=s)
                for d in DATA for loss in LOSS for s in (42, 43, 44)]

    ss_data, ss_loss = 3 * sum(v * v for v in DATA.values()), 4 * sum(v * v for v in LOSS.values())
    exact = ss_data / (ss_data + ss_loss)
    share, low, high = uncertainty.share_intervals(noisy(0.0), "stsb_spearman", resamples=50)["data"]
    assert share == pytest.approx(exact) and low == pytest.approx(exact) and high == pytest.approx(exact)
    share, low, high = uncertainty.share_intervals(noisy(0.01), "stsb_spearman", resamples=300)["data"]
    assert low < exact < high and 0 < high - low < 0.2
    _, wide_low, wide_high = uncertainty.share_intervals(noisy(0.1), "stsb_spearman", resamples=300)["data"]
    assert wide_high - wide_low > high - low
    table = uncertainty.intervals_table(noisy(0.01))
    assert table.loc["cells with one seed", "STSb change"] == "0" and "[" in table.loc["data", "STSb change"]


def test_the_grid_at_another_learning_rate_is_a_grid_of_its_own():
    """Cells at 2e-5 (variants lr2e-5 and <loss>-lr2e-5) are no cells of the cards' grid; at_rate sets them out as a
    grid of their own that every grid function reads as it reads the cards' one."""
    def at(d, loss, change, variant):
        r = rec(d, loss, change, variant=variant)
        r.params["learning_rate"] = 2e-5
        return r

    slow = [at("quora", "mnrl", -0.01, "lr2e-5"), at("quora", "softmax", -0.05, "softmax-lr2e-5"),
            at("snli", "softmax", -0.02, "lr2e-5"), at("snli", "mnrl", 0.0, "mnrl-lr2e-5")]
    cards = additive()
    assert grid.rate_tag(2e-5) == "lr2e-5"
    assert grid.grid_cells(cards + slow) == grid.grid_cells(cards)  # the cards' grid is unchanged by them
    seen = grid.at_rate(cards + slow, 2e-5)
    cells = grid.grid_cells(seen)
    assert sorted(cells) == [("quora", "mnrl"), ("quora", "softmax"), ("snli", "mnrl"), ("snli", "softmax")]
    assert grid.changes(cells[("quora", "softmax")], "stsb_spearman") == pytest.approx([-0.05])
    assert all(r.params["learning_rate"] == 2e-5 for r in seen) and slow[1].params["variant"] == "softmax-lr2e-5"
