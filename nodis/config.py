"""Model configuration: one dataclass and named presets.

``vg`` follows the original release (VGG16 detector at 592 px, 4096-d RoI features, 1024-d ODE
state); ``demo`` is a CPU-sized model with the same architecture for the procedural scene world.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

MODES = ("predcls", "sgcls", "sgdet")
SOLVERS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "euler", "midpoint", "rk4")
STATE_POLICIES = ("carry", "reset")
FRONTENDS = ("lstm", "fc", "gcnn")


#: ``field: (lowest, highest)`` accepted by :meth:`ModelConfig.validate` (inclusive; floats must also be
#: finite). Sizes are capped far above any real model so that a hostile or mistyped value
#: (``hidden_dim=200000``: 1.3 TB of weights) is refused before anything is allocated.
LIMITS: dict[str, tuple[float, float]] = {
    "num_classes": (2, 100_000), "num_predicates": (2, 100_000), "image_size": (16, 4096),
    "box_scale": (1, 100_000), "feat_stride": (1, 256), "feat_channels": (1, 8192), "pool_size": (1, 64),
    "roi_dim": (1, 65_536), "anchor_size": (1, 4096), "rpn_pre_nms": (1, 1_000_000), "rpn_post_nms": (1, 100_000),
    "rpn_nms": (1e-6, 1.0), "det_nms": (1e-6, 1.0), "det_thresh": (0.0, 1.0), "max_objects": (1, 10_000),
    "embed_dim": (1, 8192), "pos_dim": (1, 8192), "hidden_dim": (1, 16_384), "union_mask_size": (1, 1024),
    "t_end": (1e-6, 1000.0), "rtol": (1e-12, 1e6), "atol": (1e-12, 1e6), "step_size": (1e-6, 1000.0),
    "order_seed": (0, 2**63 - 1), "max_pairs": (1, 100_000_000),
}
_ELEMENT_LIMITS: dict[str, tuple[float, float]] = {
    "anchor_ratios": (1e-6, 1e6), "anchor_scales": (1e-6, 1e6), "pixel_mean": (-1e6, 1e6), "pixel_std": (1e-9, 1e6),
}


def _check_fields(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        kind = str(f.type)
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"model config {f.name} must be a whole number, got {v!r}")
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"model config {f.name} must be a finite number, got {v!r}")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ConfigError(f"model config {f.name} must be true or false, got {v!r}")
        elif kind == "str":
            if not isinstance(v, str):
                raise ConfigError(f"model config {f.name} must be a string, got {v!r}")
        elif kind.startswith("dict"):
            if not isinstance(v, dict):
                raise ConfigError(f"model config {f.name} must be an object, got {v!r}")
        if f.name in LIMITS:
            lo, hi = LIMITS[f.name]
            if not lo <= v <= hi:
                raise ConfigError(f"model config {f.name} = {v!r} is outside {lo:g} .. {hi:g}")
        if f.name in _ELEMENT_LIMITS:
            lo, hi = _ELEMENT_LIMITS[f.name]
            if not v or not all(math.isfinite(x) and lo <= x <= hi for x in v):
                raise ConfigError(f"model config {f.name} must be finite numbers in {lo:g} .. {hi:g}, got {list(v)}")
    if len(cfg.pixel_mean) != 3 or len(cfg.pixel_std) != 3:
        raise ConfigError("model config pixel_mean and pixel_std need 3 values (R, G, B)")


@dataclass
class ModelConfig:
    """Everything needed to build a :class:`nodis.model.NODIS`.

    Field names follow the paper and the facts sheet. Sizes: the ODE state is
    ``2 * hidden_dim`` wide (a bidirectional LSTM of ``hidden_dim`` per direction).
    """

    preset: str = "vg"
    num_classes: int = 151  # including index 0 = __background__
    num_predicates: int = 51  # including index 0 = __background__
    # detector
    backbone: str = "vgg16"  # "vgg16" (neural-motifs layout) or "small" (from scratch, CPU)
    image_size: int = 592  # IM_SCALE: square padded input side
    box_scale: int = 1024  # BOX_SCALE of the VG h5 boxes
    feat_stride: int = 16
    feat_channels: int = 512
    pool_size: int = 7
    roi_dim: int = 4096  # fc6/fc7 width
    anchor_size: int = 16
    anchor_ratios: tuple[float, ...] = (0.23232838, 0.63365731, 1.28478321, 3.15089189)
    anchor_scales: tuple[float, ...] = (2.22152954, 4.12315647, 7.21692515, 12.60263013, 22.7102731)
    rpn_pre_nms: int = 6000
    rpn_post_nms: int = 1000
    rpn_nms: float = 0.7
    det_nms: float = 0.3  # per-class NMS inside the object context (sgdet)
    det_thresh: float = 0.01
    max_objects: int = 64  # sgdet: kept boxes per image
    # "release": the release's +1-pixel IoU/NMS in its kernels' float32 order, RPN boxes filtered by
    # center_size widths (x2 - x1 + 1 < 4), fully suppressed sgdet boxes labelled class 1;
    # "torchvision": torchvision.ops IoU/NMS (no +1), x2 - x1 < 4, suppressed boxes keep their arg-max
    box_rules: str = "release"
    # context / relation features
    embed_dim: int = 200
    pos_dim: int = 128
    hidden_dim: int = 512
    union_mask_size: int = 27
    frontend: str = "lstm"
    predicate_relu: bool = True  # the original trailing ReLU on fc_predicate (kept for checkpoint fidelity)
    # ODE
    t_end: float = 1.5
    solver: str = "dopri5"
    rtol: float = 0.01
    atol: float = 0.01
    state_policy: str = "carry"
    step_size: float = 0.1  # only for fixed-step solvers
    object_ode: bool = True  # ablation switch: False feeds features straight to the decoder
    predicate_ode: bool = True
    # misc
    pair_order: str = "random"  # "random" (seeded, as released) or "index"
    order_seed: int = 0
    max_pairs: int = 4096  # relation candidates per image at inference (64*63 = 4032)
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("anchor_ratios", "anchor_scales", "pixel_mean", "pixel_std"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
                raise ConfigError(f"model config {name} must be a list of numbers, got {value!r}")
            try:
                setattr(self, name, tuple(float(x) for x in value))
            except (TypeError, ValueError):
                raise ConfigError(f"model config {name} must be a list of numbers, got {value!r}") from None
        self.validate()

    @property
    def state_dim(self) -> int:
        return 2 * self.hidden_dim

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_ratios) * len(self.anchor_scales)

    @property
    def feat_size(self) -> int:
        return self.image_size // self.feat_stride

    def validate(self) -> None:
        """Check every field's type and range (:data:`LIMITS`) before anything is allocated, then the
        choices; :class:`ConfigError` names the field and the allowed values."""
        _check_fields(self)
        if self.solver not in SOLVERS:
            raise ConfigError(f"unknown ODE solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        if self.state_policy not in STATE_POLICIES:
            raise ConfigError(f"unknown state policy {self.state_policy!r}; choose 'carry' or 'reset'")
        if self.frontend not in FRONTENDS:
            raise ConfigError(f"unknown predicate front-end {self.frontend!r}; choose one of {FRONTENDS}")
        if self.backbone not in ("vgg16", "small"):
            raise ConfigError(f"unknown backbone {self.backbone!r}; choose 'vgg16' or 'small'")
        if not (self.t_end > 0):
            raise ConfigError(f"t_end must be positive, got {self.t_end}")
        if self.rtol <= 0 or self.atol <= 0:
            raise ConfigError("rtol and atol must be positive")
        if self.num_classes < 2 or self.num_predicates < 2:
            raise ConfigError("need at least one object class and one predicate besides background")
        if self.image_size % self.feat_stride:
            raise ConfigError("image_size must be a multiple of feat_stride")
        if self.pair_order not in ("random", "index"):
            raise ConfigError("pair_order must be 'random' or 'index'")
        if self.box_rules not in ("release", "torchvision"):
            raise ConfigError(f"unknown box_rules {self.box_rules!r}; choose 'release' or 'torchvision'")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"a model config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def preset(name: str, **overrides: Any) -> ModelConfig:
    """Return the named preset (``vg`` or ``demo``) with optional field overrides."""
    if name == "vg":
        cfg = ModelConfig(preset="vg")
    elif name == "demo":
        cfg = ModelConfig(
            preset="demo",
            backbone="small",
            # v3: the first recipe's 320 px input and stride-16 features (the stride-8 trial trained
            # too few steps in the budget, docs/training.md) with anchors fitted to the world's
            # training boxes at this input size (scripts/fit_anchors.py --image-size 320
            # --anchor-size 16: ratio quantiles, scales log-spaced over the 2nd-98th percentile of
            # box side, about 9 to 208 px)
            image_size=320,
            feat_channels=128,
            roi_dim=512,
            anchor_scales=(0.552, 1.215, 2.676, 5.895, 12.983),
            anchor_ratios=(0.403, 0.771, 1.383, 2.166),
            rpn_pre_nms=2000,
            rpn_post_nms=256,
            max_objects=32,
            embed_dim=64,
            pos_dim=32,
            hidden_dim=128,
            union_mask_size=27,
            # trained from scratch, the release's trailing ReLU leaves every predicate logit dead at 0
            # (only background is learned); the vg preset keeps it for the official weights
            predicate_relu=False,
        )
    else:
        raise ConfigError(f"unknown preset {name!r}; choose 'vg' or 'demo'")
    if overrides:
        cfg = cfg.replace(**overrides)
    return cfg
