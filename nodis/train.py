"""Training: the detector stage and the relation stage (detector frozen), as in the paper.

``nodis train --preset demo`` trains both stages on a dataset in the VG-SGG layout (the procedural
world by default) and writes one checkpoint that serves predcls, sgcls and sgdet. Runs under
``torchrun --nproc_per_node N`` with DistributedDataParallel (gloo on CPU, NCCL on GPU).

Relation stage, per batch (facts sheet §6 for the original): object cross-entropy on the O-ODE
decoding at ``t_end`` plus predicate cross-entropy on all ground-truth pairs and sampled negative
pairs (label 0), summed. The demo recipe mixes sgcls-style batches (ground-truth boxes) with
sgdet-style batches (RPN proposals labelled by IoU >= 0.5), so one model serves all modes.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, Matcher
from torchvision.ops import box_iou

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ModelConfig, preset
from .data.transforms import load_image, prepare_image
from .data.vg import VGDataset, read_vocab
from .errors import CheckpointError, ConfigError, DatasetError
from .model import NODIS
from .model.box_ops import encode_deltas
from .model.nodis import pair_order
from .model.ode import ODEBlock, SolverStepLimit
from .model.relations import unpad

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation settings. ``vg`` follows the paper; ``demo`` is sized for a 2-core CPU."""

    data: str = "data/world"
    out: str = "runs/demo"
    preset: str = "demo"
    seed: int = 0
    batch_size: int = 6
    det_epochs: float = 0.0
    rel_epochs: float = 1.0
    det_lr: float = 1e-3
    rel_lr: float = 1e-4
    optimizer: str = "adam"  # adam (paper, eps 1e-3, wd 1e-4) or sgd (the README runs, momentum 0.9)
    sgdet_fraction: float = 0.0  # share of relation batches trained sgdet-style
    bg_pairs: int = 64  # relation candidates per image (fg + sampled bg), as the original RELS_PER_IMG_REFINE
    max_train_images: int = 0  # 0 = all
    val_images: int = 200
    num_val_im: int = 5000
    workers: int = 2
    time_budget_min: float = 0.0  # stop a stage early when this many minutes are spent (0 = none)
    log_every: int = 20
    ode_max_steps: int = 0  # relation stage: a batch whose adaptive solve needs more steps is skipped (0 = no cap)
    model: dict = field(default_factory=dict)  # ModelConfig overrides, e.g. {"object_ode": False} (ablations)
    extra: dict = field(default_factory=dict)


def train_preset(name: str, **overrides) -> TrainConfig:
    if name == "vg":
        cfg = TrainConfig(preset="vg", data="data/vg", out="runs/vg", batch_size=6, det_epochs=0, rel_epochs=20,
                          rel_lr=1e-4, optimizer="adam", sgdet_fraction=0.0, val_images=5000, num_val_im=5000)
    elif name == "demo":
        # sized so that both stages fit in about 150 minutes on a 2-core CPU. No time budget: a
        # stage stopped by the clock would make the result depend on the machine's speed, and the
        # same command must reproduce the same file bit for bit
        cfg = TrainConfig(preset="demo", data="data/world", out="runs/demo", batch_size=8, det_epochs=8,
                          rel_epochs=4, det_lr=2e-3, rel_lr=1e-3, optimizer="adam", sgdet_fraction=0.3,
                          val_images=200, num_val_im=300, time_budget_min=0.0, workers=1, ode_max_steps=64,
                          extra={"world": (4000, 1000)})
    else:
        raise ConfigError(f"unknown training preset {name!r}; choose 'vg' or 'demo'")
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg


# ----------------------------------------------------------------------------------------- data
@dataclass
class Item:
    image: torch.Tensor  # (3,S,S)
    boxes: torch.Tensor  # (N,4) model pixels
    labels: torch.Tensor  # (N,)
    relations: torch.Tensor  # (R,3)
    im_size: tuple[int, int]


class TrainData(torch.utils.data.Dataset):
    """VG samples -> model input with boxes scaled to model pixels; horizontal flip p = 0.5 (train)."""

    def __init__(self, ds: VGDataset, mcfg: ModelConfig, train: bool, seed: int) -> None:
        self.ds, self.mcfg, self.train, self.seed = ds, mcfg, train, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> Item:
        s = self.ds[i]
        img = load_image(s.image_path)
        boxes = s.boxes.astype(np.float32).copy()
        rng = random.Random(hash((self.seed, self.epoch, i)))
        if self.train and rng.random() < 0.5:
            img = img.transpose(0)  # FLIP_LEFT_RIGHT
            w = img.size[0]
            boxes[:, [0, 2]] = (w - 1) - boxes[:, [2, 0]]
        x, scale, im_size = prepare_image(img, self.mcfg.image_size, self.mcfg.pixel_mean, self.mcfg.pixel_std)
        return Item(x, torch.from_numpy(boxes) * scale, torch.from_numpy(s.labels.astype(np.int64)),
                    torch.from_numpy(s.relations.astype(np.int64)), im_size)


