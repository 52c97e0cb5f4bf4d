"""The paper's analyses on our world: Table 2 (ablations) and Fig. 3 (t_end) -> docs/results.md.

    python scripts/results.py ablations   # train the four Table 2 variants, evaluate them
    python scripts/results.py tend        # Fig. 3 sweep with the shipped demo model
    python scripts/results.py labels      # labels at t = 0 vs t_end: how often they change, how often for the better
    python scripts/results.py report      # docs/results.md + docs/images/results_*.png from the JSON

**Table 2.** Each variant is a relation stage trained with ``nodis train --preset demo`` and the same
budget (``--rel-epochs``, default 1) on top of the *same* frozen detector (the shipped run's
``runs/demo/detector_state.pt``, copied into the variant's run folder so that the detector stage
resumes as finished); the ODE switches are ``--model object_ode=…`` / ``--model predicate_ode=…``.
With an ODE switched off, its state does not evolve: the decoder reads the front-end features
directly (``docs/architecture.md``). Each variant is evaluated on the first ``--limit`` test images in
all three modes.

**Fig. 3.** The shipped model (trained with ``t_end = 1.5``) is run in SGCls on the first ``--limit``
test images with the integration end set to each ``t_end`` (a two-point solve ``[0, t_end]``, as the
release does), recording R@50, the NFE of both ODEs and the wall time per image.

Every step writes its JSON under ``runs/results/`` and is skipped when that JSON exists (``--force``
redoes it), so an interrupted run continues.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

VARIANTS = {  # name: (label, object_ode, predicate_ode)
    "none": ("no ODE", False, False),
    "pode": ("P-ODE only", False, True),
    "oode": ("O-ODE only", True, False),
    "both": ("O-ODE + P-ODE", True, True),
}
T_ENDS = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0]
MODES = ("predcls", "sgcls", "sgdet")


def run_ablations(args) -> None:
    from nodis import load_model
    from nodis.evaluate import evaluate_model

    res_dir = Path(args.results)
    res_dir.mkdir(parents=True, exist_ok=True)
    det_state = Path(args.detector)
    if not det_state.exists():
        sys.exit(f"{det_state}: no detector stage to start from; train the demo model first")
    names = args.variants.split(",")
    for name in names:
        label, oode, pode = VARIANTS[name]
        out = Path(args.runs) / name
        out_json = res_dir / f"ablation_{name}.json"
        if out_json.exists() and not args.force:
            print(f"[{name}] done earlier: {out_json}")
            continue
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "detector_state.pt").exists():
            shutil.copyfile(det_state, out / "detector_state.pt")
        cmd = [sys.executable, "-m", "nodis.cli", "train", "--preset", "demo", "--data", args.data, "--out", str(out),
               "--rel-epochs", str(args.rel_epochs), "--model", f"object_ode={str(oode).lower()}",
               "--model", f"predicate_ode={str(pode).lower()}", "--quiet"]
        print(f"[{name}] {' '.join(cmd[2:])}", flush=True)
        t0 = time.time()
        subprocess.run(cmd, check=True, cwd=ROOT)
        train_s = time.time() - t0
        log = json.loads((out / "train_log.json").read_text())
        model = load_model(out / "model.safetensors", device="cpu")
        metrics = {}
        for mode in MODES:
            t = time.time()
            metrics[mode] = evaluate_model(model, args.data, mode, split="test", limit=args.limit)
            print(f"[{name}] {mode}: R@50 {metrics[mode]['R@50']:.3f} ({time.time() - t:.0f} s)", flush=True)
        rel = log["stages"]["relation"]
        out_json.write_text(json.dumps({
            "variant": name, "label": label, "object_ode": oode, "predicate_ode": pode,
            "rel_epochs": args.rel_epochs, "relation_steps": rel["steps"], "relation_seconds": rel["seconds"],
            "wall_seconds": train_s, "val": rel.get("val", []), "metrics": metrics, "limit": args.limit,
        }, indent=2))


def run_tend(args) -> None:
    import numpy as np

    from nodis import load_model
    from nodis.data.vg import VGDataset
    from nodis.evaluate import dataset_zeroshot
    from nodis.evaluation import Evaluator, GroundTruth, Prediction

    res_dir = Path(args.results)
    res_dir.mkdir(parents=True, exist_ok=True)
    out_json = res_dir / "tend.json"
    done = json.loads(out_json.read_text()) if out_json.exists() and not args.force else {"points": []}
    have = {p["t_end"] for p in done["points"]}
    model = load_model(args.weights, device="cpu")
    trained_t = float(model.cfg.t_end)
    ds = VGDataset(args.data, "test", filter_duplicate_rels=False)
    n = min(args.limit, len(ds))
    zs = dataset_zeroshot(args.data)
    P = model.cfg.num_predicates
    samples = [ds[i] for i in range(n)]
    for t_end in T_ENDS:
        if t_end in have:
            continue
        model.cfg.t_end = t_end  # the config object is shared by every submodule
        ev = Evaluator(P, zeroshot_triplets=zs)
        secs, nfe_o, nfe_p = [], [], []
        for s in samples:
            t0 = time.perf_counter()
            traj = model.predict(s.image_path, mode="sgcls", boxes=s.boxes, times=[0.0, t_end])
            g = traj.graph_at(t_end)
            secs.append(time.perf_counter() - t0)
            nfe = traj.nfe
            nfe_o.append(nfe["object"])
            nfe_p.append(nfe["predicate"])
            ev.add(GroundTruth(s.boxes, s.labels, s.relations), Prediction.from_graph(g, P).in_mode("sgcls", GroundTruth(s.boxes, s.labels, s.relations)))
        summ = ev.summary()
        point = {"t_end": t_end, "R@20": summ["R@20"], "R@50": summ["R@50"], "R@100": summ["R@100"],
                 "mR@50": summ.get("mR@50"), "nfe_object": float(np.mean(nfe_o)), "nfe_predicate": float(np.mean(nfe_p)),
                 "seconds_median": statistics.median(secs), "seconds_mean": float(np.mean(secs))}
        print(json.dumps(point), flush=True)
        done["points"].append(point)
        done["points"].sort(key=lambda p: p["t_end"])
        done.update(images=n, trained_t_end=trained_t, threads=torch.get_num_threads(), machine=platform.machine(),
                    weights=str(args.weights))
        out_json.write_text(json.dumps(done, indent=2))
    model.cfg.t_end = trained_t


GROUPS = [  # predicate word choices the world samples for one situation (docs/world.md)
    {"on", "sitting on", "in"}, {"on", "standing on", "walking on"}, {"wearing", "has", "on"},
    {"carrying", "holding", "has"}, {"riding", "on"}, {"of", "on", "has"}, {"growing on", "in", "on"},
]


def word_choice_ceiling(data: str, image_ids: list[int]) -> float | None:
    """Recall@K (per-image mean) of an oracle that knows every scene exactly (which pairs are related
    and how) but must guess the one predicate per pair that the generator sampled among overlapping
    words: it picks the most likely word, right with probability ``max(weights)``; a pair annotated
    twice (synonym duplicate) scores at most one of its two relations. Regenerates the scenes of a
    world written by :func:`nodis.data.world.generate_world` (None for other datasets)."""
    import numpy as np

    from nodis.data import world

    meta_path = Path(data) / "world.json"
    if not meta_path.exists():
        return None
    seed = int(json.loads(meta_path.read_text())["seed"])
    orig = world._Scene.rel

    def rel(sc, s, o, choices, dup_p=0.08):
        n0 = len(sc.rels)
        orig(sc, s, o, choices, dup_p)
        if not isinstance(choices, str):
            w = np.array([c[1] for c in choices], dtype=float)
            for r in sc.rels[n0:]:
                sc.__dict__.setdefault("_best_guess", {})[r[:2]] = float(w.max() / w.sum())

    world._Scene.rel = rel
    try:
        recalls = []
        for iid in image_ids:
            sc, full, _ = world._world_scene(seed, iid - 1, iid, "test")
            keep = [i for i, o in enumerate(sc.objs) if o.annotated and o.label is not None]
            if len(keep) > world.MAX_OBJECTS:  # as in world._finish
                keep = sorted(sorted(keep, key=lambda i: (-sc.objs[i].prio, i))[: world.MAX_OBJECTS])
            glob = dict(enumerate(keep))
            guess = sc.__dict__.get("_best_guess", {})
            hits, seen = 0.0, set()
            for s, o, _p in full.relations.tolist():
                if (s, o) in seen:
                    continue  # the second predicate of a duplicated pair cannot be hit too
                seen.add((s, o))
                hits += guess.get((glob[s], glob[o]), 1.0)
            recalls.append(hits / max(1, len(full.relations)))
        return float(np.mean(recalls))
    finally:
        world._Scene.rel = orig


def run_diagnose(args) -> None:
    """Where PredCls recall is lost: for every ground-truth relation of the first ``--limit`` test
    images, is its pair ranked in the top 50, and is the model's top predicate for the pair the
    annotated one (or a word from the same overlap group)? Also the ceiling the graph constraint
    puts on R@K when a pair is annotated with two predicates."""
    from collections import Counter

    import numpy as np

    from nodis import load_model
    from nodis.data.vg import VGDataset
    from nodis.evaluation import GroundTruth, Prediction

    res_dir = Path(args.results)
    res_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(args.weights, device="cpu")
    P = model.cfg.num_predicates
    names = list(model.vocab.predicates)
    ds = VGDataset(args.data, "test", filter_duplicate_rels=False)
    n = min(args.limit, len(ds))
    counts = Counter()
    confusions = Counter()
    ceiling = []
    for i in range(n):
        s = ds[i]
        gt = GroundTruth(s.boxes, s.labels, s.relations)
        traj = model.predict(s.image_path, mode="predcls", boxes=s.boxes, labels=s.labels)
        pred = Prediction.from_graph(traj.graph_at(model.cfg.t_end), P).in_mode("predcls", gt)
        rs = pred.rel_scores[:, 1:]
        score = pred.obj_scores[pred.rel_pairs[:, 0]] * pred.obj_scores[pred.rel_pairs[:, 1]] * rs.max(1)
        order = np.argsort(-score, kind="stable")
        rank = {tuple(pred.rel_pairs[j]): r for r, j in enumerate(order)}
        row = {tuple(pred.rel_pairs[j]): j for j in range(len(pred.rel_pairs))}
        rels = np.asarray(s.relations).reshape(-1, 3)
        ceiling.append(len({(a, b) for a, b, _ in rels.tolist()}) / max(1, len(rels)))
        for a, b, p in rels.tolist():
            counts["gt"] += 1
            key = (a, b)
            if key not in row:
                counts["pair_missing"] += 1
                continue
            top = int(np.argmax(rs[row[key]])) + 1
            in50 = rank[key] < 50
            if top == p:
                counts["hit@50" if in50 else "right_predicate_pair_outside_50"] += 1
                continue
            gname, pname = names[p], names[top]
            same = any(gname in g and pname in g for g in GROUPS)
            counts[("synonym" if same else "other") + ("_in50" if in50 else "_outside50")] += 1
            confusions[(gname, pname)] += 1
    out = {"images": n, "counts": dict(counts), "graph_constraint_ceiling": float(np.mean(ceiling)),
           "word_choice_ceiling": word_choice_ceiling(args.data, [ds[i].image_id for i in range(n)]),
           "top_confusions": [[g, p, c] for (g, p), c in confusions.most_common(12)]}
    (res_dir / "diagnose.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


LOOKALIKES = [("hat", "bowl"), ("ball", "sun"), ("man", "woman", "child"), ("hat", "helmet")]
LABELS_BEGIN, LABELS_END = "<!-- label-changes: written by scripts/results.py labels -->", "<!-- /label-changes -->"


def _greedy_match(gt_boxes, boxes, scores, thr: float = 0.5) -> dict[int, int]:
    """GT index -> detection index: best-scoring detections first, each matched once to the free GT
    box of highest IoU >= ``thr`` (the +1-pixel IoU of the evaluation)."""
    import numpy as np

    from nodis.evaluation import iou_legacy

    if not len(gt_boxes) or not len(boxes):
        return {}
    iou = iou_legacy(np.asarray(boxes, np.float64), np.asarray(gt_boxes, np.float64))
    out: dict[int, int] = {}
    for d in np.argsort(-np.asarray(scores), kind="stable"):
        cand = [(iou[d, g], g) for g in range(len(gt_boxes)) if g not in out and iou[d, g] >= thr]
        if cand:
            out[max(cand)[1]] = int(d)
    return out


def run_labels(args) -> None:
    """How often an object's label at t = 0 differs from its label at t_end, and how often that change
    is a correction. SGCls: every GT box (boxes given). SGDet: the GT boxes matched (IoU >= 0.5,
    one-to-one, best score first) by a box kept at t_end; its label at t = 0 is the same proposal's
    label there (the O-ODE state of one roi over t). PredCls gives the labels, so it has no changes."""
    from collections import Counter

    import numpy as np

    from nodis import load_model
    from nodis.data.vg import VGDataset

    res_dir = Path(args.results)
    res_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(args.weights, device="cpu")
    names = list(model.vocab.classes)
    t_end = float(model.cfg.t_end)
    ds = VGDataset(args.data, "test", filter_duplicate_rels=False)
    n = min(args.limit, len(ds))
    import hashlib

    digest = hashlib.sha256(Path(args.weights).read_bytes()).hexdigest()[:12]
    world = Path(args.data) / "world.json"
    wj = json.loads(world.read_text()) if world.exists() else {}
    out = {"images": n, "test_images": len(ds), "weights": Path(args.weights).name, "weights_sha256": digest,
           "world": {k: wj.get(k) for k in ("generator", "version", "seed")}, "t_end": t_end,
           "threads": torch.get_num_threads(), "modes": {}, "examples": []}
    t_start = time.time()
    for mode in ("sgcls", "sgdet"):
        c = Counter()
        pairs = Counter()
        for i in range(n):
            s = ds[i]
            gt_lab = np.asarray(s.labels, np.int64)
            if mode == "sgcls":
                traj = model.predict(s.image_path, mode="sgcls", boxes=s.boxes, times=[0.0, t_end])
                rows = {g: g for g in range(len(gt_lab))}  # GT index -> object id
            else:
                traj = model.predict(s.image_path, mode="sgdet", times=[0.0, t_end])
                g_end = traj.graph_at(t_end)
                rows = _greedy_match(s.boxes, [o.box for o in g_end.objects], [o.score for o in g_end.objects])
                rows = {g: g_end.objects[d].index for g, d in rows.items()}
                c["gt_boxes"] += len(gt_lab)
            for g, oid in rows.items():
                h = traj.object_history(oid)
                a, b, gt = h.label_start, h.label_end, int(gt_lab[g])
                c["objects"] += 1
                c["right_t0"] += a == gt
                c["right_tend"] += b == gt
                if a == b:
                    continue
                c["changed"] += 1
                kind = "correction" if b == gt else ("corruption" if a == gt else "wrong_to_wrong")
                c[kind] += 1
                pairs[(names[a], names[b], kind)] += 1
                if kind == "correction" and any(names[a] in grp and names[b] in grp for grp in LOOKALIKES):
                    c["lookalike_corrections"] += 1
                    if len(out["examples"]) < 40:
                        out["examples"].append({"mode": mode, "image_id": int(s.image_id), "image": str(s.image_path),
                                                "object": int(oid), "t0": names[a], "t_end": names[b]})
            if (i + 1) % 50 == 0:
                print(f"[{mode}] {i + 1}/{n} images, {time.time() - t_start:.0f} s", flush=True)
        r = dict(c)
        r["top_changes"] = [[a, b, k, v] for (a, b, k), v in pairs.most_common(12)]
        out["modes"][mode] = r
        print(mode, json.dumps(r), flush=True)
    out["seconds"] = round(time.time() - t_start, 1)
    (res_dir / "label_changes.json").write_text(json.dumps(out, indent=2))
    put_section(ROOT / "docs" / "results.md", label_changes_section(out))
    print(f"wrote {res_dir / 'label_changes.json'} and the section of docs/results.md")


def put_section(doc: Path, section: str) -> None:
    """Replace the marked label-changes section of ``doc`` (or insert it before "## Reproduce")."""
    text = doc.read_text() if doc.exists() else ""
    if LABELS_BEGIN in text and LABELS_END in text:
        a, b = text.index(LABELS_BEGIN), text.index(LABELS_END) + len(LABELS_END)
        text = text[:a] + section + text[b:]
    else:
        anchor = "## Reproduce"
        text = text.replace(anchor, section + "\n\n" + anchor, 1) if anchor in text else text + "\n" + section + "\n"
    doc.write_text(text)


def label_changes_section(r: dict) -> str:
    """The docs/results.md section (between markers, so ``labels`` can replace it in place)."""
    lines = [LABELS_BEGIN, "## Does the object ODE change its mind? Labels at t = 0 vs t_end", "",
             f"For every object, its class at t = 0 (the decoded initial state, before any integration) and at "
             f"t_end = {r['t_end']:g}, on the first {r['images']} of the {r['test_images']} test images, model "
             f"`{r['weights']}` (sha256 `{r.get('weights_sha256', '?')}…`; world version "
             f"{(r.get('world') or {}).get('version', '?')}, seed {(r.get('world') or {}).get('seed', '?')}) "
             f"(`python scripts/results.py labels --limit {r['images']}`, "
             f"{r['seconds'] / 60:.0f} min on {r['threads']} CPU thread(s)). SGCls: every ground-truth box "
             "(boxes given). SGDet: the ground-truth boxes matched by a box kept at t_end (IoU ≥ 0.5, one-to-one, "
             "best score first), with the label at t = 0 of the same proposal (this follows one proposal over t; "
             "which proposals are kept also changes with t, per-class NMS runs at every t, and is not measured "
             "here). A change is a *correction* when "
             "the t_end label is the ground truth and the t = 0 label was not, a *corruption* the other way round. "
             "PredCls takes the labels as given, so nothing can change there.", "",
             "| mode | objects | right at t = 0 | right at t_end | changed | corrections | corruptions | wrong → wrong | "
             "look-alike corrections |", "|---|---|---|---|---|---|---|---|---|"]
    for mode, m in r["modes"].items():
        n = max(1, m.get("objects", 0))
        ch = max(1, m.get("changed", 0))
        extra = f" (of {m['gt_boxes']} GT boxes)" if "gt_boxes" in m else ""
        lines.append(f"| {'SGCls' if mode == 'sgcls' else 'SGDet'} | {m.get('objects', 0)}{extra} | "
                     f"{100 * m.get('right_t0', 0) / n:.1f}% | {100 * m.get('right_tend', 0) / n:.1f}% | "
                     f"{m.get('changed', 0)} ({100 * m.get('changed', 0) / n:.1f}%) | "
                     f"{m.get('correction', 0)} ({100 * m.get('correction', 0) / ch:.0f}% of changes) | "
                     f"{m.get('corruption', 0)} ({100 * m.get('corruption', 0) / ch:.0f}%) | "
                     f"{m.get('wrong_to_wrong', 0)} ({100 * m.get('wrong_to_wrong', 0) / ch:.0f}%) | "
                     f"{m.get('lookalike_corrections', 0)} |")
    lines.append("")
    for mode, m in r["modes"].items():
        n = max(1, m.get("objects", 0))
        a, b = 100 * m.get("right_t0", 0) / n, 100 * m.get("right_tend", 0) / n
        cor, bad = m.get("correction", 0), m.get("corruption", 0)
        lines.append(f"* {'SGCls' if mode == 'sgcls' else 'SGDet'}: integrating to t_end "
                     f"{'raises' if b > a else 'lowers' if b < a else 'keeps'} the share of right labels "
                     f"{'from ' + f'{a:.1f}% to {b:.1f}%' if b != a else f'at {a:.1f}%'}; "
                     f"{cor} correction{'s' * (cor != 1)} against {bad} corruption{'s' * (bad != 1)}"
                     + (f" ({cor / bad:.1f} : 1)." if bad else "."))
    lines += ["", "Most frequent changes (t = 0 label → t_end label, kind, count):", ""]
    for mode, m in r["modes"].items():
        top = ", ".join(f"{a} → {b} ({k.replace('_', ' ')}, {v})" for a, b, k, v in m.get("top_changes", [])[:8])
        lines.append(f"* {'SGCls' if mode == 'sgcls' else 'SGDet'}: {top or 'none'}")
    lines += ["", "Look-alike corrections count changes inside hat / bowl, ball / sun, man / woman / child and "
              "hat / helmet that end on the ground truth. In the viewer, select such an object to watch its "
              "class probabilities cross (`docs/viewer.md`).", LABELS_END]
    return "\n".join(lines)


def pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def tend_section(tend: dict, img_dir: Path, model_label: str = "The shipped demo model") -> list[str]:
    """The Fig. 3 section of docs/results.md (Markdown lines) and its figure, from ``tend.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: list[str] = []
    pts = tend["points"]
    lines += ["## Fig. 3: the integration time t_end", "",
              f"{model_label} (trained with t_end = {tend['trained_t_end']}) in SGCls on the first "
              f"{tend['images']} test images, solved with dopri5 (rtol = atol = 0.01) from 0 to each t_end. "
              f"NFE is the mean number of ODE-function evaluations per image; time is the median wall time "
              f"per image (detector, both ODEs, decoding) on {tend['machine']} with {tend['threads']} CPU threads.", "",
              "| t_end | SGCls R@20 | R@50 | R@100 | NFE O-ODE | NFE P-ODE | time / image |", "|---|---|---|---|---|---|---|"]
    for p in pts:
        lines.append(f"| {p['t_end']:g} | {pct(p['R@20'])} | {pct(p['R@50'])} | {pct(p['R@100'])} | "
                     f"{p['nfe_object']:.1f} | {p['nfe_predicate']:.1f} | {1000 * p['seconds_median']:.0f} ms |")
    lines += [""]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=110)
    ts = [p["t_end"] for p in pts]
    axes[0].plot(ts, [100 * p["R@50"] for p in pts], "o-")
    axes[0].set_ylabel("SGCls R@50 (%)")
    axes[1].plot(ts, [p["nfe_object"] for p in pts], "o-", label="O-ODE")
    axes[1].plot(ts, [p["nfe_predicate"] for p in pts], "s-", label="P-ODE")
    axes[1].set_ylabel("NFE")
    axes[1].legend(fontsize=8)
    axes[2].plot(ts, [1000 * p["seconds_median"] for p in pts], "o-")
    axes[2].set_ylabel("time / image (ms)")
    for a in axes:
        a.set_xlabel("t_end")
        a.axvline(tend["trained_t_end"], color="gray", ls=":", lw=1)
        a.grid(alpha=0.3)
    fig.suptitle("Fig. 3 on the scene world (dotted: t_end used in training)", fontsize=10)
    fig.tight_layout()
    fig.savefig(img_dir / "results_fig3.png")
    plt.close(fig)
    lines += ["![Fig. 3](images/results_fig3.png)", ""]
    return lines


