"""minilm-pairings: how the data and the loss shape a fine-tuned all-MiniLM-L6-v2.

One package per step of a run, in the order its data flow: ``params`` (the typed recipe), ``data`` (the data sets
and their held-out tasks), ``train``, ``evaluate``, ``report`` (records, statistics, figures, HTML); ``run`` on
top (the notebooks' steps, papermill, the command line). ``losses`` is the loss registry, ``config`` every path.
"""

__version__ = "0.1.0"

import logging as _logging
import os as _os
import warnings as _warnings

# Quiet, reproducible notebooks: no per-step prints or progress bars in the recorded outputs.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
_warnings.filterwarnings("ignore", message="IProgress not found")


class _KnownWarning(_logging.Filter):
    """sentence-transformers' collator warns when a column named 'hypothesis' is not the first: its NLI triplets put
    it there, while SNLI's SoftmaxLoss rows are (premise, hypothesis, label) on purpose (the card's order). Known,
    checked, and kept out of the reports."""

    def filter(self, record: _logging.LogRecord) -> bool:
        return "is usually expected at index" not in record.getMessage()


_logging.getLogger("sentence_transformers.base.data_collator").addFilter(_KnownWarning())