def collate(items: list[Item]) -> list[Item]:
    return items


# ----------------------------------------------------------------------------------------- losses
class DetectorLoss(nn.Module):
    """RPN (objectness + smooth-L1 deltas on anchors) and box head (CE + class-specific deltas)."""

    def __init__(self, model: NODIS) -> None:
        super().__init__()
        self.model = model
        self.rpn_matcher = Matcher(0.7, 0.3, allow_low_quality_matches=True)
        self.rpn_sampler = BalancedPositiveNegativeSampler(256, 0.5)
        self.roi_matcher = Matcher(0.5, 0.5, allow_low_quality_matches=False)
        self.roi_sampler = BalancedPositiveNegativeSampler(128, 0.25)

    def forward(self, items: list[Item]) -> dict[str, torch.Tensor]:
        det = self.model.detector
        dev = next(det.parameters()).device
        x = torch.stack([it.image for it in items]).to(dev)
        fmap = det.features(x)
        rpn = det.rpn_head(fmap)  # (B,F,F,A,6)
        B = len(items)
        anchors = det.rpn_head.anchors.reshape(-1, 4)
        logits = rpn[..., :2].reshape(B, -1, 2)
        deltas = rpn[..., 2:].reshape(B, -1, 4)
        matched = []
        for it in items:
            gt = it.boxes.to(dev)
            m = self.rpn_matcher(box_iou(gt, anchors)) if len(gt) else torch.full((anchors.shape[0],), -1, device=dev)
            lab = (m >= 0).float()
            lab[m == Matcher.BETWEEN_THRESHOLDS] = -1
            matched.append((m, lab))
        pos, neg = self.rpn_sampler([lab for _, lab in matched])
        l_obj, l_box, n_s = 0.0, 0.0, 0
        for b, it in enumerate(items):
            m, lab = matched[b]
            p, n = pos[b].bool(), neg[b].bool()
            sel = p | n
            l_obj = l_obj + F.cross_entropy(logits[b][sel], p[sel].long(), reduction="sum")
            n_s += int(sel.sum())
            if p.any():
                tgt = encode_deltas(anchors[p], it.boxes.to(dev)[m[p]])
                l_box = l_box + F.smooth_l1_loss(deltas[b][p], tgt, beta=1 / 9, reduction="sum")
        with torch.no_grad():
            props = det.proposals(rpn.detach(), [it.im_size for it in items])
        rois, labels, targets, img_idx = [], [], [], []
        for b, it in enumerate(items):
            gt = it.boxes.to(dev)
            cand = torch.cat((props[b].boxes, gt), 0)
            m = self.roi_matcher(box_iou(gt, cand)) if len(gt) else torch.full((cand.shape[0],), -1, device=dev)
            lab = torch.where(m >= 0, it.labels.to(dev)[m.clamp_min(0)], torch.zeros_like(m))
            ps, ns = self.roi_sampler([torch.where(m >= 0, torch.ones_like(m), torch.zeros_like(m))])
            keep = (ps[0] | ns[0]).bool()
            rois.append(torch.cat((torch.full((int(keep.sum()), 1), float(b), device=dev), cand[keep]), 1))
            labels.append(lab[keep])
            targets.append(gt[m.clamp_min(0)[keep]] if len(gt) else cand[keep])
            img_idx.append(keep)
        rois_t = torch.cat(rois)
        labels_t = torch.cat(labels)
        scores, box_deltas = det.classify(fmap, rois_t)
        l_cls = F.cross_entropy(scores, labels_t)
        fg = labels_t > 0
        l_reg = scores.new_zeros(())
        if fg.any():
            tgt = encode_deltas(rois_t[fg, 1:], torch.cat(targets)[fg])
            l_reg = F.smooth_l1_loss(box_deltas[fg, labels_t[fg]], tgt, beta=1.0, reduction="sum") / max(len(labels_t), 1)
        return {"rpn_cls": l_obj / max(n_s, 1), "rpn_box": l_box / max(n_s, 1), "det_cls": l_cls, "det_box": l_reg}


