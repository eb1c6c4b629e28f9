"""minilm-pairings: how the data and the loss shape a fine-tuned all-MiniLM-L6-v2.

One package per step of a run, in the order its data flow: ``params`` (the typed recipe), ``data`` (the data sets
and their held-out tasks), ``train``, ``evaluate``, ``report`` (records, statistics, figures, HTML); ``run`` on
top (the notebooks' steps, papermill, the command line). ``losses`` is the loss registry, ``config`` every path.
"""

__version__ = "0.1.0"

import os as _os
import warnings as _warnings

# Quiet, reproducible notebooks: no per-step prints or progress bars in the recorded outputs.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
_warnings.filterwarnings("ignore", message="IProgress not found")
