"""Every metric function against an independent computation on small fixed inputs: the embeddings come from the
base model once, and each reference is written here by hand (loops, NumPy) or taken from SciPy, never from the
evaluator the metric calls. A swapped label, a wrong normalisation or an off-by-one rank fails here."""

import math

import numpy as np
import pytest
import torch
from datasets import Dataset
from scipy import stats as scipy_stats

from pairings import losses
from pairings.evaluate import metrics
from pairings.params import Params
from pairings.train import base_model

SENTENCES = [
    "A man is playing a guitar.", "Someone plays an instrument.", "A woman is slicing an onion.",
    "A chef cuts vegetables.", "The stock market fell sharply today.", "Shares dropped at the close.",
    "A cat sleeps on the sofa.", "A kitten naps on a couch.", "It is raining in London.",
    "The weather in England is wet.", "Children play football in the park.", "Kids kick a ball outside.",
]
FIRST, SECOND = SENTENCES[0::2], SENTENCES[1::2]
SCORES = [4.2, 4.5, 3.9, 4.8, 4.6, 3.1]  # made-up gold scores; what matters is that both sides use the same


@pytest.fixture(scope="module")
def model():
    return base_model.load(Params.load("quick", "greetings-mnrl"))


@pytest.fixture(scope="module")
def emb(model):
    """Each sentence's raw (not normalised) embedding, by text."""
    vectors = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
    return dict(zip(SENTENCES, vectors.astype(np.float64)))


def cos(x, y):
    return float(np.dot(x, y) / math.sqrt(np.dot(x, x) * np.dot(y, y)))


def crossed_pairs():
    """Each first sentence with its own second (related) and with the next pair's second (unrelated)."""
    first = FIRST + FIRST
    second = SECOND + SECOND[1:] + SECOND[:1]
    return first, second, [True] * len(FIRST) + [False] * len(FIRST)


def test_stsb_is_spearman_and_pearson_of_the_cosines(model, emb):
    ds = Dataset.from_dict({"sentence1": FIRST, "sentence2": SECOND, "score": SCORES})
    cosines = [cos(emb[a], emb[b]) for a, b in zip(FIRST, SECOND)]
    got = metrics.stsb(model, ds)
    assert got["stsb_spearman"] == pytest.approx(scipy_stats.spearmanr(cosines, SCORES).statistic, abs=1e-6)
    assert got["stsb_pearson"] == pytest.approx(scipy_stats.pearsonr(cosines, SCORES).statistic, abs=1e-5)
    pairs = Dataset.from_dict({"a": FIRST, "b": SECOND, "label": SCORES})
    assert metrics.pair_spearman(model, pairs, "a", "b", "p")["pair_spearman"] == pytest.approx(got["stsb_spearman"], abs=1e-9)


def test_unrelated_cosine_is_the_mean_cosine_of_the_pairs_rated_unrelated(model, emb):
    first, second, related = crossed_pairs()
    scores = [0.8 if r else 0.1 for r in related]  # as general.load leaves them: gold / 5
    ds = Dataset.from_dict({"sentence1": first, "sentence2": second, "score": scores})
    expected = np.mean([cos(emb[a], emb[b]) for a, b, r in zip(first, second, related) if not r])
    assert metrics.unrelated_cosine(model, ds)["unrelated_cosine"] == pytest.approx(expected, abs=1e-5)


def test_cosine_auc_is_the_mann_whitney_u_over_positives_times_negatives(model, emb):
    first, second, positive = crossed_pairs()
    cosines = np.array([cos(emb[a], emb[b]) for a, b in zip(first, second)])
    pos, neg = cosines[np.array(positive)], cosines[~np.array(positive)]
    u = scipy_stats.mannwhitneyu(pos, neg).statistic
    assert metrics.cosine_auc(model, first, second, positive) == pytest.approx(u / (len(pos) * len(neg)), abs=1e-9)
    assert 0.5 < metrics.cosine_auc(model, first, second, positive) <= 1.0  # the base model tells them apart


