"""Packed runs: K seeds of one recipe trained at once as one stacked ensemble (issue 15, item 2).

    results = fit_packed(factory, train, val, [cfg.replace(seed=s) for s in (0, 1, 2)])   # list[FitResult]

On a GPU a small model at its paper batch size leaves the chip idle between kernel launches; K runs stacked
into one model (torch.func.stack_module_state) and trained with one vmapped forward/backward launch K times
fewer, K times larger kernels. Each member is the run it would be alone:
  - its initial weights come from `build_seeded(factory, seed)`, as in fit();
  - its batches and augmentation are drawn from its own generator seeded by (seed, epoch), as in fit();
  - its loss, L2 penalty, gradient clipping (per member norm), BatchNorm running statistics (stacked
    buffers, updated in place under vmap) and optimizer state (Adam/SGD are elementwise, so one optimizer
    over stacked tensors is K independent ones) are its own.
tests/test_packed.py checks losses, BatchNorm statistics and Adam's moments against solo fit() on CPU.

Readings and limits, said plainly:
  - Dropout under vmap draws one mask per member from the global RNG (randomness="different"): members are
    distributed as their solo runs but not bit-equal to them. Models without dropout (paper 4's SDL as
    published) match solo to float rounding (vmap batches the convolutions differently).
  - Packed: configs that differ only in `seed` (and `progress`), cross entropy without batch_fn/loss_fn
    hooks, no checkpoint/resume, schedulers none|step|cosine (plateau depends on each member's validation
    score, so it runs solo). Anything else, a group of one, or a model vmap cannot run (the first vmapped
    forward is tried on two images) runs solo through fit(), with a warning saying why.
  - A member whose loss or weights become non-finite is flagged at the end of that epoch (no per-step host
    sync), stops counting, and is retried alone with fit() once the pack is done; the others are untouched
    (their gradients never mix: the summed loss's gradient is 1 for every member). When the solo retry
    diverges too, its place in the returned list holds the FloatingPointError.
"""
from __future__ import annotations

import copy
import json
import math
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from .augment import get_augment
from .metrics import Predictions
from .train import (FitResult, TrainConfig, _autocast, _epoch_seed, as_tensors, build_seeded, class_weights,
                    detect_collapse, fit, freeze, make_optimizer, make_scheduler, normalise, resolve_device)

# Fields packed members may differ in; every other TrainConfig field must be shared.
PER_MEMBER = ("seed", "progress")


def _recipe(cfg: TrainConfig) -> str:
    return json.dumps({k: v for k, v in cfg.to_dict().items() if k not in PER_MEMBER}, sort_keys=True, default=str)


def why_not_packable(cfg: TrainConfig, k: int) -> str | None:
    if k < 2:
        return "a group of one"
    if cfg.scheduler == "plateau":
        return "the plateau scheduler follows each member's own validation score"
    return None


def fit_packed(factory: Callable[[], nn.Module], train, val=None, configs=(), *, run_keys=None,
               num_classes: int | None = None, callback: Callable | None = None,
               retry_solo: bool = True) -> list[FitResult | FloatingPointError]:
    """fit() for each config, members with the same recipe (all but the seed) trained as one stacked pack.

    Returns one FitResult per config, in order, as fit() would (history gains a `packed` column: the pack
    size). callback(epoch, rows: dict[member index, row], pack: Pack) runs after each packed epoch.
    """
    cfgs = [c if isinstance(c, TrainConfig) else TrainConfig.from_dict(c) for c in configs]
    keys = list(run_keys) if run_keys is not None else [None] * len(cfgs)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cfgs):
        groups.setdefault(_recipe(c), []).append(i)
    results: list = [None] * len(cfgs)
    for idxs in groups.values():
        reason = why_not_packable(cfgs[idxs[0]], len(idxs))
        pack = None
        if reason is None:
            pack = Pack(factory, [cfgs[i] for i in idxs], train, num_classes)
            try:
                pack.probe()
            except Exception as e:  # an op vmap cannot batch (data-dependent control flow, .item() in forward)
                reason, pack = f"vmap cannot run this model ({type(e).__name__}: {str(e)[:200]})", None
        if pack is None:
            if reason != "a group of one":
                warnings.warn(f"fit_packed: {len(idxs)} runs trained one by one: {reason}")
            for i in idxs:
                results[i] = _solo(factory, train, val, cfgs[i], keys[i], num_classes)
            continue
        for j, r in enumerate(pack.train(val, callback)):
            results[idxs[j]] = r
        for j, epoch in pack.diverged.items():
            i = idxs[j]
            warnings.warn(f"fit_packed: seed {cfgs[i].seed} became non-finite in epoch {epoch} of the pack; "
                          f"{'retrying it alone' if retry_solo else 'not retried'}")
            if retry_solo:
                results[i] = _solo(factory, train, val, cfgs[i], keys[i], num_classes,
                                   note=f"diverged in a pack of {len(idxs)} at epoch {epoch}; retried alone")
            else:
                results[i] = FloatingPointError(f"seed {cfgs[i].seed}: non-finite in epoch {epoch} of the pack")
    return results


