"""The numbers in the prose of docs/results.md (the README's results), each rebuilt from the local records: a bullet
that quotes a record which has since been replaced, or rounds differently from its table, fails here. (The tables
themselves are checked verbatim in test_reports.py.) ``python tests/unit/test_results_claims.py`` prints the phrases."""

from __future__ import annotations

import numpy as np

from pairings import config
from pairings.report import grid, record


def claims() -> list[str]:
    """Each phrase the results document's (docs/results.md) prose must contain, with its numbers computed from reports/local/*.json."""
    by = {r.run: r for r in record.load_all("local")}

    def after(run, metric=None):
        r = by[run]
        return r.after[metric or r.task_metric]

    def change(run, metric=None):
        r = by[run]
        metric = metric or r.task_metric
        return r.after[metric] - r.before[metric]

    stsb, unrelated = "stsb_spearman", "unrelated_cosine"
    head = by["greetings-mnrl.softmax-probe"].head["accuracy"]["trained"]
    card = grid.decompose(list(by.values()), stsb)
    fitted = grid.decompose(list(by.values()), stsb, grid.FITTED_LOSSES)
    lp_seeds = [change(f"snli-softmax.lp{s}", stsb) for s in ("", "-seed43", "-seed44")]
    return [
        # SNLI: the head fitted first beats both
        f"NLI accuracy {after('snli-softmax.lp'):.3f} against the card's whole fine-tune's {after('snli-softmax'):.3f} "
        f"and the probe's {after('snli-softmax.probe'):.3f}",
        f"({after('snli-softmax.lp', stsb):.4f} against {by['snli-softmax.lp'].before[stsb]:.4f}; the card's recipe "
        f"ends at {after('snli-softmax', stsb):.4f})",
        f"(cosine {after('snli-softmax.lp', unrelated):.3f}; the card's recipe: {after('snli-softmax', unrelated):.3f})",
        f"STSb {np.mean(lp_seeds):+.4f} ± {np.std(lp_seeds, ddof=1):.4f} over seeds 42–44",
        # Quora, Udemy, NCERT: ordinary fine-tunes
        f"Quora keeps its retrieval (MRR@10 {after('quora-mnrl.softmax-lp'):.3f}, the card's MNRL {after('quora-mnrl'):.3f})",
        f"({change('udemy-cosine.softmax-lp'):+.3f} against {change('udemy-cosine'):+.3f}) for "
        f"{change('udemy-cosine.softmax-lp', stsb):+.3f} STSb against {change('udemy-cosine', stsb):+.3f} "
        f"(MNRL: {change('udemy-cosine.mnrl'):+.3f} and {change('udemy-cosine.mnrl', stsb):+.3f})",
        f"NCERT keeps its general similarity (STSb {change('ncert-mnrl.softmax-lp', stsb):+.3f} against the card's "
        f"{change('ncert-mnrl.softmax', stsb):+.3f}) but not its task: MRR@10 {by['ncert-mnrl.softmax-lp'].before['mrr@10']:.3f} "
        f"→ {after('ncert-mnrl.softmax-lp'):.3f} (the card's SoftmaxLoss {after('ncert-mnrl.softmax'):.3f}, MNRL "
        f"{after('ncert-mnrl'):.3f})",
        # greetings: noise to fit
        f"the probe reaches {head:.3f} on its training rows (chance 0.5)",
        f"STSb {change('greetings-mnrl.softmax-lp', stsb):+.3f} (the card's SoftmaxLoss "
        f"{change('greetings-mnrl.softmax', stsb):+.3f}; MNRL on the same pairs {change('greetings-mnrl', stsb):+.3f})",
        f"unrelated STSb pairs' cosine {after('greetings-mnrl.softmax-lp', unrelated):.3f}",
        # the decomposition
        f"falls from {card.share['loss']:.0%} to {fitted.share['loss']:.0%}",
        f"all five data sets), the loss explains {fitted.share['loss']:.0%} of the STSb variation and the data set "
        f"{fitted.share['data']:.0%}",
    ]


def test_every_number_in_the_results_prose_is_the_records():
    results = " ".join((config.PROJ_ROOT / "docs" / "results.md").read_text(encoding="utf-8").split())
    missing = [c for c in claims() if c not in results]
    assert not missing, "docs/results.md should say (from the records):\n" + "\n".join(missing)


if __name__ == "__main__":
    print("\n".join(claims()))
