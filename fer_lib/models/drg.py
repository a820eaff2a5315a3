"""Paper 5 (Wang et al.): DRGFER (RRN + MRAFER) and its baselines RA-BN, DA (DANN) and Mean/Max ensembles."""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn as nn

from .resnet import resnet18

__all__ = [
    "RRN", "MRAFER", "DRGFER", "make_drgfer", "binarize",
    "MultiBatchNorm2d", "RABN", "GradReverse", "grad_reverse", "DANN", "make_dann",
    "ensemble_mean", "ensemble_max", "Ensemble", "init_from_imagenet", "imagenet_resnet18_file",
]

FACTORS = (1, 2, 4, 6, 8)  # paper 5 §5.1: x1 (100x100) and bicubic down-sampling by x2, x4, x6, x8
# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"RRN": 1, "MRAFER": 1, "DRGFER": 1, "RABN": 1, "DANN": 1}


class RRN(nn.Module):
    """Paper 5 §4.1, Fig. 3: the Resolution Recognition Network, a ResNet18 classifying the resolution factor.

    Output: logits over `len(factors)` resolution groups, trained with softmax cross-entropy (eqs. 1-2) on the known
    down-sampling factor of each training image. `predict` applies the binarisation of eq. (3) as an argmax
    (ties: first maximum), returning group indices; `binarize` gives the 0-1 vector itself.
    Reading: a low-resolution image is the HR image bicubic-down-sampled by the factor and resized back to the
    common input size (the paper's Fig. 6 "magnified images after reducing"), so every group has the same tensor size;
    that resizing is the data pipeline's job. Input size: the paper says both "input size is set to 100x100" and
    "resizing to 224"; we take 100x100 (RAF-DB's own size; 48x48 for FERPlus).
    """

    def __init__(self, factors: Sequence[int] = FACTORS, in_chans: int = 1, small_input: bool = False):
        super().__init__()
        self.factors = tuple(factors)
        self.net = resnet18(num_classes=len(self.factors), in_chans=in_chans, small_input=small_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).argmax(dim=1)


def binarize(logits: torch.Tensor) -> torch.Tensor:
    """Eq. (3): one-hot vector with a 1 at the maximum of each row (threshold-free)."""
    return nn.functional.one_hot(logits.argmax(dim=1), logits.shape[1]).to(logits.dtype)


def _group_ids(group_ids: torch.Tensor | Sequence[int], batch_size: int, num_groups: int) -> torch.Tensor:
    g = torch.as_tensor(group_ids)
    if g.dim() == 2:  # binarised (B, K) vectors of eq. (3)
        g = g.argmax(dim=1)
    g = g.long().reshape(-1)
    if g.numel() != batch_size:
        raise ValueError(f"{g.numel()} group ids for a batch of {batch_size}")
    if g.numel() and (g.min() < 0 or g.max() >= num_groups):
        raise ValueError(f"group ids must be in 0..{num_groups - 1}, got {g.unique().tolist()}")
    return g


