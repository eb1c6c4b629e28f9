"""The lean training loop (``train_loop: lean``, the default with ``fast_path``): the same
``SentenceTransformerTrainer``'s batches (its dataloader and sampler), optimiser, schedule, clipping, callbacks and
log, without its per-step work. Every text is tokenized once into tables on the device; a batch is a gather of its
rows, padded to its longest text on the CPU, or to a length of ``speed.bert.LENGTHS`` on CUDA (one CUDA graph per
shape under ``torch_compile``); nothing is read back from the device between logging steps; its own checkpoints
(weights with the loss's head, optimiser, schedule, RNG, log) resume on the same batches. The arithmetic of a step
is the trainer's: float32, the same loss module, the same update (``tests/unit/test_loop.py`` checks batches,
learning rates, losses and weights against the trainer's own run).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from pairings.train.speed.bert import LENGTHS, encoder_of, static_length


class Tokenized:
    """Every row of a training set through the trainer's collator, once: one table per text column and model
    input (``input_ids``, ``attention_mask``, ...), padded to the column's longest text, on ``device``, with
    each row's length; and the labels. :meth:`batch` gives what the collator gives for those rows."""

    def __init__(self, trainer, dataset, device: torch.device, chunk: int = 2048):
        collate, n = trainer.data_collator, len(dataset)
        pad_id = getattr(getattr(trainer.model, "tokenizer", None), "pad_token_id", 0) or 0
        columns: list[dict[str, list[torch.Tensor]]] = []
        constants: list[dict] = []
        lengths: list[list[np.ndarray]] = []
        labels = []
        for start in range(0, n, chunk):
            part = dataset[start:start + chunk]
            rows = [dict(zip(part, values)) for values in zip(*part.values())]
            features, label = trainer.collect_features(collate(rows))
            if not columns:
                columns = [{} for _ in features]
                constants = [{k: v for k, v in f.items() if not torch.is_tensor(v)} for f in features]
                lengths = [[] for _ in features]
            for j, f in enumerate(features):
                mask = f["attention_mask"]
                if mask.shape[1] and not bool(mask[:, 0].all()):
                    raise ValueError("the lean loop needs right padding (the tokenizer pads on the left)")
                lengths[j].append(mask.sum(1).numpy())
                for key, value in f.items():
                    if torch.is_tensor(value):
                        columns[j].setdefault(key, []).append(value)
            if label is not None:
                labels.append(label)
        self.n = n
        self.lengths = [np.concatenate(parts) for parts in lengths]
        self.pad = {"input_ids": pad_id}
        self.tables = [{key: self._stack(parts, self.pad.get(key, 0)).to(device) for key, parts in col.items()}
                       for col in columns]
        self.constants = constants
        self.labels = torch.cat(labels).to(device) if labels else None
        self.device = device

    @staticmethod
    def _stack(parts: list[torch.Tensor], pad: int) -> torch.Tensor:
        width = max(p.shape[1] for p in parts)
        return torch.cat([torch.nn.functional.pad(p, (0, width - p.shape[1]), value=pad) for p in parts])

    def batch(self, rows: list[int], static: int | None = None,
              index: torch.Tensor | None = None) -> tuple[list[dict], torch.Tensor | None]:
        """The features and labels of these rows: each column padded to its longest text here, or, with
        ``static`` (the model's max_seq_length), to that text's :func:`bucket`. ``index``: the rows already on
        the device (a copy from the host's memory would wait for the GPU's queue every step)."""
        index = torch.as_tensor(rows, device=self.device) if index is None else index
        features = []
        for table, lengths, constants in zip(self.tables, self.lengths, self.constants):
            width = int(lengths[rows].max())
            if static:
                width = static_length(width, static)
            features.append({**{key: t.index_select(0, index)[:, :width] for key, t in table.items()}, **constants})
        labels = self.labels.index_select(0, index) if self.labels is not None else None
        return features, labels

    def padded(self, rows: list[int], features: list[dict]) -> bool:
        """Whether every text column of this batch has padding (a row shorter than the column's width): known
        here from the lengths on the host, without reading the attention mask back from the device."""
        return all(int(lengths[rows].min()) < f["input_ids"].shape[1] for lengths, f in zip(self.lengths, features))


class HostPadding:
    """transformers drops the attention mask of a batch without padding, and learns whether there is any by
    reading the mask back to the host (``padding_mask.all()`` in ``masking_utils``): a synchronisation with the
    GPU at every text column's forward, twice or three times a step. While :attr:`padded` (every text column of
    the batch is padded, :meth:`Tokenized.padded`), the answer, "keep the mask", is given without that read;
    otherwise transformers reads the mask as before. The decision, and so the arithmetic, is the same. Where
    transformers has no such function the context changes nothing."""

    def __init__(self):
        from transformers import masking_utils

        self.module, self.padded = masking_utils, False
        self.original = getattr(masking_utils, "_ignore_bidirectional_mask_sdpa", None)

    def __enter__(self) -> "HostPadding":
        original = self.original
        if original is not None:
            def ignore_mask(padding_mask, *args, **kwargs):
                if self.padded and padding_mask is not None:
                    return False
                return original(padding_mask, *args, **kwargs)

            self.module._ignore_bidirectional_mask_sdpa = ignore_mask
        return self

    def __exit__(self, *exc) -> None:
        if self.original is not None:
            self.module._ignore_bidirectional_mask_sdpa = self.original


