"""AdamW and gradient clipping over the word-embedding rows a step touched: the packed encoder's one gradient
buffer for the whole training, and the optimiser's step restricted to the rows some step has touched (an untouched
row has zero gradient and moments, so AdamW without weight decay leaves it as it is: the same update)."""

from __future__ import annotations

import torch
from torch.optim.adam import adam as adam_step  # the function torch's Adam and AdamW steps call


class WordGrad:
    """The packed encoder's word-embedding gradient: one buffer for the whole training, into which each pass's
    backward adds its rows (``index_add_``: the sums the plain embedding backward makes), and the rows touched.

    * When a step starts (``weight.grad`` set to None by ``zero_grad``) the buffer is handed out again with
      only the rows the last step touched zeroed: nothing else in it was ever written (clipping scales its zeros).
    * :meth:`attach` makes the optimiser's AdamW step cover only the rows some step has touched. A row never
      touched has zero gradient and zero moments, and AdamW without weight decay moves it by exactly
      ``lr * 0 / (sqrt(0) + eps) = 0``; so the update of the rows touched, by the same fused AdamW function
      with the group's hyper-parameters, is the whole update. Its moments live in the optimiser's state under
      the usual keys (checkpoints and resume keep them). Only for fused AdamW without weight decay, amsgrad or
      maximize (the study's path); otherwise the optimiser steps as it is."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight
        self.buffer: torch.Tensor | None = None
        self.dirty: list[torch.Tensor] = []  # the ids added into the buffer since it was last handed out
        self.live: torch.Tensor | None = None  # rows some step has touched (bool), once attached
        self._rows: torch.Tensor | None = None  # ``dirty`` as unique rows, once asked for
        self.stepped = self.clipped = False  # whether AdamW / clipping ever ran on the touched rows (the record's)
        self._optimizer, self._hooks, self._held = None, [], None

    def add(self, ids: torch.Tensor, grad: torch.Tensor) -> None:
        weight = self.weight
        if weight.grad is None:
            buffer = self.buffer
            if buffer is None or buffer.shape != weight.shape or buffer.device != weight.device:
                buffer = self.buffer = torch.zeros_like(weight)
            elif self.dirty:
                buffer.index_fill_(0, self.touched(), 0.0)
            self.dirty = []
            weight.grad = buffer
        elif weight.grad is not self.buffer:  # not ours (someone set it): its every row may be written
            self.buffer, self.dirty = None, []
        weight.grad.index_add_(0, ids, grad.to(weight.grad.dtype))
        if weight.grad is self.buffer:
            self.dirty.append(ids)
        self._rows = None

    def touched(self) -> torch.Tensor:
        """The rows written into the buffer since it was last handed out (this step's), each once."""
        if self._rows is None:
            self._rows = torch.cat(self.dirty).unique()
        return self._rows

    def options(self) -> list[str]:
        """What the record says of it: what ran on the touched rows only."""
        return (["AdamW over the word-embedding rows touched so far (the others' update is exactly 0)"] * self.stepped
                + ["gradient clipping reads the word-embedding gradient's touched rows only"] * self.clipped)

    def attach(self, optimizer) -> bool:
        """AdamW on the touched rows only (see the class); False, and nothing changed, where it would not be
        the same update. ``optimizer``: a torch optimiser, or accelerate's wrapper of one."""
        optimizer = getattr(optimizer, "optimizer", optimizer)
        group = next((g for g in optimizer.param_groups if any(p is self.weight for p in g["params"])), None)
        if (group is None or not isinstance(optimizer, torch.optim.Adam) or not group.get("fused")
                or group["weight_decay"] or group["amsgrad"] or group["maximize"]):
            return False
        self.detach()
        self._optimizer, self._group = optimizer, group
        self._hooks = [optimizer.register_step_pre_hook(self._before), optimizer.register_step_post_hook(self._after)]
        return True

    def clip(self, parameters: list[torch.Tensor], max_norm: float) -> torch.Tensor:
        """``torch.nn.utils.clip_grad_norm_(parameters, max_norm)`` (L2, the same formulas) reading the embedding's
        gradient on the rows this step touched only: the others are exactly zero, add nothing to the norm and stay
        zero when scaled. The whole 46 MB gradient is otherwise read twice and written once a step. Falls back to
        torch's where the gradient is not this buffer. The same norm to float32 rounding (the sums' order)."""
        weight = self.weight
        if weight.grad is None or weight.grad is not self.buffer or not self.dirty:
            return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        rows = self.touched()
        touched = self.buffer[rows]
        grads = [p.grad for p in parameters if p.grad is not None]
        others = [g for g in grads if g is not self.buffer]
        norms = iter(torch._foreach_norm(others, 2.0)) if others else iter(())
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(touched) if g is self.buffer
                                                      else next(norms) for g in grads]))
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        if others:
            torch._foreach_mul_(others, coef)
        self.buffer.index_copy_(0, rows, touched * coef)
        self.clipped = True
        return total

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._optimizer, self._held = [], None, None

    def _before(self, optimizer, args, kwargs) -> None:
        self._held, self.weight.grad = self.weight.grad, None  # the optimiser skips a parameter without one

    def _after(self, optimizer, args, kwargs) -> None:
        grad, self._held = self._held, None
        if grad is None:
            return
        weight, group, state = self.weight, self._group, optimizer.state[self.weight]
        if not state:  # as the fused AdamW would make it
            state["step"] = torch.zeros((), dtype=torch.float32, device=weight.device)
            state["exp_avg"] = torch.zeros_like(weight, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(weight, memory_format=torch.preserve_format)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if self.live is None:  # first step, or resumed: whatever has moments already
            self.live = (m != 0).any(1) | (v != 0).any(1)
        if grad is self.buffer:
            if self.dirty:
                self.live[self.touched()] = True
        else:
            self.live |= (grad != 0).any(1)
        rows = self.live.nonzero().squeeze(1)
        with torch.no_grad():
            p_rows, m_rows, v_rows = weight[rows], m[rows], v[rows]
            beta1, beta2 = group["betas"]
            # Adam without weight decay is AdamW without it: the same fused kernel's arithmetic
            adam_step([p_rows], [grad[rows]], [m_rows], [v_rows], [], [state["step"]], fused=True, amsgrad=False,
                      beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False)
            weight.index_copy_(0, rows, p_rows)
            m.index_copy_(0, rows, m_rows)
            v.index_copy_(0, rows, v_rows)
        weight.grad = grad
        self.stepped = True