def assign(x: torch.Tensor, group_ids: torch.Tensor | Sequence[int], num_groups: int
           ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eqs. (4)-(5): split a batch into per-group sub-batches; entry k = (indices into x, x[indices]), possibly empty."""
    g = _group_ids(group_ids, len(x), num_groups).to(x.device)
    out = []
    for k in range(num_groups):
        idx = (g == k).nonzero(as_tuple=True)[0]
        out.append((idx, x.index_select(0, idx)))
    return out


def gather(outputs_per_group: Sequence[torch.Tensor | None], indices_per_group: Sequence[torch.Tensor],
           batch_size: int) -> torch.Tensor:
    """Eqs. (6)-(7): put every group's predictions back at their images' positions in the original batch.

    Groups with no images may have `None` (or an empty tensor) as output. The indices must cover 0..batch_size-1
    exactly once. Differentiable with respect to the outputs.
    """
    pairs = [(o, i) for o, i in zip(outputs_per_group, indices_per_group) if i is not None and i.numel() > 0]
    if not pairs:
        raise ValueError("gather: every group is empty")
    order = torch.cat([i for _, i in pairs]).long()
    outs = torch.cat([o for o, _ in pairs])
    if order.numel() != batch_size or outs.shape[0] != batch_size or \
            not bool((torch.bincount(order, minlength=batch_size) == 1).all()):
        raise ValueError("gather: group indices must cover every image of the batch exactly once")
    return outs.new_zeros((batch_size, *outs.shape[1:])).index_copy(0, order.to(outs.device), outs)


class MRAFER(nn.Module):
    """Paper 5 §4.2, Fig. 5: Multi-Resolution Adaptation FER network = Assign -> one FER block per group -> Gather.

    `make_block(k)` builds the FER block of resolution group k (paper: a ResNet18 like the RRN with `num_classes`
    outputs, trained on images of that resolution). Empty groups are skipped (their block is not called, so a
    BatchNorm never sees an empty batch).
    """

    def __init__(self, num_groups: int, make_block: Callable[[int], nn.Module]):
        super().__init__()
        self.num_groups = num_groups
        self.blocks = nn.ModuleList(make_block(k) for k in range(num_groups))

    def assign(self, x: torch.Tensor, group_ids: torch.Tensor | Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return assign(x, group_ids, self.num_groups)

    @staticmethod
    def gather(outputs_per_group: Sequence[torch.Tensor | None], indices_per_group: Sequence[torch.Tensor],
               batch_size: int) -> torch.Tensor:
        return gather(outputs_per_group, indices_per_group, batch_size)

    def forward(self, x: torch.Tensor, group_ids: torch.Tensor | Sequence[int]) -> torch.Tensor:
        parts = self.assign(x, group_ids)
        outs = [block(sub) if idx.numel() else None for block, (idx, sub) in zip(self.blocks, parts)]
        return self.gather(outs, [idx for idx, _ in parts], len(x))


class DRGFER(nn.Module):
    """Paper 5 §4, Fig. 2: Dynamic Resolution Guidance FER = RRN routing + MRAFER.

    `forward(x)` routes each image to the FER block of its RRN-predicted resolution group (argmax, eq. 3) and returns
    logits in input order; `forward(x, groups=ids)` uses the given groups instead (oracle router, e.g. the true
    down-sampling factor, which is also how each FER block is trained on its own resolution). Routing is not
    differentiable: the RRN is trained separately with its own cross-entropy (eqs. 1-2), as in the paper, and is run
    under no_grad here. The groups of the last forward are kept on `last_groups`.
    """

    def __init__(self, rrn: nn.Module, mrafer: MRAFER):
        super().__init__()
        self.rrn = rrn
        self.mrafer = mrafer
        self.last_groups: torch.Tensor | None = None

    @torch.no_grad()
    def route(self, x: torch.Tensor) -> torch.Tensor:
        return self.rrn(x).argmax(dim=1)

    def forward(self, x: torch.Tensor, groups: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        g = self.route(x) if groups is None else _group_ids(groups, len(x), self.mrafer.num_groups).to(x.device)
        self.last_groups = g.detach()
        return self.mrafer(x, g)


def make_drgfer(num_classes: int = 7, factors: Sequence[int] = FACTORS, in_chans: int = 1,
                small_input: bool = False) -> DRGFER:
    """DRGFER with ResNet18 RRN and ResNet18 FER blocks (paper 5: "the same architecture as the FER network")."""
    rrn = RRN(factors, in_chans=in_chans, small_input=small_input)
    mrafer = MRAFER(len(factors), lambda k: resnet18(num_classes, in_chans=in_chans, small_input=small_input))
    return DRGFER(rrn, mrafer)


# ---------------------------------------------------------------- baselines (paper 5 §3, Tables 1-2)

class MultiBatchNorm2d(nn.Module):
    """K parallel BatchNorm2d layers; `index` (set before the forward) selects which one normalises the batch."""

    def __init__(self, num_features: int, num_domains: int = len(FACTORS), **bn_kwargs):
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(num_features, **bn_kwargs) for _ in range(num_domains))
        self.index = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.index](x)


class RABN(nn.Module):
    """Paper 5 §3 "Resolution-aware BN" baseline (Zhu et al. 2021, Dynamic Resolution Network): ResNet18 whose every
    BatchNorm is replaced by K parallel BNs, one per resolution group; convs and FC are shared.

    `forward(x, res_idx)`: `res_idx` is an int (whole batch) or a (B,) tensor of group indices; a mixed batch is
    split per group (each sub-batch normalised by its own BN) and the logits restored to input order.
    Reading: the resolution index is given (the known down-sampling factor in training; at test time either the
    true factor or the RRN's prediction: the paper does not say; the caller chooses by what it passes).
    """

    def __init__(self, num_classes: int = 7, num_resolutions: int = len(FACTORS), in_chans: int = 1,
                 small_input: bool = False):
        super().__init__()
        self.num_resolutions = num_resolutions
        self.net = resnet18(num_classes, in_chans=in_chans, small_input=small_input,
                            norm_layer=partial(MultiBatchNorm2d, num_domains=num_resolutions))

    def set_resolution(self, index: int) -> None:
        if not 0 <= index < self.num_resolutions:
            raise ValueError(f"resolution index must be in 0..{self.num_resolutions - 1}, got {index}")
        for m in self.modules():
            if isinstance(m, MultiBatchNorm2d):
                m.index = index

    def forward(self, x: torch.Tensor, res_idx: int | torch.Tensor | Sequence[int] = 0) -> torch.Tensor:
        if isinstance(res_idx, int):
            self.set_resolution(res_idx)
            return self.net(x)
        g = _group_ids(res_idx, len(x), self.num_resolutions)
        if g.numel() and bool((g == g[0]).all()):
            self.set_resolution(int(g[0]))
            return self.net(x)
        parts = assign(x, g, self.num_resolutions)
        outs = []
        for k, (idx, sub) in enumerate(parts):
            if idx.numel():
                self.set_resolution(k)
                outs.append(self.net(sub))
            else:
                outs.append(None)
        return gather(outs, [idx for idx, _ in parts], len(x))


class _GradReverseFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by -lambd backward (Ganin & Lempitsky 2015)."""
    return _GradReverseFn.apply(x, float(lambd))


class GradReverse(nn.Module):
    """Gradient reversal layer; `lambd` is an attribute so a schedule can change it during training."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor, lambd: float | None = None) -> torch.Tensor:
        return grad_reverse(x, self.lambd if lambd is None else lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


class DANN(nn.Module):
    """Paper 5 §3 "Domain Adaptive" baseline: domain-adversarial network (Ganin & Lempitsky 2015).

    features = feature_extractor(x); returns (classifier(features), domain_head(GradReverse(features))). The domain
    head learns to tell the resolution domains apart while the reversed gradient (x `lambd`) pushes the features to
    be resolution-invariant. Loss: CE(class) + CE(domain) (the engine's job). Note the forward returns a tuple.
    """

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module, domain_head: nn.Module,
                 lambd: float = 1.0):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.domain_head = domain_head
        self.grl = GradReverse(lambd)

    @property
    def lambd(self) -> float:
        return self.grl.lambd

    @lambd.setter
    def lambd(self, value: float) -> None:
        self.grl.lambd = value

    def forward(self, x: torch.Tensor, lambd: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.feature_extractor(x)
        return self.classifier(f), self.domain_head(self.grl(f, lambd))


def make_dann(num_classes: int = 7, num_domains: int = len(FACTORS), in_chans: int = 1, small_input: bool = False,
              domain_hidden: int = 256, lambd: float = 1.0) -> DANN:
    """DANN on a ResNet18 (512-d GAP features), linear class head, MLP domain head 512 -> 256 -> num_domains.

    Reading: the paper's text describes source x1 vs target x2; its tables evaluate x1..x8, so every resolution factor
    is a domain (num_domains = 5); `num_domains=2` gives the two-domain version. Domain-head width is ours.
    """
    backbone = resnet18(num_classes, in_chans=in_chans, small_input=small_input)
    feat_dim = backbone.fc.in_features
    backbone.fc = nn.Identity()
    domain_head = nn.Sequential(nn.Linear(feat_dim, domain_hidden), nn.ReLU(inplace=True),
                                nn.Linear(domain_hidden, num_domains))
    return DANN(backbone, nn.Linear(feat_dim, num_classes), domain_head, lambd)


# ---------------------------------------------------------------- the open choice of initial weights (a reading)

IMAGENET_RESNET18_FILE = "resnet18-f37072fd.pth"   # torchvision's IMAGENET1K_V1 file (torch hub cache)


def imagenet_resnet18_file(source: str | None) -> "Path | None":
    """Where ImageNet ResNet18 weights can be read without the network, or None: `source` = "imagenet" (the torch
    hub cache, $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth) or a path to a torchvision ResNet18 state dict;
    "none"/None: random init."""
    from pathlib import Path
    if source in (None, "none", False):
        return None
    f = (Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_RESNET18_FILE if source == "imagenet"
         else Path(source).expanduser())
    return f if f.is_file() else None


@torch.no_grad()
def init_from_imagenet(model: nn.Module, source: str) -> nn.Module:
    """Load ImageNet ResNet18 weights into every torchvision ResNet inside `model` (RRN, FER block, RA-BN, DANN).

    Paper 5 never says whether its ResNet18s start from ImageNet (its 89.24 % on RAF-DB and "resizing to 224" suggest
    so): a reading, off by default. A grey stem gets the sum of the RGB kernels (as paper 2's eq. 1); each of RA-BN's
    parallel BatchNorms starts from the pretrained BN; the classifier (fc) and a 3×3 small-input stem keep their
    fresh init. Raises FileNotFoundError naming the file when the weights are not here (no download is tried).
    """
    import torchvision
    f = imagenet_resnet18_file(source)
    if f is None:
        raise FileNotFoundError(f"init_from_imagenet: no ImageNet ResNet18 weights at {source!r} (put torchvision's "
                                f"{IMAGENET_RESNET18_FILE} in {torch.hub.get_dir()}/checkpoints or pass its path)")
    ref = torch.load(f, map_location="cpu", weights_only=True)
    nets = [m for m in model.modules() if isinstance(m, torchvision.models.ResNet)]
    if not nets:
        raise ValueError(f"init_from_imagenet: {type(model).__name__} holds no torchvision ResNet")
    for net in nets:
        own = net.state_dict()
        new = {}
        for k, v in own.items():
            ref_k = ".".join(part for i, part in enumerate(k.split("."))
                             if not (part == "bns" or (i > 0 and k.split(".")[i - 1] == "bns")))
            if ref_k.startswith("fc.") or ref_k not in ref:
                continue
            w = ref[ref_k]
            if ref_k == "conv1.weight" and w.shape[1] != v.shape[1]:
                w = w.sum(1, keepdim=True) if v.shape[1] == 1 else w
            if w.shape == v.shape:
                new[k] = w.to(v.dtype)
        net.load_state_dict(new, strict=False)
    return model


def _stack(models: Sequence[nn.Module], x: torch.Tensor, use_softmax: bool) -> torch.Tensor:
    outs = [m(x) for m in models]
    return torch.stack([o.softmax(dim=1) if use_softmax else o for o in outs])


def ensemble_mean(models: Sequence[nn.Module], x: torch.Tensor, use_softmax: bool = True) -> torch.Tensor:
    """Paper 5 "Mean" baseline: average over the resolution-specific networks of their softmax outputs (B, C).

    Reading: the paper does not define Mean/Max; we read them as score fusion of the K single-resolution ResNet18s.
    `use_softmax=False` averages raw logits instead.
    """
    return _stack(models, x, use_softmax).mean(dim=0)


def ensemble_max(models: Sequence[nn.Module], x: torch.Tensor, use_softmax: bool = True) -> torch.Tensor:
    """Paper 5 "Max" baseline: element-wise maximum over the networks' softmax outputs (B, C).

    Its argmax is the class of the single most confident network. `use_softmax=False` takes the max of logits.
    """
    return _stack(models, x, use_softmax).max(dim=0).values


class Ensemble(nn.Module):
    """`ensemble_mean` / `ensemble_max` as a module (so the engine can evaluate it like any model).

    Returns fused scores (probabilities when `use_softmax`), not logits; only their argmax is meaningful for accuracy.
    """

    def __init__(self, models: Sequence[nn.Module], reduce: str = "mean", use_softmax: bool = True):
        super().__init__()
        if reduce not in ("mean", "max"):
            raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        self.models = nn.ModuleList(models)
        self.reduce = reduce
        self.use_softmax = use_softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn = ensemble_mean if self.reduce == "mean" else ensemble_max
        return fn(self.models, x, self.use_softmax)