def _solo(factory, train, val, cfg, run_key, num_classes, note: str = ""):
    try:
        r = fit(factory, train, val, cfg, run_key=run_key, num_classes=num_classes)
    except FloatingPointError as e:
        if not note:
            raise
        return e
    r.history["packed"] = 1
    if note:
        r.history.attrs["pack"] = note
    return r


class Pack:
    """K members of one recipe as stacked parameters, buffers and one optimizer; `train()` runs the epochs."""

    def __init__(self, factory, cfgs: list[TrainConfig], train, num_classes: int | None):
        self.cfgs, self.cfg, self.k = cfgs, cfgs[0], len(cfgs)
        cfg = self.cfg
        self.device = device = resolve_device(cfg.device)
        self.members = [build_seeded(factory, c.seed) for c in cfgs]
        torch.manual_seed(cfg.seed)
        self.x_tr, self.y_tr = as_tensors(train, device)
        self.n_cls = num_classes or int(len(getattr(train, "classes", [])) or int(self.y_tr.max()) + 1)
        for m in self.members:
            m.to(device)
            if cfg.freeze:
                freeze(m, cfg.freeze)
        self.base = copy.deepcopy(self.members[0]).to("meta")
        self.params, self.buffers = stack_module_state(self.members)
        self.trainable = [p for p in self.params.values() if p.requires_grad]
        if not self.trainable:
            raise ValueError("fit_packed: the model has no trainable parameter (check TrainConfig.freeze)")
        self.opt = make_optimizer(self.trainable, cfg, device)
        self.sched = make_scheduler(self.opt, cfg)
        w = class_weights(self.y_tr, cfg.class_weights, self.n_cls)
        self.weights = w.to(device) if w is not None else None
        self.l2 = []
        for prefix, lam in cfg.l2.items():
            names = [n for n in self.params if n.startswith(prefix) and n.endswith("weight")]
            if not names:
                raise ValueError(f"TrainConfig.l2: no weight parameter name starts with {prefix!r}")
            self.l2.append((names, lam))
        self.diverged: dict[int, int] = {}
        self._forward = vmap(self._member_loss, randomness="different")

    def _member_loss(self, p, b, x, y):
        logits = functional_call(self.base, (p, b), (x,))
        loss = F.cross_entropy(logits.float(), y, weight=self.weights, label_smoothing=self.cfg.label_smoothing)
        return loss, logits

    def probe(self):
        """One vmapped forward on two images (copies of the buffers; RNG state kept): fails early and cleanly."""
        x = normalise(self.x_tr[:2], self.cfg.mean, self.cfg.std).expand(self.k, -1, -1, -1, -1)
        y = self.y_tr[:2].expand(self.k, -1)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            self.base.train()
            self._forward(self.params, {n: b.clone() for n, b in self.buffers.items()}, x, y)

    def penalty(self):
        total = 0.0
        for names, lam in self.l2:
            total = total + 0.5 * lam * sum(self.params[n].pow(2).flatten(1).sum(1) for n in names)
        return total

    def clip(self, max_norm: float):
        """clip_grad_norm_ of each member on its own gradients (as fit() does for a solo run)."""
        grads = [p.grad for p in self.trainable if p.grad is not None]
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads], 1)  # (K, P)
        coef = (max_norm / (torch.linalg.vector_norm(norms, dim=1) + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *[1] * (g.ndim - 1)).to(g.dtype))

    def member_state(self, j: int) -> dict[str, torch.Tensor]:
        """Member j's state_dict (CPU copies)."""
        keys = self.members[j].state_dict().keys()
        both = {**self.params, **self.buffers}
        return {n: both[n][j].detach().to("cpu", copy=True) for n in keys}

    def member_optimizer_state(self, j: int) -> list[dict[str, torch.Tensor]]:
        """Member j's optimizer state per trainable parameter, in fit()'s order (for the tests)."""
        return [{k: (v[j] if torch.is_tensor(v) and v.ndim > 0 else v) for k, v in self.opt.state[p].items()}
                for p in self.trainable]

    @torch.no_grad()
    def evaluate(self, val_t, classes) -> list[Predictions]:
        cfg, k = self.cfg, self.k
        x_all, y_all = val_t
        self.base.eval()
        fwd = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)), in_dims=(0, 0, None))
        probs, loss_sum = [], torch.zeros(k, dtype=torch.float64, device=self.device)
        for i in range(0, len(x_all), cfg.eval_batch_size):
            x, y = normalise(x_all[i:i + cfg.eval_batch_size], cfg.mean, cfg.std), y_all[i:i + cfg.eval_batch_size]
            with _autocast(self.device, cfg.amp):
                logits = fwd(self.params, self.buffers, x).float()
            loss_sum += torch.stack([F.cross_entropy(lg, y) for lg in logits]).double() * len(y)
            probs.append(logits.softmax(-1))
        self.base.train()
        n, y_np = max(len(x_all), 1), y_all.cpu().numpy()
        probs_np, losses = torch.cat(probs, 1).cpu().numpy(), (loss_sum / n).tolist()
        return [Predictions(y_np, probs_np[j], classes, loss=losses[j]) for j in range(k)]

    def train(self, val, callback=None) -> list[FitResult | None]:
        cfg, k, device = self.cfg, self.k, self.device
        x_tr, y_tr, aug = self.x_tr, self.y_tr, get_augment(cfg.augment)
        val_t = as_tensors(val, device) if val is not None else None
        classes = tuple(getattr(val, "classes", ()) or ())
        counts = torch.bincount(y_tr, minlength=self.n_cls).float()
        if cfg.oversample:
            sample_w = (1.0 / counts.clamp(min=1))[y_tr]
        chance = float(1 / (counts > 0).sum()) if cfg.oversample else float(counts.max() / counts.sum())
        n, bs = len(x_tr), cfg.batch_size
        steps = min(-(-n // bs), cfg.max_batches or 10**18)
        histories = [[] for _ in range(k)]
        best = [(-1, -float("inf"), None) for _ in range(k)]   # (epoch, score, state)
        alive = list(range(k))
        loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
        n_correct = torch.zeros(k, dtype=torch.int64, device=device)
        t_start = time.perf_counter()
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            gens = [torch.Generator(device=device).manual_seed(_epoch_seed(c.seed, epoch)) for c in self.cfgs]
            torch.manual_seed(_epoch_seed(cfg.seed, epoch) + 1)  # dropout: one draw for the pack (see docstring)
            orders = [torch.multinomial(sample_w, n, replacement=True, generator=g) if cfg.oversample
                      else torch.randperm(n, generator=g, device=device) for g in gens]
            self.base.train()
            loss_sum.zero_(), n_correct.zero_()
            seen = 0
            for b in range(steps):
                xs, ys = [], []
                for j in range(k):
                    idx = orders[j][b * bs:(b + 1) * bs]
                    x = aug(x_tr[idx].float().div_(255), gens[j])
                    xs.append((x - cfg.mean) / cfg.std)
                    ys.append(y_tr[idx])
                x, y = torch.stack(xs), torch.stack(ys)
                with _autocast(device, cfg.amp):
                    losses, logits = self._forward(self.params, self.buffers, x, y)
                if self.l2:
                    losses = losses + self.penalty()
                self.opt.zero_grad(set_to_none=True)
                losses.sum().backward()
                if cfg.grad_clip:
                    self.clip(cfg.grad_clip)
                self.opt.step()
                loss_sum.add_(losses.detach().double() * y.shape[1])
                n_correct.add_((logits.argmax(-1) == y).sum(1))
                seen += y.shape[1]
            wnorm = torch.stack([torch.linalg.vector_norm(p.detach().float().flatten(1), dim=1)
                                 for p in self.trainable]).sum(0)
            tot_loss, tot_correct, wnorm = torch.stack([loss_sum, n_correct.double(), wnorm.double()]).tolist()
            for j in list(alive):
                if not (math.isfinite(tot_loss[j]) and math.isfinite(wnorm[j])):
                    self.diverged[j] = epoch
                    alive.remove(j)
            preds = self.evaluate(val_t, classes) if val_t is not None else None
            lr = float(self.opt.param_groups[0]["lr"])
            rows = {}
            for j in alive:
                row = {"epoch": epoch, "train_loss": tot_loss[j] / seen, "train_acc": tot_correct[j] / seen, "lr": lr}
                if preds is not None:
                    p = preds[j]
                    row.update(val_loss=p.loss, val_acc=p.accuracy)
                    share = np.bincount(p.y_pred, minlength=p.probs.shape[1]) / max(len(p.y_pred), 1)
                    row.update(val_top_share=float(share.max()), val_top_class=p._names()[int(share.argmax())])
                row["train_chance"] = chance
                row["collapse"] = detect_collapse(row)
                row.update(seconds=time.perf_counter() - t0, img_per_s=seen / (time.perf_counter() - t0), packed=k)
                histories[j].append(row)
                rows[j] = row
                score = {"val_acc": row.get("val_acc"), "val_loss": -row.get("val_loss", float("nan"))}.get(cfg.select)
                b_epoch, b_score, _ = best[j]
                if cfg.select == "last" or preds is None or score is None or np.isnan(score) or score > b_score:
                    if cfg.select != "last" and preds is not None and score is not None and not np.isnan(score):
                        b_score = score
                    best[j] = (epoch, b_score, self.member_state(j))
            if self.sched is not None:
                self.sched.step()
            if callback is not None:
                callback(epoch, rows, self)
            if not alive:
                break
        seconds = time.perf_counter() - t_start
        out = []
        for j in range(k):
            if j in self.diverged:
                out.append(None)
                continue
            model, (b_epoch, _, state) = self.members[j], best[j]
            model.load_state_dict(state)
            h = histories[j]
            out.append(FitResult(model=model, history=pd.DataFrame(h), best_epoch=b_epoch, config=self.cfgs[j],
                                 seconds=seconds, resumed_from=None, epochs_run=len(h),
                                 collapsed=detect_collapse([r for r in h if r["epoch"] <= b_epoch])))
        return out
