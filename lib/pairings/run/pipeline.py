"""The steps every pairing notebook shares, as one object: a notebook keeps only its own story.

    run = Run.start("snli-softmax", globals())   # the params papermill injected (or the profile's files)
    model = run.load_model()                     # 1. the base model
    data = run.load_data()                       # 2. the data, shaped for the loss
    loss = run.make_loss()                       # 3. the loss
    run.evaluate("before")                       # 4. the held-out task, STSb, SICK-R, collapse, transfer
    run.train()                                  # 5. training, and its loss curve beside the card's
    run.evaluate("after")                        # 6. the same evaluations after
    run.card_example()                           # 7. the seed card's usage example
    run.save()                                   # 9. the model (with its card) and the run record
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pairings import data as data_sets
from pairings import losses, progress
from pairings.data import seedcards
from pairings.evaluate import cache, interpolate, metrics
from pairings.params import Params, pairings
from pairings.report import cards, figures, record, tables
from pairings.train import along, base_model, head, speed, trainer


def transfer_tasks(params) -> dict[str, data_sets.Task]:
    """Every seed data set's held-out task as this profile builds it (its seed pairing's params file, else its
    recipe), each capped at ``transfer_pairs`` held-out pairs: the columns of the transfer matrix."""
    tasks = {}
    for pairing, name in data_sets.seed_pairings().items():
        data_set = data_sets.get(name)
        cap = {"test_pairs": params.transfer_pairs} if params.transfer_pairs else {}
        if pairing in pairings(params.profile):
            p = Params.load(params.profile, pairing)
        else:
            p = Params.from_mapping({"pairing": pairing, "profile": params.profile}, "transfer")
        if cap and (p.test_pairs is None or p.test_pairs > params.transfer_pairs):
            p = p.replace(origin="parameter 'transfer_pairs'", **cap)
        tasks[name] = data_set.load(p)[1]
    return tasks


PHASES = ("before", "after")
SMALL_TEST = 100  # held-out queries or pairs below which a report warns that its task metric cannot separate models


class Run:
    def __init__(self, params: Params):
        self.started = time.perf_counter()
        self.params = params
        self.data_set = data_sets.get(params.data_set)
        self.card = seedcards.for_pairing(params.pairing, params.data_set)
        self.model = self.data = self.loss = self.training = None
        self.metrics: dict[str, dict[str, float]] = {}
        self.transfer_tasks: dict[str, data_sets.Task] = {}
        self.transfer: dict[str, dict[str, float]] = {}  # phase → data set → its task's head-free metric
        self.examples: dict[str, Any] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.base_state = self.interpolation = None  # the way back: the base model's weights, then its curve
        self.along = self.along_training = None  # evaluations along training: the callback, then the curve
        self.eval_seconds = 0.0
        self.head_start: dict | None = None  # the head's weights when the fine-tune began (a loss with a head)
        self.head_report: dict | None = None  # head.diagnose after training

    @classmethod
    def start(cls, pairing: str, namespace: dict) -> "Run":
        """The run a notebook's parameters describe (see Params.from_notebook)."""
        params = Params.from_notebook(pairing, namespace)
        if params.torch_threads:
            import torch

            torch.set_num_threads(params.torch_threads)
        return cls(params)

    def params_table(self):
        """What the run is (data set, loss, profile, seed, sizes) in a few lines, every parameter folded below; a grid
        cell (a seed data set under another loss) says so first, since the notebook's prose describes its seed
        pairing's loss."""
        p, seed_loss = self.params, self.data_set.recipe.get("loss")
        if seed_loss and p.loss != seed_loss:
            print(f"This run is a cell of the data × loss grid: {self.data_set.name} × {losses.get(p.loss).label}, the "
                  f"recipe of {self.data_set.pairing} under another loss; the notes of this notebook describe "
                  f"{self.data_set.pairing} ({losses.get(seed_loss).label}).")
        sizes = ", ".join(f"{k.removesuffix('_pairs')} {'all' if v is None else f'{v:,}'}"
                          for k, v in (("train_pairs", p.train_pairs), ("test_pairs", p.test_pairs)))
        lines = [f"{p.run_name}: {self.data_set.title} under {losses.get(p.loss).label}, the {p.profile} profile, "
                 f"seed {p.seed}; {p.epochs} epoch(s) at batch size {p.batch_size}, learning rate {p.learning_rate:g}; "
                 f"pairs: {sizes}."]
        return tables.Folded(p, lines)

    # ---- 1-3: model, data, loss ---------------------------------------------------------------

    def load_model(self):
        progress.phase("load model")
        self.model = base_model.load(self.params)
        if self.params.interpolation_points:  # the base end of the way back
            self.base_state = interpolate.state(self.model)
        return self.model

    def load_data(self) -> data_sets.Prepared:
        """The runner ran this too, before any model loaded: bad data stop the study early."""
        self.data = self.data_set.prepare(self.params)
        if self.data.sanity.get("warnings"):
            print(f"data warnings: {'; '.join(self.data.sanity['warnings'])}")
        if self.params.transfer:
            self.transfer_tasks = transfer_tasks(self.params)
        return self.data

    def make_loss(self):
        """The loss, on the data set shaped for it (the shaping's reason is printed)."""
        p, shaped = self.params, self.data.shaped
        self.loss = losses.get(p.loss).make(self.model, shaped.num_labels, seed=p.seed)
        print(f"{losses.get(p.loss).label} on {self.data_set.name}: {self.data_set.shaping(p.loss)}")
        print(f"{len(shaped.dataset):,} training rows, columns {', '.join(shaped.dataset.column_names)}"
              + (f"; {shaped.num_labels} classes" if shaped.num_labels else ""))
        return self.loss

    @property
    def task_metric(self) -> str:
        return self.data.task.headline(self.params.loss)

    # ---- 4, 6: evaluation -----------------------------------------------------------------------

    def evaluate(self, phase: str) -> dict[str, float]:
        """The held-out task's metrics, STSb and SICK-R Spearman, the unrelated-pair cosine, and every seed
        data set's task (head-free: the transfer matrix); the card's example. The base model's evaluations
        ("before") are the same for every run of a profile: computed once (pairings.evaluate.cache). On the study's path
        (``fast_path``) the encoder runs packed on the CPU, as in training (no work on padding), and in a few
        static shapes replayed from CUDA graphs on a GPU (``speed.evaluation``): the padded model's embeddings."""
        progress.phase(f"evaluate {phase}")
        start = time.perf_counter()
        model, task, loss, dtype = self.model, self.data.task, self.loss, self.params.speed.encode_dtype
        model_key = f"{cache.model_fingerprint(model)} encode {dtype}" if phase == "before" else None

        def once(kind, data, compute, head=None):
            return compute() if model_key is None else cache.evaluation(kind, model_key, data, compute, head)

        fast = speed.evaluation(model) if self.params.speed.fast_path else contextlib.nullcontext()
        with metrics.precision(model, dtype), fast:
            own = once("task", task, lambda: {"metrics": task.evaluate(model, loss),
                                              "artifacts": dict(task.artifacts)}, loss)
            general = once("general", [self.data.stsb.dataset, self.data.sick and self.data.sick.dataset],
                           self._general)
            if self.transfer_tasks:
                self.transfer[phase] = once("transfer", self.transfer_tasks, lambda: {
                    name: t.transfer(model) for name, t in self.transfer_tasks.items()})
            if self.card and self.card.example:
                self.examples[phase] = metrics.similarity_matrix(model, self.card.example)
            if phase == "after" and self.head_start is not None:
                kind = "probe" if not self.params.epochs else "fitted" if self.params.head_warmup_epochs else "drawn"
                self.head_report = head.diagnose(model, loss, self.head_start, *self.data_set.head_pairs(self.data),
                                                 seed=self.params.seed, start_kind=kind)
        values = {**own["metrics"], **general}
        self.metrics[phase], self.artifacts[phase] = values, own["artifacts"]
        held = len(task.held_out())
        if phase == "before" and 0 < held < SMALL_TEST:
            print(f"Note: the held-out task has {held} queries or pairs (fewer than {SMALL_TEST}): its metric moves in "
                  f"steps of about 1/{held} and can saturate; too few to tell two models apart, read it as a check "
                  f"that the pipeline runs.")
        if phase == "after" and self.head_report:
            print(f"Head diagnostic ({self.head_report['pairs']}): {self.head_report['line']}")
        self.eval_seconds += time.perf_counter() - start
        if phase == "after" and self.along is not None and "before" in self.metrics:
            self.along_curve()
        if phase == "after" and self.params.interpolation_points:
            self.way_back()
        return values

    def head_free_scores(self, model) -> dict[str, float]:
        """What the way back and the evaluations along training score: the task's head-free headline ("task"),
        STSb and SICK-R."""
        out = {"task": self.data.task.transfer(model), **metrics.stsb(model, self.data.stsb.dataset)}
        if self.data.sick is not None:
            out.update(metrics.stsb(model, self.data.sick.dataset, name="sick-test", prefix="sick"))
        return out

    def way_back(self) -> dict:
        """The fine-tuned encoder moved back toward the base model (``interpolation_points`` α from 0 to 1), each
        scored head-free on the task, on STSb and on SICK-R; its operating point (the largest α within 0.01 STSb
        of the base model) and a figure."""
        progress.phase("the way back")
        start, p, name = time.perf_counter(), self.params, self.data.task.headline(None)
        fast = speed.evaluation(self.model) if p.speed.fast_path else contextlib.nullcontext()
        with metrics.precision(self.model, p.speed.encode_dtype), fast:
            points = interpolate.curve(self.model, self.base_state, p.interpolation_points, self.head_free_scores)
        point = interpolate.operating_point(points, "alpha", "task")
        self.interpolation = {"task_metric": name, "points": points, "operating_point": point,
                              "seconds": time.perf_counter() - start}
        print(f"The way back ({len(points)} points from the base model to the fine-tuned one, head-free "
              f"{tables.label(name)}): {interpolate.describe(point, 'alpha', tables.label(name))}.")
        figures.way_back(points, tables.label(name), title=f"{self.data_set.title} → {losses.get(p.loss).label}: "
                         f"the encoder interpolated toward the base model")
        self.eval_seconds += self.interpolation["seconds"]
        return self.interpolation

    def along_curve(self) -> dict:
        """The evaluations along training with the run's start (the before evaluation, step 0) and end (after):
        where the task gain comes and where general similarity goes; the earliest stop within 0.01 STSb."""
        name = self.data.task.headline(None)
        ends = []
        for step, values in ((0, self.before), (self.training["steps"], self.after)):
            if name not in values:  # a task whose head-free metric the loss's evaluation left out
                values = {**values, name: self.data.task.transfer(self.model)} if step else None
            ends.append(None if values is None else {"step": step, "task": values[name],
                        **{k: values[k] for k in ("stsb_spearman", "sick_spearman") if k in values}})
        points = [p for p in (ends[0], *self.along.results, ends[1]) if p is not None]
        point = interpolate.operating_point(points, "step", "task")
        self.along_training = {"task_metric": name, "points": points, "operating_point": point,
                               "seconds": self.along.seconds}
        print(f"Along training ({len(self.along.results)} evaluations between the start and the end, head-free "
              f"{tables.label(name)}): {interpolate.describe(point, 'step', tables.label(name))}.")
        figures.along_training(self.training["loss_history"], points, tables.label(name),
                               title=f"{self.data_set.title} → {losses.get(self.params.loss).label}: along training")
        return self.along_training

    def _general(self) -> dict[str, float]:
        """General similarity: STSb, SICK-R (where given) and the collapse of unrelated STSb pairs."""
        stsb, sick = self.data.stsb.dataset, self.data.sick
        out = {**metrics.stsb(self.model, stsb), **metrics.unrelated_cosine(self.model, stsb)}
        if sick is not None:
            out.update(metrics.stsb(self.model, sick.dataset, name="sick-test", prefix="sick"))
        return out

    def transfer_table(self):
        """Every seed data set's task, head-free, before and after: this run's row of the transfer matrix."""
        return tables.transfer(self.transfer, {name: t.headline(None) for name, t in self.transfer_tasks.items()})

    @property
    def before(self) -> dict[str, float]:
        return self.metrics["before"]

    @property
    def after(self) -> dict[str, float]:
        return self.metrics["after"]

    def comparison(self):
        return tables.comparison(self.before, self.after)

    def before_after(self, keys: list[str] | None = None, title: str = ""):
        keys = [k for k in keys or [self.task_metric, "stsb_spearman", "sick_spearman", "unrelated_cosine"] if k in self.after]
        return figures.before_after(self.before, self.after, keys, title=title or
                                    f"{self.data_set.title}: held-out task, STSb and collapse, before and after")

    # ---- 5: training ---------------------------------------------------------------------------

    def train(self) -> dict:
        """The fine-tune; with ``head_warmup_epochs``, the loss's head fitted alone on the frozen encoder first
        (``head.warm_up``), and with ``epochs: 0`` that probe alone (the encoder untouched)."""
        p = self.params
        warmup = None
        if head.has_head(self.loss) and not p.epochs:  # the probe alone: the warm-up is the phase that trains
            self.head_start = head.snapshot(self.loss)
        if p.head_warmup_epochs:
            progress.phase("fit the head")
            fast = speed.evaluation(self.model) if p.speed.fast_path else contextlib.nullcontext()
            with fast:
                warmup = head.warm_up(self.model, self.loss, self.data.train_dataset, epochs=p.head_warmup_epochs,
                                      learning_rate=p.head_warmup_lr, batch_size=p.batch_size, seed=p.seed,
                                      logging_steps=p.logging_steps)
            print(f"Head fitted on the frozen encoder: {warmup['epochs']} epoch(s), {warmup['steps']:,} steps at "
                  f"learning rate {warmup['learning_rate']:g} in {warmup['seconds']:.0f} s; its accuracy on the "
                  f"training rows {warmup['train_accuracy_before']:.3f} → {warmup['train_accuracy_after']:.3f}.")
        if head.has_head(self.loss) and p.epochs:
            self.head_start = head.snapshot(self.loss)  # drawn from the seed, or fitted by the warm-up
        progress.phase("train")
        if p.epochs:
            if p.eval_points:
                self.along = along.AlongTraining(self.model, self.head_free_scores, p.eval_points)
            self.training = trainer.fit(self.model, self.loss, self.data.train_dataset, p, p.resolved_output_dir(),
                                        callbacks=[self.along] if self.along else None)
            if self.along is not None:  # the evaluations are not training: out of its time
                self.training["train_seconds"] -= self.along.seconds
                ran = self.training["steps"] - (self.training["resumed_from_step"] or 0)
                self.training["seconds_per_step"] = self.training["train_seconds"] / max(ran, 1)
        else:  # the probe alone: the warm-up is the whole training, the encoder as it was
            self.training = {"loss_history": warmup["loss_history"], "steps": warmup["steps"],
                             "train_seconds": warmup["seconds"], "resumed_from_step": None,
                             "seconds_per_step": warmup["seconds"] / max(warmup["steps"], 1),
                             "path": "head only", "loop": "head only", "options": []}
        if warmup is not None:
            self.training["head_warmup"] = warmup
        print(tables.training_line(self.training))
        n = len(self.data.train_dataset)
        figures.loss_curve(self.training["loss_history"], self.card, batch_size=p.batch_size, loss=p.loss,
                           title=f"{self.data_set.title} → {losses.get(p.loss).label}, {p.profile} profile: "
                                 + (f"{n:,} rows × {p.epochs} epoch(s)" if p.epochs else
                                    f"the head alone, {n:,} rows × {p.head_warmup_epochs} epoch(s)"))
        return self.training

    def loss_tail(self) -> float:
        """The mean of the last tenth of the logged losses."""
        return tables.loss_tail(self.training["loss_history"])

    # ---- 7: the card's example -------------------------------------------------------------------

    def card_example(self):
        """The seed card's usage example: its sentences, and their similarity matrix for the base model,
        this run's and the card's."""
        if not self.examples:
            print("This pairing's data set has no seed card: no example to compare.")
            return None
        sims = self.example_similarity(labels=True)
        for i, sentence in enumerate(self.card.shown_example, 1):
            print(f"s{i}: {sentence!r}")
        figures.similarity_panels(self.card.example, sims)
        return tables.similarity_table(self.card.example, sims)

    def example_similarity(self, labels: bool = False) -> dict:
        names = (("base model", "fine-tuned (this run)", "seed card (reported)") if labels
                 else ("base", "fine_tuned", "card"))
        return dict(zip(names, (self.examples.get("before"), self.examples.get("after"), self.card.reported_similarity)))

    # ---- 9: save -------------------------------------------------------------------------------

    def save(self) -> dict:
        """Save the model (its card carries the fine-tuned evaluation) and write the run record."""
        progress.phase("save")
        p, prep = self.params, self.data
        record.check_finite(self.training, {**self.metrics, **{f"transfer {k}": v for k, v in self.transfer.items()}})
        common = {"sanity": prep.sanity, "train_source": p.train_data, "test_source": p.test_data, "stand_in": self.data_set.stand_in(p),
                  "train_pairs": len(prep.train_dataset), "stsb_pairs": len(prep.stsb.dataset),
                  "sick_pairs": len(prep.sick.dataset) if prep.sick else 0,
                  "train_problems": tables.problems(prep.train, list(self.data_set.text_columns))}
        if "in_batch_false_negatives" in prep.sanity:  # MNRL: computed once, by the data's sanity checks
            common["in_batch_false_negatives"] = prep.sanity["in_batch_false_negatives"]
        extra = {}
        if self.examples:
            extra = {"example": self.card.shown_example, "example_similarity": self.example_similarity()}
        for key in self.artifacts.get("after", {}):
            extra[key] = {"base": self.artifacts["before"].get(key), "fine_tuned": self.artifacts["after"][key]}
        rec = save_run(p, self.model, started=self.started, task_metric=self.task_metric,
                              before=self.before, after=self.after,
                              data={**common, **self.data_set.record_data(p, prep)}, training=self.training,
                              timings={"eval_seconds": self.eval_seconds}, extra=extra, head=self.head_report,
                              way_back=self.interpolation, along_training=self.along_training,
                              transfer=self.transfer and {
                                  "metrics": {name: t.headline(None) for name, t in self.transfer_tasks.items()},
                                  **self.transfer})
        print(f"record: {rec.run} ({rec.profile}), {rec.timings['total_seconds']:.0f} s in all")
        return rec


def save_run(params: Params, model, *, started: float, **fields) -> record.Record:
    """The last step of every pairing notebook: save the model with its card (sentence-transformers' card,
    the run's lineage and its evaluation before and after: pairings.report.cards) and write the run record into
    the run's output folder."""
    out = params.resolved_output_dir()
    skip_model = "model" in fields.pop("skip", ())
    timings = dict(fields.pop("timings", {}))
    base = cards.base_model_entry(base_model.source(params))
    rec = record.build(params, timings=timings, device=str(model.device), base_model=base, **fields)
    model_seconds = 0.0
    if not skip_model:
        t = time.perf_counter()
        cards.save(model, out / "model", rec)
        model_seconds = time.perf_counter() - t
    rec.timings.update({"save_model_seconds": model_seconds, "total_seconds": time.perf_counter() - started})
    record.write(rec, out)
    return rec
