"""`RunSpec`: one training, declared as data (what a paper's plan lists; see fer_lib/runs/__init__.py)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

# Fields that label a run for tables but do not change its result: not part of the run key, so renaming an arm
# never retrains it (and two arms that declare the same training share one record).
DISPLAY_FIELDS = ("notebook", "paper", "arm", "name", "tags")
# TrainConfig fields that do not change a run's result (the run's own seed and device are set by the runner).
NON_RESULT_CONFIG = ("progress", "device", "eval_batch_size", "seed", "cuda_graph", "channels_last",
                     "cudnn_benchmark")  # the last three: TrainConfig.EXECUTION switches (how, not what)
KEEP = ("weights", "weights16", "probs")   # weights16: floating tensors stored as float16


def hook(name: str, **kw) -> dict:
    """A hook reference for RunSpec.hooks / an evaluation view: `hook("p5.random_factor", factors=[1, 2, 4])`."""
    return {"name": name, "kw": kw}


def view(name: str, split: str | None = None, batch_fn: dict | None = None) -> dict:
    """An evaluation view for RunSpec.evaluate: predictions on `split` (default: `name`), the batches rewritten
    by the registered batch_fn hook `batch_fn` (e.g. hook("degrade.fixed_factor", factor=4))."""
    return {"name": name, "split": split or name, "batch_fn": batch_fn}


def canonical(obj) -> str:
    """The canonical JSON text of `obj` (sorted keys, no spaces): what keys and hashes are computed from."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(x, where: str):
    """JSON-able copy of x with tuples as lists; raises naming `where` on anything else."""
    if isinstance(x, dict):
        bad = [k for k in x if not isinstance(k, str)]
        if bad:
            raise ValueError(f"RunSpec.{where}: keys must be strings, got {bad!r}")
        return {k: _plain(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalars
        x = x.item()
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        if x != x or x in (float("inf"), float("-inf")):
            raise ValueError(f"RunSpec.{where}={x!r}: not a finite number")
        return x
    raise ValueError(f"RunSpec.{where}={x!r}: not JSON-able (use numbers, strings, lists, dicts)")


@dataclass(frozen=True)
class RunSpec:
    """One training run. Everything is JSON-able; dict and list fields must not be mutated after creation."""
    notebook: str                     # "04": the notebook whose tables need the run (the store's folder)
    paper: str                        # "p4"
    arm: str                          # table / arm label, e.g. "Table 3 · baseline + SDL-1"
    model: str                        # registry name: fer_lib.models.registry.create_model(model, **model_kw)
    dataset: str                      # fer_lib.data.load name: "fer2013", "ferplus", "ckplus", "mnist", "synthetic"
    config: dict = field(default_factory=dict)    # TrainConfig fields (its seed/device are set from the run)
    seed: int = 0
    model_kw: dict = field(default_factory=dict)
    data_kw: dict = field(default_factory=dict)   # loader options: fer_lib.data.load(dataset, root, **data_kw)
    split: dict = field(default_factory=dict)     # {} = the dataset's own split, or {"kind": "group_kfold", "k":
    #   10, "fold": 3, "val": 0.1, "seed": 0} or {"kind": "random", "fractions": [.8, .1, .1], "names": [...]}
    train: tuple = ("Training",)      # split name(s) trained on
    val: tuple = ("PublicTest",)      # split name(s) validated on after each epoch; () = none
    evaluate: tuple = ("PrivateTest",)  # after training: split names, or views (see `view`)
    cap: dict = field(default_factory=dict)   # {"Training": 2000, ..., "seed": 0}: a fixed random subset of a
    #   split (drawn with cap["seed"], not the run's seed: every seed of an arm sees the same images)
    hooks: tuple = ()                 # registered hooks, each hook(name, **kw) (fer_lib.runs.hooks)
    needs: tuple = ()                 # names (RunSpec.name) of runs of the same plan whose artefacts it uses
    name: str = ""                    # unique within a plan; only needed when another run `needs` this one
    keep: tuple = ()                  # "weights": keep the trained state_dict as an artefact ("weights16": its
    #   floating tensors as float16, for artefacts that must travel: files back from a GPU session are <= 16 MiB);
    #   "probs": the record keeps test probabilities (else class indices only)
    tags: dict = field(default_factory=dict)  # free labels for tables (claim, factor, ...); not in the key

    def __post_init__(self):
        for f in ("notebook", "paper", "arm", "model", "dataset"):
            if not isinstance(getattr(self, f), str) or not getattr(self, f):
                raise ValueError(f"RunSpec.{f}={getattr(self, f)!r}: must be a non-empty string")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            object.__setattr__(self, "seed", int(self.seed))
        for f in ("train", "val", "evaluate", "hooks", "needs", "keep"):
            v = getattr(self, f)
            v = (v,) if isinstance(v, (str, dict)) else tuple(v or ())
            object.__setattr__(self, f, tuple(_plain(x, f"{f}[{i}]") for i, x in enumerate(v)))
        for f in ("config", "model_kw", "data_kw", "split", "cap", "tags"):
            v = getattr(self, f)
            if not isinstance(v, dict):
                raise ValueError(f"RunSpec.{f}={v!r}: must be a dict")
            object.__setattr__(self, f, _plain(v, f))
        if not self.train:
            raise ValueError("RunSpec.train: name at least one split to train on")
        for h in self.hooks:
            if not (isinstance(h, dict) and isinstance(h.get("name"), str) and set(h) <= {"name", "kw"}):
                raise ValueError(f"RunSpec.hooks: {h!r} is not a hook reference; use runs.hook(name, **kw)")
        object.__setattr__(self, "evaluate", tuple(_norm_view(v) for v in self.evaluate))
        names = [v["name"] for v in self.evaluate]
        if len(set(names)) != len(names):
            raise ValueError(f"RunSpec.evaluate: view names repeat: {names}")
        bad = set(self.keep) - set(KEEP)
        if bad:
            raise ValueError(f"RunSpec.keep: unknown {sorted(bad)}; choose from {KEEP}")
        from ..core.train import TrainConfig
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(self.config) - known
        if unknown:
            raise ValueError(f"RunSpec.config: unknown TrainConfig field(s) {sorted(unknown)}")
        for f in ("seed", "device"):
            if f in self.config:
                raise ValueError(f"RunSpec.config[{f!r}]: set by the run (RunSpec.seed; the device it runs on), "
                                 "not by the spec's config")

    def __hash__(self):
        return hash(canonical(self.to_dict()))

    # ----------------------------------------------------------------------------------------- conversions
    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"RunSpec: unknown field(s) {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "RunSpec":
        return replace(self, **changes)

    def train_config(self, device: str = "auto", progress: bool = False):
        """The TrainConfig of this run (its seed and the device it runs on filled in)."""
        from ..core.train import TrainConfig
        return TrainConfig.from_dict({**self.config, "seed": self.seed, "device": device, "progress": progress})

    def key_dict(self) -> dict:
        """What the run key hashes: every field but the display labels, with the TrainConfig's defaults filled
        in (a changed default changes the key) and its non-result fields dropped."""
        d = {k: v for k, v in self.to_dict().items() if k not in DISPLAY_FIELDS}
        cfg = self.train_config().to_dict()
        d["config"] = {k: _plain(v, f"config.{k}") for k, v in cfg.items() if k not in NON_RESULT_CONFIG}
        return d

    def spec_hash(self) -> str:
        return hashlib.sha256(canonical(self.key_dict()).encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.notebook} · {self.arm} · seed {self.seed}"


def _norm_view(v) -> dict:
    if isinstance(v, str):
        return view(v)
    if not isinstance(v, dict) or "name" not in v or set(v) - {"name", "split", "batch_fn"}:
        raise ValueError(f"RunSpec.evaluate: {v!r} is neither a split name nor a view (runs.view(name, split, "
                         "batch_fn))")
    return view(v["name"], v.get("split"), v.get("batch_fn"))
