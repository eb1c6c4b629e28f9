"""Encoding in a few static shapes for the GPU: texts sorted by length, tokenized in a few calls, each batch padded
to a length of the ladder (``bert.LENGTHS``) and the full batch size, replayed from a CUDA graph per shape, the
embeddings read once at the end; the evaluations use it on CUDA (``evaluation``), the packed encoder on the CPU."""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from pairings.train.speed.bert import LENGTHS, can_pack, encoder_of
from pairings.train.speed.packing import BaseModelOutput, packed, packed_forward

TOKENIZE_BATCHES = 16  # batches tokenized in one call of the tokenizer


class StaticEncoder:
    """``model.encode`` in a few static shapes, for the GPU: the texts sorted by length (as ``encode`` sorts
    them), tokenized in a few large calls, each batch padded to a length of :data:`LENGTHS` and the last
    one to the full batch size, all of them copied to the device at once; the encoder runs on the padded batch
    (``packed_forward(_padded=True)``: no data-dependent shape, no read by the host), each shape replayed from
    a CUDA graph captured at its first batch (``graphs``), the embeddings kept on the device and read once.
    The real tokens' outputs are the padded model's, whatever the padding (a masked key weighs exactly 0).

    Handles what the study's evaluations ask of ``encode`` (texts, batch size, normalising, numpy / tensor / list
    out, no prompt); any other call goes to the model's own ``encode``."""

    SUPPORTED = {"batch_size": 32, "show_progress_bar": None, "convert_to_numpy": True, "convert_to_tensor": False,
                 "normalize_embeddings": False, "precision": "float32", "output_value": "sentence_embedding",
                 "device": None, "truncate_dim": None, "pool": None, "chunk_size": None, "prompt": None,
                 "prompt_name": None, "task": None}

    def __init__(self, model, graphs: bool):
        self.model, self.graphs = model, graphs
        self.original = model.encode
        self.captured: dict[tuple[int, int], tuple] = {}  # (batch, length) -> (graph, static input, output)
        self.pool = None
        self.handled = self.replays = 0  # calls encoded here, batches run from a CUDA graph (for the tests)

    def _plain(self, args: tuple, kwargs: dict) -> tuple[list[str] | str | None, dict]:
        """The texts and options of a call this encoder handles, or (None, {})."""
        kwargs = dict(kwargs)
        texts = args[0] if args else kwargs.pop("inputs", kwargs.pop("sentences", None))
        if texts is not None and not isinstance(texts, str):  # a list, a datasets column, an array
            texts = texts.tolist() if isinstance(texts, np.ndarray) else list(texts)
        options = {**self.SUPPORTED, **kwargs}
        prompt = options["prompt"]
        if prompt is None:
            name = options["prompt_name"] or getattr(self.model, "default_prompt_name", None)
            prompt = (getattr(self.model, "prompts", None) or {}).get(name) if name else None
        if (len(args) > 1 or set(kwargs) - set(self.SUPPORTED) or prompt
                or options["precision"] not in (None, "float32")
                or options["output_value"] != "sentence_embedding"
                or options["device"] is not None or options["pool"] is not None
                or (options["truncate_dim"] or getattr(self.model, "truncate_dim", None))
                or any(type(m).__name__ == "Router" for m in self.model)
                or not (isinstance(texts, str) or (texts and all(isinstance(t, str) for t in texts)))):
            return None, {}
        return texts, options

    def __call__(self, *args, **kwargs):
        texts, options = self._plain(args, kwargs)
        if texts is None:
            return self.original(*args, **kwargs)
        single = isinstance(texts, str)
        self.handled += 1
        with torch.inference_mode():
            out = self.embed([texts] if single else list(texts), int(options["batch_size"]))
            if options["normalize_embeddings"]:
                out = F.normalize(out, p=2, dim=1)
        if options["convert_to_tensor"]:
            pass
        elif options["convert_to_numpy"]:
            out = out.cpu().float().numpy() if out.dtype == torch.bfloat16 else out.cpu().numpy()
        else:
            out = list(out)
        return out[0] if single else out

    def batches(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[tuple[list[str], torch.Tensor]]]:
        """The order of the texts (longest first), and each batch's features stacked ``[keys, batch, length]``
        on the host, padded to the batch size and a static length."""
        model = self.model
        order = np.argsort([-len(t) for t in texts], kind="stable")
        cap = model.max_seq_length or LENGTHS[-1]
        lengths = sorted({min(n, cap) for n in LENGTHS} | {cap})
        pad_id = model.tokenizer.pad_token_id or 0
        out = []
        step = batch_size * TOKENIZE_BATCHES
        for start in range(0, len(texts), step):
            features = model.tokenize([texts[i] for i in order[start:start + step]])
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]
            stacked = torch.stack([features[k] for k in keys])  # [keys, texts, longest]
            real = features["attention_mask"].sum(1)
            for a in range(0, stacked.shape[1], batch_size):
                rows = stacked[:, a:a + batch_size]
                length = next(n for n in lengths if n >= int(real[a:a + batch_size].max()))
                batch = torch.zeros(len(keys), batch_size, length, dtype=rows.dtype)
                batch[0] = pad_id
                width = min(length, rows.shape[2])
                batch[:, :rows.shape[1], :width] = rows[:, :, :width]
                batch[1, rows.shape[1]:, 0] = 1  # rows padding the batch: one token, so their attention is defined
                out.append((keys, batch))
        return order, out

    def embed(self, texts: list[str], batch_size: int) -> torch.Tensor:
        device = self.model.device
        order, batches = self.batches(texts, batch_size)
        flat = torch.cat([b.reshape(-1) for _, b in batches])
        if device.type == "cuda":
            flat = flat.pin_memory()
        flat = flat.to(device, non_blocking=True)  # one copy to the device
        chunks, at = [], 0
        for keys, batch in batches:
            view = flat[at:at + batch.numel()].view(batch.shape)
            at += batch.numel()
            chunks.append(self.run(keys, view)[:min(batch_size, len(texts) - len(chunks) * batch_size)].clone())
        embeddings = torch.cat(chunks)
        inverse = torch.from_numpy(np.argsort(order)).to(device, non_blocking=True)
        return embeddings[inverse]

    def forward(self, keys: list[str], batch: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(keys, batch)))["sentence_embedding"]

    def run(self, keys: list[str], batch: torch.Tensor) -> torch.Tensor:
        if not self.graphs:
            return self.forward(keys, batch)
        shape = tuple(batch.shape[1:])
        if shape not in self.captured:
            try:
                self.captured[shape] = self.capture(keys, batch)
            except Exception as error:  # noqa: BLE001 - any failure to capture: eager from here on
                print(f"static encoding: no CUDA graph ({type(error).__name__}: {error}); running eagerly")
                self.graphs = False
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                return self.forward(keys, batch)
        graph, inputs, output = self.captured[shape]
        inputs.copy_(batch)
        graph.replay()
        self.replays += 1
        return output

    def capture(self, keys: list[str], batch: torch.Tensor) -> tuple:
        """A CUDA graph of the forward on this batch's shape (warmed up on a side stream, as torch advises); under
        autocast without its weight cache, which a graph cannot keep."""
        autocast = (torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
                    if torch.is_autocast_enabled("cuda") else contextlib.nullcontext())
        inputs = batch.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), autocast:
            for _ in range(2):
                self.forward(keys, inputs)
        torch.cuda.current_stream().wait_stream(side)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool), autocast:
            output = self.forward(keys, inputs)
        return graph, inputs, output


@contextlib.contextmanager
def static_encoding(model, graphs: bool | None = None) -> Iterator[StaticEncoder | None]:
    """Within the block, ``model.encode`` is :class:`StaticEncoder`'s (CUDA graphs on a GPU unless ``graphs`` is
    False); yields it, or None where the encoder cannot run padded this way (``encode`` then is the model's)."""
    bert = encoder_of(model)
    if bert is None or not can_pack(bert) or BaseModelOutput is None:
        yield None
        return
    encoder = StaticEncoder(model, model.device.type == "cuda" if graphs is None else graphs)
    model.encode = encoder  # shadows the method
    bert.forward = functools.partial(packed_forward, bert, _padded=True)
    try:
        yield encoder
    finally:
        del model.encode, bert.forward


def evaluation(model):
    """How the study's path evaluates: on a GPU in static shapes (:func:`static_encoding`), elsewhere with the
    packed encoder (:func:`packed`: no work on padding, which the CPU would pay for)."""
    return static_encoding(model) if model.device.type == "cuda" else packed(model)