class _Rows:
    """A collator that gives the row indices of a batch (the trainer's dataloader over a set of row numbers)."""

    def __init__(self, valid_label_columns):
        self.valid_label_columns = valid_label_columns

    def __call__(self, rows):
        return [r["row"] for r in rows]


def epoch_batches(trainer, n: int) -> Iterator[list[list[int]]]:
    """The row indices of every batch of every epoch, in the trainer's order: its own dataloader over ``n``
    rows (built as ``get_train_dataloader`` builds it, so the same sampler, generator and seed), iterated as the
    trainer iterates it (``set_epoch`` on the loader and on the batch sampler it wraps, then one pass)."""
    from datasets import Dataset

    dataset, collate = trainer.train_dataset, trainer.data_collator
    trainer.train_dataset = Dataset.from_dict({"row": list(range(n))})
    trainer.data_collator = _Rows(getattr(collate, "valid_label_columns", ["label", "score"]))
    try:
        loader = trainer.get_train_dataloader()
    finally:
        trainer.train_dataset, trainer.data_collator = dataset, collate
    epoch = 0
    while True:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        inner = getattr(getattr(loader, "batch_sampler", None), "batch_sampler", None)
        if hasattr(inner, "set_epoch"):
            inner.set_epoch(epoch)
        yield list(loader)
        epoch += 1


class Compiled:
    """The model's encoder through ``torch.compile(mode="reduce-overhead", dynamic=True)`` while active: one
    compilation for every shape, and on CUDA one recorded CUDA graph per batch shape. Only on CUDA (and when
    ``enabled``); the evaluation after training runs the plain encoder again (:meth:`restore`). Should the
    first compiled step fail, :meth:`give_up` restores the plain encoder and says why (the record keeps it)."""

    def __init__(self, model, enabled: bool):
        self.bert, self.failure, self.proven = encoder_of(model), None, False
        self.previous = vars(self.bert).get("forward") if self.bert is not None else None  # a patched forward
        device = next(model.parameters()).device
        self.active = bool(enabled and self.bert is not None and device.type == "cuda")
        if self.active:
            self.bert.forward = torch.compile(self.bert.forward, mode="reduce-overhead", dynamic=True)

    def give_up(self, err: BaseException) -> None:
        self.failure = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"
        self.restore()

    def restore(self) -> None:
        if self.active:
            if self.previous is not None:
                self.bert.forward = self.previous
            else:
                del self.bert.forward
            self.active = False


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(folder: Path) -> list[Path]:
    """The complete lean checkpoints in ``folder``, oldest first (a checkpoint is written to a temporary name
    and renamed when complete)."""
    return sorted(folder.glob("lean-*/state.pt"), key=lambda p: int(p.parent.name.split("-")[1]))


def _save(folder: Path, state: dict, keep: int = 2) -> None:
    target = folder / f"lean-{state['step']}"
    partial = folder / f".lean-{state['step']}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(state, partial / "state.pt")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    for old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old.parent, ignore_errors=True)


def _forward_backward(loss, features, labels, encoder: Compiled, optimizer) -> torch.Tensor:
    """One step's loss and gradients; the first compiled step, if compiling fails, again without compiling
    (from the same RNG state, so the step is the one it would have been)."""
    if not encoder.active:
        value = loss(features, labels)
        value.backward()
        return value
    torch.compiler.cudagraph_mark_step_begin()
    if encoder.proven:
        value = loss(features, labels)
        value.backward()
        return value
    rng = _rng_state()
    try:
        value = loss(features, labels)
        value.backward()
        encoder.proven = True
        return value
    except Exception as err:  # noqa: BLE001 - any compiler error: train on, without it, and say so
        encoder.give_up(err)
        optimizer.zero_grad(set_to_none=True)
        _set_rng_state(rng)
        return _forward_backward(loss, features, labels, encoder, optimizer)


