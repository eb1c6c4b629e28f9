"""Training: the base model (``base_model``), the fine-tune with the seed card's arguments in
sentence-transformers' trainer or the study's lean loop (``trainer``, ``loop``), the study's faster training path
(``speed``), and a loss's own head fitted first and diagnosed (``head``)."""