def write_report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res_dir = Path(args.results)
    img_dir = ROOT / "docs" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    abl = {}
    for name in VARIANTS:
        f = res_dir / f"ablation_{name}.json"
        if f.exists():
            abl[name] = json.loads(f.read_text())
    tend = json.loads((res_dir / "tend.json").read_text()) if (res_dir / "tend.json").exists() else None
    card = json.loads((ROOT / "weights" / "metrics.json").read_text()) if (ROOT / "weights" / "metrics.json").exists() else None
    lines = ["# Results: the paper's analyses on the scene world", "",
             "All numbers on this page were measured by `python scripts/results.py` on the procedural world "
             "(`docs/world.md`); the raw JSON is in `runs/results/` when you rerun it. They describe this "
             "world and the demo-size model, not Visual Genome.", ""]
    if abl:
        any_v = next(iter(abl.values()))
        lines += ["## Table 2: which ODE matters", "",
                  f"Each row is a relation stage trained for {any_v['rel_epochs']} epoch(s) "
                  f"({any_v['relation_steps']} steps, batch 8) with the same seed, schedule and frozen detector; "
                  f"only the ODE switches differ. Evaluated on the first {any_v['limit']} test images "
                  "(graph-constrained recall, in %).", "",
                  "| variant | O-ODE | P-ODE | PredCls R@50 | R@100 | SGCls R@50 | R@100 | SGDet R@50 | R@100 | "
                  "PredCls mR@50 | train time |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in abl.values():
            m = r["metrics"]
            lines.append(f"| {r['label']} | {'✓' if r['object_ode'] else '–'} | {'✓' if r['predicate_ode'] else '–'} | "
                         f"{pct(m['predcls']['R@50'])} | {pct(m['predcls']['R@100'])} | {pct(m['sgcls']['R@50'])} | "
                         f"{pct(m['sgcls']['R@100'])} | {pct(m['sgdet']['R@50'])} | {pct(m['sgdet']['R@100'])} | "
                         f"{pct(m['predcls'].get('mR@50'))} | {r['relation_seconds'] / 60:.1f} min |")
        lines += [""]
        fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
        width = 0.8 / len(abl)
        for k, r in enumerate(abl.values()):
            vals = [100 * (r["metrics"][m]["R@50"] or 0) for m in MODES]
            ax.bar([i + k * width for i in range(3)], vals, width, label=r["label"])
        ax.set_xticks([i + width * (len(abl) - 1) / 2 for i in range(3)], ["PredCls", "SGCls", "SGDet"])
        ax.set_ylabel("R@50 (%)")
        ax.set_title("Table 2 on the scene world: ablations, same training budget")
        ax.legend(fontsize=8, ncol=2)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(img_dir / "results_table2.png")
        plt.close(fig)
        lines += ["![Table 2 as bars](images/results_table2.png)", ""]
    if tend:
        lines += tend_section(tend, img_dir)
    if card:
        lines += ["## The shipped model", "",
                  "Test split, all images (`weights/MODEL_CARD.md`):", "",
                  "| mode | R@20 | R@50 | R@100 | mR@50 | zsR@50 |", "|---|---|---|---|---|---|"]
        for m in MODES:
            r = card[m]
            lines.append(f"| {m} | {pct(r['R@20'])} | {pct(r['R@50'])} | {pct(r['R@100'])} | {pct(r.get('mR@50'))} | "
                         f"{pct(r.get('zsR@50'))} |")
        lines += [""]
    if (res_dir / "label_changes.json").exists():
        lines += [label_changes_section(json.loads((res_dir / "label_changes.json").read_text())), ""]
    notes = Path(args.notes)
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    lines += ["## Reproduce", "", "```bash", "nodis train --preset demo --install weights/nodis-demo.safetensors",
              "python scripts/results.py diagnose", "python scripts/model_card.py", "python scripts/results.py ablations",
              "python scripts/results.py tend", "python scripts/results.py labels",
              "python scripts/results.py report", "```", ""]
    (ROOT / "docs" / "results.md").write_text("\n".join(lines))
    print("wrote docs/results.md")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["ablations", "tend", "diagnose", "labels", "report"])
    ap.add_argument("--data", default="data/world")
    ap.add_argument("--weights", default=str(ROOT / "weights" / "nodis-demo.safetensors"))
    ap.add_argument("--detector", default="runs/demo/detector_state.pt", help="finished detector stage to share")
    ap.add_argument("--runs", default="runs/ablations")
    ap.add_argument("--results", default="runs/results")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--rel-epochs", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=500, help="test images per evaluation")
    ap.add_argument("--notes", default=str(ROOT / "docs" / "results_notes.md"),
                    help="hand-written discussion appended to the report")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    {"ablations": run_ablations, "tend": run_tend, "diagnose": run_diagnose, "labels": run_labels,
     "report": write_report}[args.step](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