def test_mean_pairwise_cosine_is_the_mean_over_distinct_pairs(model, emb):
    values = [cos(emb[a], emb[b]) for i, a in enumerate(SENTENCES) for j, b in enumerate(SENTENCES) if i != j]
    assert metrics.mean_pairwise_cosine(model, SENTENCES) == pytest.approx(np.mean(values), abs=1e-5)


def test_zero_shot_is_the_nearest_class_name_and_macro_f1_by_hand(model, emb):
    classes = ["music", "cooking", "finance", "animals", "weather", "sport"]
    labels = [c for c in classes for _ in (0, 1)]
    labels[0], labels[4], labels[8] = "finance", "music", "sport"  # some truths the model will miss: unequal classes
    names = dict(zip(classes, model.encode(classes, convert_to_numpy=True).astype(np.float64)))
    predicted = [max(classes, key=lambda c: cos(emb[t], names[c])) for t in SENTENCES]
    accuracy = np.mean([p == y for p, y in zip(predicted, labels)])
    f1 = []
    for c in classes:
        tp = sum(p == c and y == c for p, y in zip(predicted, labels))
        fp = sum(p == c and y != c for p, y in zip(predicted, labels))
        fn = sum(p != c and y == c for p, y in zip(predicted, labels))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    scores, confusion = metrics.zero_shot(model, SENTENCES, labels, classes)
    assert scores["zero_shot_accuracy"] == pytest.approx(accuracy)
    assert scores["zero_shot_macro_f1"] == pytest.approx(np.mean(f1))
    assert abs(np.mean(f1) - accuracy) > 1e-3  # macro F1 is not accuracy (nor micro F1) here
    assert confusion.sum() == len(SENTENCES) and np.trace(confusion) == round(accuracy * len(SENTENCES))
    assert confusion[classes.index(labels[0]), classes.index(predicted[0])] >= 1  # rows: truth, columns: prediction


def test_retrieval_ranks_by_cosine_as_written_out_by_hand(model, emb):
    """MRR@10, nDCG@10 (binary gains), Recall@1 and @10 for queries with one or two relevant documents."""
    queries = {f"q{i}": q for i, q in enumerate(FIRST)}
    corpus = {f"d{i}": d for i, d in enumerate(SENTENCES)}
    by_text = {d: k for k, d in corpus.items()}
    relevant = {f"q{i}": {by_text[SECOND[i]]} for i in range(len(FIRST))}
    relevant["q0"] = {by_text[SECOND[0]], by_text[SECOND[1]]}  # a query with two relevant documents
    mrr, ndcg, r1, r10 = [], [], [], []
    for q, text in queries.items():
        ranking = sorted(corpus, key=lambda d: -cos(emb[text], emb[corpus[d]]))[:10]
        hits = [d in relevant[q] for d in ranking]
        mrr.append(next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0))
        dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
        ndcg.append(dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant[q]), 10))))
        r1.append(sum(hits[:1]) / len(relevant[q]))
        r10.append(sum(hits) / len(relevant[q]))
    got = metrics.retrieval(model, queries, corpus, relevant, name="ref")
    assert got == pytest.approx({"mrr@10": np.mean(mrr), "ndcg@10": np.mean(ndcg),
                                 "recall@1": np.mean(r1), "recall@10": np.mean(r10)}, abs=1e-6)


def test_head_accuracy_is_what_softmaxloss_itself_predicts(model):
    """The evaluator rebuilds SoftmaxLoss's features ([u, v, |u - v|]) from encode(); the reference is the loss's
    own forward pass over the tokenised texts, with labels the head gets right and wrong."""
    head = losses.get("softmax").make(model, num_labels=3, seed=7)
    first, second, _ = crossed_pairs()
    model.eval()
    with torch.no_grad():
        features = [model.tokenize(first), model.tokenize(second)]
        _, logits = head(features, labels=None)
    predicted = logits.argmax(-1).tolist()
    labels = [(p + (i % 3 == 0)) % 3 for i, p in enumerate(predicted)]  # every third one wrong
    expected = np.mean([p == y for p, y in zip(predicted, labels)])
    assert 0 < expected < 1
    assert metrics.head_accuracy(model, head, first, second, labels, "ref") == pytest.approx(expected)
