"""The way back: θ(α) between the base and the fine-tuned encoder, and the operating point of a curve."""

import pytest
import torch

from pairings.evaluate import interpolate, metrics
from pairings.params import Params
from pairings.train import base_model

TEXTS = ["A man plays a guitar.", "Someone is playing music.", "The market fell today.", "A cat sleeps."]


def test_alphas_run_from_the_base_to_the_fine_tuned_model():
    assert interpolate.alphas(3) == [0.0, 0.5, 1.0]
    assert interpolate.alphas(11)[1] == 0.1 and interpolate.alphas(11)[-1] == 1.0
    with pytest.raises(ValueError, match="interpolation_points' = 1"):
        interpolate.alphas(1)


def test_mixed_is_the_weighted_mean_of_the_float_tensors_and_exact_at_both_ends():
    base = {"w": torch.tensor([0.0, 2.0]), "ids": torch.tensor([0, 1])}
    tuned = {"w": torch.tensor([1.0, 4.0]), "ids": torch.tensor([0, 1])}
    assert torch.equal(interpolate.mixed(base, tuned, 0.25)["w"], torch.tensor([0.25, 2.5]))
    assert interpolate.mixed(base, tuned, 0.25)["ids"].dtype == torch.int64
    assert torch.equal(interpolate.mixed(base, tuned, 0)["w"], base["w"])
    assert torch.equal(interpolate.mixed(base, tuned, 1)["w"], tuned["w"])
    with pytest.raises(ValueError, match="differ in their weights"):
        interpolate.mixed(base, {"w": tuned["w"]}, 0.5)


