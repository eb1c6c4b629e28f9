"""Evaluation: the metric functions over a model, built on sentence-transformers' evaluators (``metrics``; the data
sets' held-out tasks call them), and the base model's evaluations computed once per profile (``cache``)."""