class RelationLoss(nn.Module):
    """Object CE at ``t_end`` + predicate CE over GT and sampled negative pairs (detector frozen)."""

    def __init__(self, model: NODIS, bg_pairs: int, sgdet_fraction: float, seed: int) -> None:
        super().__init__()
        self.model = model
        self.bg_pairs = bg_pairs
        self.sgdet_fraction = sgdet_fraction
        self.rng = random.Random(seed)

    def forward(self, items: list[Item]) -> dict[str, torch.Tensor]:
        model = self.model
        cfg = model.cfg
        dev = model.device
        sgdet = self.rng.random() < self.sgdet_fraction
        x = torch.stack([it.image for it in items]).to(dev)
        with torch.no_grad():
            fmap = model.detector.features(x)
            props = model.detector.proposals(model.detector.rpn_head(fmap), [it.im_size for it in items]) if sgdet else None
        rois, obj_labels, rels = [], [], []
        for b, it in enumerate(items):
            gt = it.boxes.to(dev)
            glab = it.labels.to(dev)
            if sgdet:
                boxes = props[b].boxes
                iou = box_iou(boxes, gt) if len(gt) else boxes.new_zeros((len(boxes), 0))
                best, arg = iou.max(1) if iou.shape[1] else (boxes.new_zeros(len(boxes)), boxes.new_zeros(len(boxes)).long())
                lab = torch.where(best >= 0.5, glab[arg], torch.zeros_like(arg))
                # each GT object -> its best proposal (with a fg label) for the relation branch
                gt_to_prop = iou.argmax(0) if len(gt) else torch.zeros(0, dtype=torch.long, device=dev)
                ok = iou.max(0).values >= 0.5 if len(gt) else torch.zeros(0, dtype=torch.bool, device=dev)
                lab[gt_to_prop[ok]] = glab[ok]
                r = it.relations.to(dev)
                keep = ok[r[:, 0]] & ok[r[:, 1]] if len(r) else torch.zeros(0, dtype=torch.bool, device=dev)
                r = r[keep]
                r = torch.stack((gt_to_prop[r[:, 0]], gt_to_prop[r[:, 1]], r[:, 2]), 1) if len(r) else r
                r = r[r[:, 0] != r[:, 1]] if len(r) else r
                fg_objs = torch.unique(gt_to_prop[ok])
            else:
                boxes, lab, r = gt, glab, it.relations.to(dev)
                fg_objs = torch.arange(len(gt), device=dev)
            rois.append(torch.cat((torch.full((len(boxes), 1), float(b), device=dev), boxes), 1))
            obj_labels.append(lab)
            rels.append(self._sample_pairs(r, fg_objs, dev))
        counts = [len(r) for r in rois]
        rois_t = torch.cat(rois)
        labels_t = torch.cat(obj_labels)
        with torch.no_grad():
            det_logits, _ = model.detector.classify(fmap, rois_t)
        obj_fmaps = model.roi_fmap_obj(model.detector.pool(fmap, rois_t).flatten(1))
        x0 = model.context.initial_state(obj_fmaps, det_logits, rois_t[:, 1:])
        times = torch.tensor([0.0, cfg.t_end], device=dev)
        orders = [torch.arange(n, device=dev) if not sgdet else pair_order(n, cfg, dev, self.rng.randrange(10**6))
                  for n in counts]
        seq = model.object_sequences(x0, counts, orders)
        states, nfe_o = model.context.solve(seq, times)
        flat = unpad(states[-1], counts)
        offsets = np.cumsum([0] + counts[:-1]).tolist()
        perm = torch.cat([o + off for o, off in zip(orders, offsets)])
        obj_logits = model.context.decode(flat[torch.argsort(perm)])
        l_obj = F.cross_entropy(obj_logits, labels_t)
        # predicate branch (teacher forcing: GT / assigned labels)
        pairs = [torch.cat((r[:, :2] + off, r[:, 2:]), 1) for r, off in zip(rels, offsets)]
        nonempty = [p for p in pairs if len(p)]
        if not nonempty:
            return {"obj": l_obj, "rel": l_obj.new_zeros(()), "nfe_obj": torch.tensor(float(nfe_o))}
        rstates, nfe_r = model.relation_states(fmap, rois_t, labels_t, [p[:, :2] for p in nonempty], times,
                                               seed=self.rng.randrange(10**6))
        rel_logits = model.relation.decode(rstates[-1])
        rel_labels = torch.cat([p[:, 2] for p in nonempty])
        l_rel = F.cross_entropy(rel_logits, rel_labels)
        return {"obj": l_obj, "rel": l_rel, "nfe_obj": torch.tensor(float(nfe_o)), "nfe_rel": torch.tensor(float(nfe_r))}

    def _sample_pairs(self, rels: torch.Tensor, objs: torch.Tensor, dev) -> torch.Tensor:
        """All GT relations (one predicate per pair) plus random negative pairs among ``objs``."""
        fg = {}
        for s, o, p in rels.tolist():
            fg.setdefault((s, o), p)
        objs_l = objs.tolist()
        cands = [(s, o) for s in objs_l for o in objs_l if s != o and (s, o) not in fg]
        # negatives: as many as positives (at least 4), within bg_pairs candidates per image
        n_bg = max(0, min(len(cands), self.bg_pairs - len(fg), max(len(fg), 4)))
        bg = self.rng.sample(cands, n_bg) if n_bg else []
        rows = [(s, o, p) for (s, o), p in fg.items()] + [(s, o, 0) for s, o in bg]
        return torch.tensor(rows, dtype=torch.long, device=dev).reshape(-1, 3)