def test_alpha_zero_and_one_give_the_base_and_the_fine_tuned_models_figures():
    """A 'fine-tuned' encoder (the base with its weights nudged) interpolated toward the base: at α = 0 the
    embeddings and STSb of the base model, at α = 1 the fine-tuned one's, to float32 rounding; the model is left
    fine-tuned, bit for bit."""
    model = base_model.load(Params.load("quick", "greetings-mnrl"))
    base = interpolate.state(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    tuned = interpolate.state(model)

    def embed(m):
        return {"emb": m.encode(TEXTS, convert_to_tensor=True)}

    points = interpolate.curve(model, base, 3, embed)
    with interpolate.weights(model, base):
        at_base = model.encode(TEXTS, convert_to_tensor=True)
    at_tuned = model.encode(TEXTS, convert_to_tensor=True)
    assert [p["alpha"] for p in points] == [0.0, 0.5, 1.0]
    assert torch.allclose(points[0]["emb"], at_base, atol=1e-6) and torch.allclose(points[-1]["emb"], at_tuned, atol=1e-6)
    assert not torch.allclose(at_base, at_tuned, atol=1e-3)  # the two ends differ: the test can fail
    assert all(torch.equal(v, tuned[k]) for k, v in model.state_dict().items())
    a = metrics.mean_pairwise_cosine(model, TEXTS)
    with interpolate.weights(model, base):
        b = metrics.mean_pairwise_cosine(model, TEXTS)
    assert a != b


def test_the_operating_point_is_the_furthest_point_within_the_tolerance():
    curve = [{"alpha": 0.0, "task": 0.50, "stsb_spearman": 0.820},
             {"alpha": 0.5, "task": 0.70, "stsb_spearman": 0.815},
             {"alpha": 0.75, "task": 0.74, "stsb_spearman": 0.805},
             {"alpha": 1.0, "task": 0.80, "stsb_spearman": 0.700}]
    point = interpolate.operating_point(curve, "alpha", "task")
    assert point["alpha"] == 0.5 and point["kept_share"] == pytest.approx(0.2 / 0.3) and not point["all_within"]
    assert "at α = 0.5 STSb stays within 0.01 of the base model's and keeps 67% of the MRR@10 gain (+0.200 of +0.300)" \
        == interpolate.describe(point, "alpha", "MRR@10")
    loose = interpolate.operating_point(curve, "alpha", "task", tolerance=0.2)
    assert loose["alpha"] == 1.0 and loose["kept_share"] == pytest.approx(1.0) and loose["all_within"]
    steps = [{"step": s, "task": t, "stsb_spearman": g} for s, t, g in ((0, 0.5, 0.82), (100, 0.4, 0.80), (200, 0.3, 0.7))]
    lost = interpolate.operating_point(steps, "step", "task")
    assert lost["step"] == 0 and lost["kept_share"] is None and lost["gain"] == pytest.approx(-0.2)
    assert interpolate.describe(lost, "step", "MRR@10").startswith("the fine-tune lost MRR@10 (-0.200): nothing to keep")


def test_the_way_back_figure_marks_both_ends_and_labels_each_alpha():
    import matplotlib

    matplotlib.use("Agg")
    from pairings.report import figures

    points = [{"alpha": a, "task": 0.5 + 0.3 * a, "stsb_spearman": 0.82 - 0.1 * a * a} for a in (0.0, 0.5, 1.0)]
    fig = figures.way_back(points, "MRR@10", "quora → MNRL")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0", "0.5", "1"]
    labels = ax.get_legend_handles_labels()[1]
    assert "base model (α = 0)" in labels and "fine-tuned (α = 1)" in labels


def test_a_runs_way_back_starts_at_its_before_figures_and_ends_at_its_after_figures(tmp_path, monkeypatch):
    """A tiny udemy run with interpolation_points: 3: at α = 0 the head-free task metric, STSb and SICK-R are the
    run's "before" figures, at α = 1 its "after" ones (to float32 rounding); the model is left fine-tuned; the record
    keeps the curve and its operating point."""
    monkeypatch.setenv("PAIRINGS_EVAL_CACHE", "off")
    from pairings.run.pipeline import Run

    p = Params.load("quick", "udemy-cosine", {"stsb_pairs": 40, "sick_pairs": 40, "test_pairs": 40, "train_pairs": 64,
                                              "transfer": False, "interpolation_points": 3, "batch_size": 16,
                                              "learning_rate": 1e-4, "output_dir": str(tmp_path)})
    run = Run(p)
    run.load_model(), run.load_data(), run.make_loss()
    before = run.evaluate("before")
    run.train()
    tuned = interpolate.state(run.model)
    after = run.evaluate("after")
    points = run.interpolation["points"]
    task = run.data.task.headline(None)
    assert [x["alpha"] for x in points] == [0.0, 0.5, 1.0] and run.interpolation["task_metric"] == task
    for end, figures in ((points[0], before), (points[-1], after)):
        assert end["task"] == pytest.approx(figures[task], abs=1e-6)
        assert end["stsb_spearman"] == pytest.approx(figures["stsb_spearman"], abs=1e-6)
        assert end["sick_spearman"] == pytest.approx(figures["sick_spearman"], abs=1e-6)
    assert before["stsb_spearman"] != after["stsb_spearman"]  # the two ends differ: the test can fail
    assert all(torch.equal(v, tuned[k]) for k, v in run.model.state_dict().items())
    rec = run.save()
    assert rec.way_back["operating_point"]["alpha"] in (0.0, 0.5, 1.0) and len(rec.way_back["points"]) == 3


def test_the_steps_along_training_are_evenly_spaced_inside_the_run():
    from pairings.train import along

    assert along.steps_for(100, 4) == [20, 40, 60, 80]
    assert along.steps_for(3, 10) == [1, 2] and along.steps_for(10, 0) == [] and along.steps_for(1, 3) == []


@pytest.mark.parametrize("train_loop", ["lean", "trainer"])
def test_evaluations_along_training_leave_the_training_as_it_was(tmp_path, monkeypatch, train_loop):
    """The same tiny run with and without eval_points: 2: the same logged losses and the same fine-tuned figures,
    bit for bit (the evaluations draw no random number and leave the model in training mode); the curve runs from
    the before evaluation (step 0) through the two evaluated steps to the after one."""
    monkeypatch.setenv("PAIRINGS_EVAL_CACHE", "off")
    from pairings.run.pipeline import Run

    def run(points):
        p = Params.load("quick", "udemy-cosine", {"stsb_pairs": 40, "sick_pairs": 40, "test_pairs": 40, "train_pairs": 96,
                                                  "transfer": False, "eval_points": points, "batch_size": 16,
                                                  "logging_steps": 1, "train_loop": train_loop,
                                                  "output_dir": str(tmp_path / str(points))})
        r = Run(p)
        r.load_model(), r.load_data(), r.make_loss()
        r.evaluate("before")
        r.train()
        r.evaluate("after")
        return r

    plain, along = run(0), run(2)
    assert along.training["loss_history"] == plain.training["loss_history"]
    assert along.after == plain.after and plain.along_training is None
    curve = along.along_training["points"]
    assert [x["step"] for x in curve] == [0, 2, 4, 6] and along.training["steps"] == 6
    assert curve[0]["stsb_spearman"] == along.before["stsb_spearman"] and curve[-1]["task"] == along.after[along.task_metric]
    assert curve[1]["stsb_spearman"] != curve[0]["stsb_spearman"]  # training moved it: the evaluations are real
    assert along.along_training["operating_point"]["step"] in (0, 2, 4, 6)
