"""Training: the base model, the loss by name, and SentenceTransformerTrainer with the seed card's arguments."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import torch
import transformers
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from pairings import progress
from pairings.data import seedcards
from pairings.losses import own_weights
from pairings.params import Params
from pairings.train import base_model, loop, speed

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

def card_optimizer(params: Params) -> str:
    """The AdamW implementation the seed card's trainer used (its ``optim``; the plain path uses it)."""
    card = seedcards.for_pairing(params.pairing, params.data_set)
    return card.hyperparameters.get("optim", "adamw_torch") if card else "adamw_torch"


def training_arguments(params: Params, output_dir: Path) -> SentenceTransformerTrainingArguments:
    """The seed cards' arguments: AdamW, linear decay, no warmup, fp32, the pairing's batch size and epochs."""
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=params.warmup_ratio if params.warmup_ratio else 0,  # a float is a ratio (transformers 5)
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=params.seed,
        logging_steps=params.logging_steps,
        logging_first_step=True,
        save_strategy="steps" if params.checkpoint_steps else "no",
        save_steps=params.checkpoint_steps or 500,
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        use_cpu=base_model.device(params) == "cpu",
        optim="adamw_torch_fused" if params.speed.fast_path else card_optimizer(params),
        # SoftmaxLoss's classifier at its own learning rate (sentence-transformers' mapping of parameter names)
        **({"learning_rate_mapping": {r"^classifier\.": params.learning_rate * params.head_lr_multiplier}}
           if params.head_lr_multiplier != 1 else {}),
    )


def _step(checkpoint: Path) -> int:
    """The training step a ``checkpoint-<step>`` folder was saved at."""
    return int(checkpoint.name.split("-")[1])


HEAD_FILE = "loss_head.pt"


class SaveHead(transformers.TrainerCallback):
    """The trainer's checkpoints keep the model, optimiser, schedule and RNG states but not a loss's own weights:
    a run resumed from one would go on with SoftmaxLoss's classifier as initialised. This saves them beside each
    checkpoint (``loss_head.pt``), last, so that a checkpoint with it is complete."""

    def __init__(self, loss: torch.nn.Module):
        self.loss = loss

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        tmp = folder / f"{HEAD_FILE}.partial"
        torch.save(own_weights(self.loss), tmp)
        tmp.replace(folder / HEAD_FILE)


def complete_checkpoints(folder: Path, loss: torch.nn.Module) -> list[Path]:
    """The trainer's checkpoints an interruption did not cut short, oldest first: its trainer_state.json is
    written last, and for a loss with weights of its own, the head after it."""
    need = [HEAD_FILE] if own_weights(loss) else []
    return sorted((c for c in folder.glob("checkpoint-*")
                   if all((c / name).is_file() for name in ["trainer_state.json", *need])), key=_step)


class ZeroLossGrads(transformers.TrainerCallback):
    """Clears the gradients of a loss's own weights (SoftmaxLoss's classifier) after every step, which the
    trainer's ``model.zero_grad()`` does not reach: sentence-transformers < 6.2 (6.0.1 is the GPU image's) lets
    them add up over the steps; 6.2 clears them itself, and clearing them twice changes nothing."""

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:
            optimizer.zero_grad()


class TouchedRowsOnly(transformers.TrainerCallback):
    """Once the trainer has its optimiser, its AdamW step covers only the word-embedding rows some step has
    touched (:meth:`speed.WordGrad.attach`: the same update, where it is one)."""

    def __init__(self, grads: speed.WordGrad):
        self.grads = grads

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:
            self.grads.attach(optimizer)

    def on_train_end(self, args, state, control, **kwargs):
        self.grads.detach()


def make_trainer(model: SentenceTransformer, loss: torch.nn.Module, train: Dataset, params: Params,
                 output_dir: Path, callbacks: list | None = None) -> SentenceTransformerTrainer:
    """The trainer with the seed card's arguments (``training_arguments``), the run's progress callbacks and no
    printed log (the history is plotted instead)."""
    with contextlib.redirect_stderr(io.StringIO()):  # the model card's "Computing widget examples" bar
        trainer = SentenceTransformerTrainer(model=model, args=training_arguments(params, Path(output_dir)),
                                             train_dataset=train, loss=loss,
                                             callbacks=[*(callbacks or []), *progress.callbacks()])
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    if own_weights(loss):
        trainer.add_callback(ZeroLossGrads())
    return trainer


def fit(model: SentenceTransformer, loss: torch.nn.Module, train: Dataset, params: Params,
        output_dir: Path, callbacks: list | None = None) -> dict:
    """Train; return the loss history [[step, loss], ...], steps and seconds.

    With ``checkpoint_steps`` the trainer (or the lean loop) saves model, optimizer, scheduler and RNG states
    every N steps under ``<output_dir>/checkpoints``; ``resume`` continues from the latest, on the same data
    order. The study's path packs the encoder (pairings.train.speed) except in the lean loop on CUDA, which pads to
    static shapes for CUDA graphs instead (pairings.train.loop)."""
    head = bool(own_weights(loss))
    trainer = make_trainer(model, loss, train, params, output_dir,
                           [*(callbacks or []), *([SaveHead(loss)] if head and params.checkpoint_steps else [])])
    lean = params.speed.lean_loop
    if params.resume:  # said before training, not found out from the record afterwards
        folder = Path(trainer.args.output_dir)
        if not (loop.checkpoints(folder) if lean else complete_checkpoints(folder, loss)):
            print(f"resume: no complete checkpoint under {folder}: training from the start")
    pack = params.speed.fast_path and not (lean and base_model.device(params) == "cuda")
    start = time.perf_counter()
    with speed.packed(model, params.speed.fast_dropout) if pack else contextlib.nullcontext() as packed:
        if lean:
            result = loop.train(trainer, trainer.loss, resume=params.resume, compile_encoder=params.speed.torch_compile,
                                word_grad=packed)
            steps, first, lean_options = result["steps"], result["resumed_from"] or 0, result["options"]
        else:
            rows = TouchedRowsOnly(packed) if packed is not None else None
            if rows is not None:
                trainer.add_callback(rows)
            # an interruption while a checkpoint was being saved leaves it incomplete: the one before is resumed
            checkpoints = complete_checkpoints(Path(trainer.args.output_dir), loss)
            resumed_from = checkpoints[-1] if params.resume and checkpoints else None
            if resumed_from is not None and head:
                trainer.loss.load_state_dict(torch.load(resumed_from / HEAD_FILE, map_location=model.device),
                                             strict=False)
            steps = trainer.train(resume_from_checkpoint=str(resumed_from) if resumed_from else None).global_step
            first, lean_options = (_step(resumed_from) if resumed_from else 0), []
            if rows is not None:
                trainer.remove_callback(rows)
    seconds = time.perf_counter() - start
    # the model card lists the evaluations of the fine-tuned model only, not those of the base before it
    getattr(model.model_card_data, "eval_results_dict", {}).clear()
    history = [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h]
    return {"loss_history": history, "steps": steps, "train_seconds": seconds,
            "resumed_from_step": first or None,
            "seconds_per_step": seconds / max(steps - first, 1),  # the steps this call ran
            "path": "fast" if params.speed.fast_path else "trainer",
            "loop": "lean" if lean else "trainer",
            "options": lean_options + speed.options(params.speed.fast_path, packed is not None, params.speed.fast_dropout, packed)}
