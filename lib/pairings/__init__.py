"""minilm-pairings: how the data and the loss shape a fine-tuned all-MiniLM-L6-v2.

One module per study step: ``params`` (the typed recipe), ``data``, ``train``, ``evaluate``,
``seedcards`` (what each seed model card reports), ``record`` (one JSON per run), ``report``
(figures, HTML) and ``runner`` (papermill over the notebooks). Paths live in ``config``.
"""

__version__ = "0.1.0"

import os as _os
import warnings as _warnings

# Quiet, reproducible notebooks: no per-step prints or progress bars in the recorded outputs.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
_warnings.filterwarnings("ignore", message="IProgress not found")