# ----------------------------------------------------------------------------------------- loop
def _dist_info() -> tuple[int, int, int]:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def _make_optimizer(params, name: str, lr: float):
    params = [p for p in params if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-3, weight_decay=1e-4)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    raise ConfigError(f"unknown optimizer {name!r}; choose adam or sgd")


def _git_commit() -> str | None:
    import subprocess

    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _derive_seed(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]).generate_state(1)[0])


def _rng_state(loss_mod: nn.Module) -> dict:
    """Every random state a training step draws from: torch (CPU and CUDA), Python, NumPy and the
    relation loss's own pair sampler. Stored as plain lists so ``weights_only`` loading accepts it."""
    np_state = np.random.get_state()
    st = {"torch": torch.get_rng_state(), "python": _listify(random.getstate()),
          "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    if isinstance(getattr(loss_mod, "rng", None), random.Random):
        st["loss"] = _listify(loss_mod.rng.getstate())
    return st


def _listify(x):
    return [_listify(v) for v in x] if isinstance(x, (tuple, list)) else x


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, list) else x


def _set_rng_state(st: dict, loss_mod: nn.Module) -> None:
    torch.set_rng_state(st["torch"])
    random.setstate(_tuplify(st["python"]))
    kind, keys, pos, has_gauss, gauss = st["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    if "loss" in st and isinstance(getattr(loss_mod, "rng", None), random.Random):
        loss_mod.rng.setstate(_tuplify(st["loss"]))


def _save_state(state: dict, path: Path) -> None:
    """Atomic and durable: temporary file in the same folder, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass


def _load_state(path: Path) -> dict:
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt or not a torch file at all
        raise CheckpointError(f"{path}: the saved training state is damaged and cannot be resumed ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else 'no detail'}); delete it to restart this stage") from None
    if not isinstance(st, dict) or "stage" not in st or "model" not in st:
        raise CheckpointError(f"{path}: not a nodis training state; delete it to restart this stage")
    return st


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(tcfg: TrainConfig) -> NODIS:
    vocab = read_vocab(tcfg.data)
    mcfg = preset(tcfg.preset, **{**tcfg.model, "num_classes": vocab.num_classes, "num_predicates": vocab.num_predicates})
    set_seed(tcfg.seed)
    return NODIS(mcfg, vocab)


def _cap_solver(model: nn.Module, steps: int | None) -> None:
    """Set (or with None lift) the adaptive-step cap of every ODE solve of ``model``."""
    for m in model.modules():
        if isinstance(m, ODEBlock):
            m.max_num_steps = steps


def run_stage(model: NODIS, stage: str, tcfg: TrainConfig, state_path: Path, progress: bool = True,
              max_steps: int | None = None, validate=None, best_path: Path | None = None) -> dict:
    """Train one stage (``detector`` or ``relation``), resuming from ``state_path`` when it exists.

    ``validate(model) -> float`` runs after every epoch (rank 0); the best-scoring weights are saved
    to ``best_path``. Returns the steps run, the loss history, validation scores and timing."""
    from tqdm import tqdm

    rank, world, local = _dist_info()
    ds = VGDataset(tcfg.data, "train", num_val_im=tcfg.num_val_im, filter_non_overlap=False, seed=tcfg.seed)
    data = TrainData(ds, model.cfg, train=True, seed=tcfg.seed)
    limit = tcfg.max_train_images or len(data)
    subset = torch.utils.data.Subset(data, list(range(min(limit, len(data)))))
    if len(subset) == 0:
        raise DatasetError(f"{tcfg.data}: the training split is empty (no images with boxes); nothing to train on")
    if len(subset) < tcfg.batch_size * world:
        raise DatasetError(f"{tcfg.data}: the training split has {len(subset)} images, fewer than one batch "
                           f"({tcfg.batch_size} x {world} processes); lower --batch-size")
    # the sampling order of an epoch is a function of (seed, epoch) alone, so a resumed run draws
    # exactly the batches an uninterrupted one does
    sample_gen, loader_gen = torch.Generator(), torch.Generator()
    sampler = torch.utils.data.distributed.DistributedSampler(subset, num_replicas=world, rank=rank, seed=tcfg.seed) \
        if world > 1 else torch.utils.data.RandomSampler(subset, generator=sample_gen)
    loader = torch.utils.data.DataLoader(subset, batch_size=tcfg.batch_size, sampler=sampler, collate_fn=collate,
                                         num_workers=tcfg.workers, drop_last=True, persistent_workers=False,
                                         generator=loader_gen)
    epochs = tcfg.det_epochs if stage == "detector" else tcfg.rel_epochs
    steps_per_epoch = max(1, len(loader))
    planned = max(1, int(math.ceil(epochs * steps_per_epoch)))
    total = planned if max_steps is None else min(planned, max_steps)
    if stage == "detector":
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.detector.parameters():
            p.requires_grad_(True)
        loss_mod: nn.Module = DetectorLoss(model)
        lr = tcfg.det_lr
    else:
        for p in model.parameters():
            p.requires_grad_(True)
        for p in model.detector.parameters():
            p.requires_grad_(False)
        loss_mod = RelationLoss(model, tcfg.bg_pairs, tcfg.sgdet_fraction, tcfg.seed + rank)
        lr = tcfg.rel_lr
    opt = _make_optimizer(model.parameters(), tcfg.optimizer, lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(planned, total), pct_start=0.05) \
        if tcfg.preset == "demo" else None
    step, best = 0, -1.0
    skipped = 0
    resumed_from = 0
    _cap_solver(model, tcfg.ode_max_steps if stage == "relation" and tcfg.ode_max_steps > 0 and world == 1 else None)
    val_history: list[dict] = []
    t0 = time.time()
    if state_path.exists():
        st = _load_state(state_path)
        if st.get("stage") == stage:
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["optim"])
            if sched is not None and "sched" in st:
                sched.load_state_dict(st["sched"])
            step, best = int(st["step"]), float(st.get("best", -1.0))
            val_history = list(st.get("val", []))
            resumed_from = step
            t0 -= float(st.get("seconds", 0.0))  # the time budget counts time spent before the resume
            if st.get("done"):  # finished earlier (possibly stopped by the time budget): do not train on
                total = step
            if "rng" in st:
                _set_rng_state(st["rng"], loss_mod)
            log.info("resumed %s stage at step %d", stage, step)
    ddp = None
    if world > 1:
        ddp = nn.parallel.DistributedDataParallel(loss_mod, find_unused_parameters=True)
    model.train()
    if stage == "relation":
        model.detector.eval()  # frozen detector: no dropout, BN statistics fixed (documented choice)
    history: list[dict] = []
    bar = tqdm(total=total, initial=step, desc=f"{stage}", disable=not progress or rank != 0, dynamic_ncols=True)
    epoch = step // steps_per_epoch
    while step < total:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        sample_gen.manual_seed(_derive_seed(tcfg.seed, epoch, 0))
        loader_gen.manual_seed(_derive_seed(tcfg.seed, epoch, 1))
        data.epoch = epoch
        ds.epoch = epoch  # redraw one predicate per duplicated pair
        skip = step % steps_per_epoch
        for i, items in enumerate(loader):
            if i < skip:
                continue
            opt.zero_grad(set_to_none=True)
            try:
                losses = (ddp or loss_mod)(items)
            except SolverStepLimit:
                # a runaway adaptive solve (stiff SGDet-style batch): skip the update, keep the schedule
                # (deterministic, so a rerun skips the same batches)
                skipped += 1
                log.warning("%s step %d: ODE solve over %d steps, batch skipped (%d so far)", stage, step + 1,
                            tcfg.ode_max_steps, skipped)
                loss = torch.zeros(())
                losses = {"skipped": torch.ones(())}
            else:
                loss = sum(v for k, v in losses.items() if not k.startswith("nfe"))
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 5.0)
                opt.step()
            if sched is not None:
                sched.step()
            step += 1
            rec = {k: float(v.detach()) for k, v in losses.items()}
            rec["loss"] = float(loss.detach())
            history.append(rec)
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.3f}", **{k: f"{v:.2f}" for k, v in rec.items() if k != "loss" and not k.startswith("nfe")})
            if step % tcfg.log_every == 0 and rank == 0:
                log.info("%s step %d/%d loss %.4f %s", stage, step, total, rec["loss"], json.dumps(rec))
            end_of_epoch = step % steps_per_epoch == 0
            over_budget = tcfg.time_budget_min and (time.time() - t0) / 60 > tcfg.time_budget_min
            if validate is not None and rank == 0 and (end_of_epoch or step == total or over_budget):
                score = float(validate(model))
                model.train()
                if stage == "relation":
                    model.detector.eval()
                val_history.append({"step": step, "epoch": step / steps_per_epoch, "score": score})
                log.info("%s validation at step %d: %.4f (best %.4f)", stage, step, score, best)
                if best_path is not None and score > best:
                    best = score
                    save_checkpoint(model, best_path, info={"stage": stage, "step": step, "val": score})
            if rank == 0 and (end_of_epoch or step == total or step % 200 == 0 or over_budget):
                state = {"stage": stage, "model": model.state_dict(), "optim": opt.state_dict(), "step": step,
                         "best": best, "val": val_history, "done": bool(over_budget) or step >= planned,
                         "seconds": time.time() - t0}
                if sched is not None:
                    state["sched"] = sched.state_dict()
                state["rng"] = _rng_state(loss_mod)
                _save_state(state, state_path)
            if over_budget:
                log.warning("%s stage stopped by the time budget after %d steps", stage, step)
                total = step
            if step >= total:
                break
        epoch += 1
    bar.close()
    model.eval()
    _cap_solver(model, None)
    return {"steps": step, "skipped": skipped, "history": history, "resumed_from": resumed_from, "seconds": time.time() - t0,
            "val": val_history, "best": best}


def train(tcfg: TrainConfig, progress: bool = True) -> Path:
    """Run both stages and write ``out/model.safetensors`` (+ ``metrics.json``)."""
    rank, world, local = _dist_info()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    out = Path(tcfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (Path(tcfg.data) / "VG-SGG.h5").exists():
        raise DatasetError(f"{tcfg.data}: no VG-SGG.h5; generate the world with `nodis world {tcfg.data}` first")
    model = build_model(tcfg)
    if torch.cuda.is_available():
        model = model.to(f"cuda:{local}")
    t_start = time.time()
    results = {}

    def validate(m) -> float:
        from .evaluate import evaluate_model

        r = evaluate_model(m, tcfg.data, "sgcls", split="val", limit=tcfg.val_images, num_val_im=tcfg.num_val_im)
        return float(r["R@50"] or 0.0)

    best_path = out / "best.safetensors"
    for stage in ("detector", "relation"):
        epochs = tcfg.det_epochs if stage == "detector" else tcfg.rel_epochs
        if epochs <= 0:
            continue
        results[stage] = run_stage(model, stage, tcfg, out / f"{stage}_state.pt", progress=progress,
                                   validate=validate if stage == "relation" else None,
                                   best_path=best_path if stage == "relation" else None)
        results[stage].pop("history", None)
    if best_path.exists() and rank == 0:
        best = load_checkpoint(best_path)
        model.load_state_dict(best.state_dict())
    val = results.get("relation", {}).get("val", [])
    # the checkpoint holds only what the same command reproduces exactly (no wall-clock times), so a
    # rerun writes the same file bit for bit; timings go to train_log.json
    info = {"train_config": asdict(tcfg),
            "stages": {k: {"steps": v["steps"]} for k, v in results.items()},
            "commit": _git_commit(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "world_size": world, "val": {"metric": "SGCls R@50 on the val split", "history": val,
                                         "best": max((v["score"] for v in val), default=None)}}
    log_info = {**info, "stages": results, "train_seconds": time.time() - t_start}
    path = out / "model.safetensors"
    if rank == 0:
        save_checkpoint(model, path, info=info)
        (out / "train_log.json").write_text(json.dumps(log_info, indent=2, default=str))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return path
