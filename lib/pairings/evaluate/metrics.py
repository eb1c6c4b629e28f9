"""Evaluation with sentence-transformers evaluators; every function returns a plain dict of floats.

torch and sentence-transformers are imported where they are used: the data sets (``pairings.data``) import
this module, and what reads only records (the summary, the runner's checks) need not load them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from pairings.losses import head_features

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

UNRELATED_MAX_SCORE = 0.2  # STSb pairs rated at most 1 of 5: "on different topics"


def precision(model: SentenceTransformer, dtype: str):
    """The encodings inside the block: float32 as the model is (the default), or under ``torch.autocast`` in
    float16 / bfloat16 (``encode_dtype``: faster on a GPU, other numerics)."""
    import contextlib

    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=model.device.type, dtype=getattr(torch, dtype))


def stsb(model: SentenceTransformer, ds: Dataset, name: str = "stsb-test", prefix: str = "stsb") -> dict[str, float]:
    """Spearman (and Pearson) of cosine similarity against the gold scores (STSb; SICK-R with prefix "sick")."""
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    evaluator = EmbeddingSimilarityEvaluator(ds["sentence1"], ds["sentence2"], ds["score"],
                                             main_similarity="cosine", name=name, write_csv=False)
    result = evaluator(model)
    return {f"{prefix}_spearman": result[f"{name}_spearman_cosine"], f"{prefix}_pearson": result[f"{name}_pearson_cosine"]}


def unrelated_cosine(model: SentenceTransformer, ds: Dataset) -> dict[str, float]:
    """Embedding collapse: mean cosine of STSb pairs rated unrelated. Near 1 means everything looks alike."""
    pairs = ds.filter(lambda r: r["score"] <= UNRELATED_MAX_SCORE)
    a = model.encode(pairs["sentence1"], convert_to_tensor=True, normalize_embeddings=True)
    b = model.encode(pairs["sentence2"], convert_to_tensor=True, normalize_embeddings=True)
    return {"unrelated_cosine": float((a * b).sum(-1).mean())}


def retrieval(model: SentenceTransformer, queries: dict[str, str], corpus: dict[str, str],
              relevant: dict[str, set[str]], name: str, similarity: str = "cosine") -> dict[str, float]:
    """InformationRetrievalEvaluator: MRR@10, nDCG@10, Recall@1 and @10, by cosine (or "dot" product)."""
    from sentence_transformers import SimilarityFunction
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(queries, corpus, relevant, name=name, write_csv=False,
                                              mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1, 10],
                                              precision_recall_at_k=[1, 10], map_at_k=[10],
                                              score_functions={similarity: SimilarityFunction.to_similarity_fn(similarity)})
    result = evaluator(model)
    prefix = f"{name}_{similarity}_"
    return {key: result[prefix + key] for key in ("mrr@10", "ndcg@10", "recall@1", "recall@10")}


@functools.cache
def softmax_accuracy_evaluator() -> type:
    """SoftmaxAccuracyEvaluator, a sentence-transformers evaluator (its class made on first use)."""
    import torch
    from sentence_transformers.evaluation import SentenceEvaluator

    class SoftmaxAccuracyEvaluator(SentenceEvaluator):
        """Accuracy of a SoftmaxLoss head on labelled pairs (the loss's own classifier on our embeddings)."""

        def __init__(self, first: list[str], second: list[str], labels: list[int], head: torch.nn.Module,
                     name: str = "nli-test", batch_size: int = 64):
            super().__init__()
            self.first, self.second, self.labels = first, second, labels
            self.head, self.name, self.batch_size = head, name, batch_size
            self.primary_metric = "accuracy"

        def __call__(self, model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]:
            u = model.encode(self.first, convert_to_tensor=True, batch_size=self.batch_size)
            v = model.encode(self.second, convert_to_tensor=True, batch_size=self.batch_size)
            with torch.no_grad():
                logits = self.head.classifier(head_features(self.head, u, v))
            predicted = logits.argmax(-1).cpu().numpy()
            accuracy = float((predicted == np.asarray(self.labels)).mean())
            metrics = self.prefix_name_to_metrics({"accuracy": accuracy}, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return SoftmaxAccuracyEvaluator


def head_accuracy(model: SentenceTransformer, head: torch.nn.Module, first: list[str], second: list[str],
                  labels: list[int], name: str) -> float:
    """Accuracy of a trained SoftmaxLoss head on held-out labelled pairs."""
    evaluator = softmax_accuracy_evaluator()(first, second, labels, head, name=name)
    return evaluator(model)[f"{name}_accuracy"]


def cosine_auc(model: SentenceTransformer, first: list[str], second: list[str], positive: list[bool]) -> float:
    """Head-free: ROC AUC of cos(first, second) separating the positive pairs from the others."""
    from sklearn.metrics import roc_auc_score

    a = model.encode(first, convert_to_tensor=True, normalize_embeddings=True)
    b = model.encode(second, convert_to_tensor=True, normalize_embeddings=True)
    return float(roc_auc_score(positive, (a * b).sum(-1).cpu().numpy()))


def similarity_matrix(model: SentenceTransformer, sentences: list[str]) -> np.ndarray:
    """model.similarity of the embeddings, as the seed cards' usage example computes it."""
    emb = model.encode(sentences, convert_to_tensor=True)
    return model.similarity(emb, emb).cpu().numpy()


def mean_pairwise_cosine(model: SentenceTransformer, sentences: list[str]) -> float:
    """Mean cosine over all pairs of distinct sentences: near 1 when they collapse onto one point."""
    emb = model.encode(sentences, convert_to_tensor=True, normalize_embeddings=True)
    sims = emb @ emb.T
    n = len(sentences)
    return float((sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def pair_spearman(model: SentenceTransformer, ds: Dataset, a: str, b: str, name: str,
                  score: str = "label") -> dict[str, float]:
    """Spearman of the cosine of each (a, b) pair against its score (CosineSimilarityLoss's own target)."""
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    evaluator = EmbeddingSimilarityEvaluator(ds[a], ds[b], [float(x) for x in ds[score]], main_similarity="cosine",
                                             name=name, write_csv=False)
    return {"pair_spearman": evaluator(model)[f"{name}_spearman_cosine"]}


def zero_shot(model: SentenceTransformer, texts: list[str], labels: list[str], classes: list[str]) -> tuple[dict, np.ndarray]:
    """Classify each text by its nearest class-name embedding: accuracy, macro-F1 and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    emb = model.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    names = model.encode(classes, convert_to_tensor=True, normalize_embeddings=True)
    predicted = [classes[i] for i in (emb @ names.T).argmax(-1).cpu().tolist()]
    scores = {"zero_shot_accuracy": accuracy_score(labels, predicted),
              "zero_shot_macro_f1": f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)}
    return scores, confusion_matrix(labels, predicted, labels=classes)