def train(trainer, loss: torch.nn.Module, resume: bool = False, compile_encoder: bool = True, word_grad=None) -> dict:
    """Train as ``trainer.train()`` would, leanly. Returns the steps, whether the encoder was compiled and the
    step resumed from (None: from the start); the log is ``trainer.state.log_history``, as the trainer's.
    ``word_grad``: the packed encoder's word-embedding gradient (speed.WordGrad), whose rows never touched the
    optimiser then skips (the same update)."""
    import transformers

    args, model = trainer.args, trainer.model
    device = next(model.parameters()).device
    loss.to(device)
    data = Tokenized(trainer, trainer.train_dataset, device)
    epochs = epoch_batches(trainer, data.n)
    size = args.per_device_train_batch_size
    per_epoch = data.n // size if args.dataloader_drop_last else -(-data.n // size)
    n_epochs = int(args.num_train_epochs)
    total = per_epoch * n_epochs
    trainer.create_optimizer_and_scheduler(num_training_steps=total)
    optimizer, scheduler = trainer.optimizer, trainer.lr_scheduler
    handler = trainer.callback_handler
    handler.optimizer, handler.lr_scheduler = optimizer, scheduler
    trainer.state = state = transformers.TrainerState()
    state.max_steps, state.num_train_epochs, state.train_batch_size = total, n_epochs, size
    state.logging_steps, state.save_steps = args.logging_steps, args.save_steps
    trainer.control = transformers.TrainerControl()
    folder = Path(args.output_dir)
    save_every = args.save_steps if args.save_strategy == "steps" else 0

    step, saved = 0, None
    found = checkpoints(folder) if resume else []
    if found:
        saved = torch.load(found[-1], map_location=device, weights_only=False)
        loss.load_state_dict(saved["loss"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state.log_history = saved["log_history"]
        step = state.global_step = saved["step"]

    rows_only = word_grad is not None and word_grad.attach(optimizer)  # after the state is loaded
    clip = word_grad.clip if rows_only else torch.nn.utils.clip_grad_norm_  # the same norm, on the touched rows
    static = model.max_seq_length if device.type == "cuda" else None
    clipped = [p for p in model.parameters() if p.requires_grad]  # the trainer clips the model's, not a head's
    model.train()
    optimizer.zero_grad(set_to_none=True)
    trainer.control = handler.on_train_begin(args, state, trainer.control)
    running, last_logged, grad_norm = torch.zeros((), device=device), step, None
    encoder = Compiled(model, compile_encoder)
    pending_rng = saved["rng"] if saved else None  # restored once, where the checkpoint was taken
    with HostPadding() as masks:  # and back to transformers' own check when training ends
        try:
            for epoch in range(n_epochs):
                first = epoch * per_epoch
                if pending_rng is not None and step == first:  # resumed at this epoch's start: before its shuffle
                    _set_rng_state(pending_rng)
                    pending_rng = None
                batches = next(epochs)  # the sampler's order of every epoch, replayed up to the resumed one
                # the epoch's rows on the device in one copy; a batch is a slice of them
                rows = torch.as_tensor([r for b in batches for r in b], device=device)
                ends = np.cumsum([0] + [len(b) for b in batches]).tolist()
                if pending_rng is not None and first < step < first + per_epoch:  # resumed within this epoch
                    _set_rng_state(pending_rng)
                    pending_rng = None
                for i in range(max(step - first, 0), per_epoch):
                    trainer.control = handler.on_step_begin(args, state, trainer.control)
                    features, labels = data.batch(batches[i], static, rows[ends[i]:ends[i + 1]])
                    masks.padded = data.padded(batches[i], features)
                    value = _forward_backward(loss, features, labels, encoder, optimizer)
                    running += value.detach()
                    if args.max_grad_norm and args.max_grad_norm > 0:
                        grad_norm = clip(clipped, args.max_grad_norm)
                    learning_rate = scheduler.get_last_lr()[0]
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)  # the model's and a loss head's
                    step += 1
                    state.global_step, state.epoch = step, epoch + (i + 1) / per_epoch
                    trainer.control = handler.on_step_end(args, state, trainer.control)
                    if (step == 1 and args.logging_first_step) or step % args.logging_steps == 0:
                        logs = {"loss": running.item() / (step - last_logged), "learning_rate": learning_rate}
                        if grad_norm is not None:
                            logs["grad_norm"] = float(grad_norm)
                        trainer.log(logs)
                        running.zero_()
                        last_logged = step
                    if save_every and step % save_every == 0:
                        _save(folder, {"step": step, "loss": loss.state_dict(), "optimizer": optimizer.state_dict(),
                                       "scheduler": scheduler.state_dict(), "log_history": state.log_history,
                                       "rng": _rng_state()}, keep=args.save_total_limit or 2)
                    if trainer.control.should_training_stop:  # a callback stopped it (the benchmark's timer)
                        break
                if trainer.control.should_training_stop:
                    break
        finally:
            encoder.restore()
            if word_grad is not None:
                word_grad.detach()
    trainer.control = handler.on_train_end(args, state, trainer.control)
    options = ["lean loop (the trainer's batches, optimiser and schedule; texts tokenized once; no per-step sync)"]
    if static:
        options.append(f"batches padded to static lengths {', '.join(map(str, LENGTHS))} (capped at max_seq_length)")
    if encoder.proven:
        options.append('torch.compile(mode="reduce-overhead") of the encoder: CUDA graphs')
    elif encoder.failure:
        options.append(f"torch.compile of the encoder failed at the first step, trained without it ({encoder.failure})")
    return {"steps": step, "options": options, "resumed_from": saved["step"] if saved else None}
