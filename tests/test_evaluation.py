"""Tests of nodis.evaluation: hand-computed cases and a brute-force re-implementation."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from nodis.errors import InputError
from nodis.evaluation import (
    Evaluator,
    GroundTruth,
    Prediction,
    evaluate,
    format_results_table,
    iou_legacy,
    zeroshot_triplets,
)
from nodis.graph import ObjectNode, Relation, SceneGraph

A = [0, 0, 9, 9]  # 10 x 10 px with the +1 convention
B = [20, 20, 29, 29]
C = [40, 0, 49, 9]


def gt3(rels, boxes=(A, B, C), labels=(1, 2, 3)):
    return GroundTruth(np.array(boxes, float), np.array(labels), np.array(rels).reshape(-1, 3))


def pred(pairs, rel_scores, boxes=(A, B, C), labels=(1, 2, 3), obj_scores=None):
    n = len(boxes)
    return Prediction(np.array(boxes, float).reshape(-1, 4), np.array(labels),
                      np.ones(n) if obj_scores is None else np.array(obj_scores, float),
                      np.array(pairs).reshape(-1, 2), np.array(rel_scores, float).reshape(len(pairs), -1))


def onehot(p, num=4, value=1.0):
    row = [0.0] * num
    row[p] = value
    return row


# ---------------------------------------------------------------------------------- IoU
def test_iou_legacy_plus_one_convention_and_boundary():
    # [0,0,9,9] is 10x10 = 100 px; [0,0,9,4] is 10x5 = 50 px inside it: IoU exactly 0.5.
    assert iou_legacy([A], [[0, 0, 9, 4]])[0, 0] == 0.5
    assert iou_legacy([A], [[0, 0, 9, 3]])[0, 0] == pytest.approx(0.4)
    # touching boxes share one pixel row/column under the +1 convention
    assert iou_legacy([[0, 0, 9, 9]], [[9, 0, 18, 9]])[0, 0] == pytest.approx(10 / 190)
    assert iou_legacy([[0, 0, 9, 9]], [[10, 0, 19, 9]])[0, 0] == 0.0
    assert iou_legacy(np.zeros((0, 4)), [A]).shape == (0, 1)


def test_iou_legacy_matches_brute_force_loop():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 40, (30, 2)).astype(float)
    a = np.hstack([a, a + rng.integers(0, 30, (30, 2))])
    b = rng.uniform(0, 40, (25, 2))
    b = np.hstack([b, b + rng.uniform(0, 30, (25, 2))])
    got = iou_legacy(a, b)
    for i in range(len(a)):
        for j in range(len(b)):
            assert got[i, j] == pytest.approx(_bf_iou(a[i], b[j]), abs=1e-12)


def test_partial_top_selection_equals_full_stable_sort():
    from nodis.evaluation import _top_stable

    rng = np.random.default_rng(1)
    for n in (3, 90, 450, 5000):
        for levels in (3, 1000):  # many ties / few ties
            x = rng.integers(0, levels, n) / 4.0
            for top in (1, 20, 100, 150):
                assert np.array_equal(_top_stable(x, top), np.argsort(-x, kind="stable")[:top])


# ---------------------------------------------------------------------------------- hand-computed cases
def test_perfect_prediction_gives_one():
    gt = gt3([[0, 1, 1], [1, 2, 2], [2, 0, 3]])
    p = pred([[0, 1], [1, 2], [2, 0]], [onehot(1), onehot(2), onehot(3)])
    ev = Evaluator(4)
    res = ev.add(gt, p)
    assert res.recall == {20: 1.0, 50: 1.0, 100: 1.0}
    assert res.gt_hit_rank.tolist() == [0, 1, 2]
    s = ev.summary()
    for fam in ("R", "ngR", "mR", "ng-mR", "mR-seen", "ng-mR-seen"):
        for k in (20, 50, 100):
            assert s[f"{fam}@{k}"] == 1.0
    assert s["zsR@20"] is None and s["num_images"] == 1


def test_wrong_predicate_or_class_or_box_does_not_match():
    gt = gt3([[0, 1, 1]])
    assert evaluate([(gt, pred([[0, 1]], [onehot(2)]))], 4)["R@20"] == 0.0  # wrong predicate
    assert evaluate([(gt, pred([[1, 0]], [onehot(1)]))], 4)["R@20"] == 0.0  # reversed direction
    assert evaluate([(gt, pred([[0, 1]], [onehot(1)], labels=(1, 3, 3)))], 4)["R@20"] == 0.0  # object class
    moved = (A, [40, 40, 49, 49], C)
    assert evaluate([(gt, pred([[0, 1]], [onehot(1)], boxes=moved))], 4)["R@20"] == 0.0  # object box


def test_iou_exactly_half_matches_with_plus_one_iou():
    gt = gt3([[0, 1, 1]])
    at_half = ([0, 0, 9, 4], B, C)  # subject IoU = 50/100 = 0.5 with +1 (36/81 < 0.5 without)
    below = ([0, 0, 9, 3], B, C)  # 40/100
    assert evaluate([(gt, pred([[0, 1]], [onehot(1)], boxes=at_half))], 4)["R@20"] == 1.0
    assert evaluate([(gt, pred([[0, 1]], [onehot(1)], boxes=below))], 4)["R@20"] == 0.0
    obj_at_half = (A, [20, 20, 24, 29], C)  # object IoU = 50/100 too
    assert evaluate([(gt, pred([[0, 1]], [onehot(1)], boxes=obj_at_half))], 4)["R@20"] == 1.0


def test_ties_keep_input_order_and_pairs_are_reranked():
    gt = gt3([[0, 1, 1]])
    wrong, right = [1, 2], [0, 1]
    ev = Evaluator(4, ks=(1, 2))
    # equal triplet scores: the stable sort keeps the given order
    assert ev.add(gt, pred([wrong, right], [onehot(1, value=0.5), onehot(1, value=0.5)])).recall == {1: 0.0, 2: 1.0}
    assert ev.add(gt, pred([right, wrong], [onehot(1, value=0.5), onehot(1, value=0.5)])).recall == {1: 1.0, 2: 1.0}
    # unsorted input is ranked by the triplet score
    r = ev.add(gt, pred([wrong, right], [onehot(1, value=0.3), onehot(1, value=0.9)]))
    assert r.recall == {1: 1.0, 2: 1.0}
    assert r.ranked.tolist() == [[0, 1, 1], [1, 2, 1]]
    # object scores enter the triplet score: 1.0 * 0.2 * 0.9 < 1.0 * 1.0 * 0.3
    r = ev.add(gt, pred([wrong, right], [onehot(1, value=0.3), onehot(1, value=0.9)], obj_scores=[0.2, 1, 1]))
    assert r.recall == {1: 0.0, 2: 1.0}
    assert r.ranked_scores.tolist() == pytest.approx([0.3, 0.18])
    # a tie between predicates resolves to the lower index (arg-max)
    r = ev.add(gt, pred([right], [[0.9, 0.4, 0.4, 0.0]]))
    assert r.ranked.tolist() == [[0, 1, 1]] and r.recall[1] == 1.0


def test_duplicate_gt_pair_caps_graph_constrained_recall():
    gt = gt3([[0, 1, 1], [0, 1, 2]])  # one pair, two predicates
    p = pred([[0, 1]], [[0.0, 0.6, 0.4, 0.0]])
    s = evaluate([(gt, p)], 4)
    assert s["R@20"] == 0.5 and s["R@100"] == 0.5
    assert s["ngR@20"] == 1.0
    assert s["per_predicate"]["R@20"] == {"1": 1.0, "2": 0.0, "3": None}
    assert s["per_predicate"]["ngR@20"] == {"1": 1.0, "2": 1.0, "3": None}
    # identical duplicate GT triplets are both recalled by one prediction
    assert evaluate([(gt3([[0, 1, 1], [0, 1, 1]]), p)], 4)["R@20"] == 1.0
    # one prediction may also match two GT relations on different but overlapping objects
    gt_dup_obj = gt3([[0, 1, 1], [2, 1, 1]], boxes=(A, B, A), labels=(1, 2, 1))
    r = Evaluator(4).add(gt_dup_obj, pred([[0, 1]], [onehot(1)]))
    assert r.pred_to_gt == [[0, 1]] and r.recall[20] == 1.0


def test_empty_prediction_counts_zero_and_empty_gt_is_skipped():
    gt = gt3([[0, 1, 1]])
    perfect = pred([[0, 1]], [onehot(1)])
    empty = Prediction(np.array([A]), [1], [1.0], np.zeros((0, 2), int), np.zeros((0, 4)))
    no_objects = Prediction(np.zeros((0, 4)), [], [], [], [])
    ev = Evaluator(4)
    ev.add(gt, perfect)
    assert ev.add(gt, empty).recall[20] == 0.0
    assert ev.add(gt, no_objects).ng_recall[100] == 0.0
    res = ev.add(gt3([]), perfect)  # no GT relations: skipped, not counted
    assert res.skipped
    s = ev.summary()
    assert s["num_images"] == 3 and s["num_images_skipped"] == 1
    assert s["R@20"] == pytest.approx(1 / 3) and s["ngR@50"] == pytest.approx(1 / 3)
    assert Evaluator(4).summary()["R@20"] is None


def test_mean_recall_averages_over_images_containing_the_predicate():
    # image 1: predicate 1 twice (one recalled), predicate 2 once (recalled)
    gt1 = gt3([[0, 1, 1], [1, 2, 1], [2, 0, 2]])
    p1 = pred([[0, 1], [2, 0], [1, 2]], [onehot(1), onehot(2), onehot(3)])
    # image 2: predicate 1 once, missed; no predicate 2 (must not pull predicate 2's recall down)
    gt2 = gt3([[0, 1, 1]])
    p2 = pred([[0, 1]], [onehot(3)])
    ev = Evaluator(4, predicate_names=["on", "has", "near"])  # predicate 3 "near" never in the GT
    r1, r2 = ev.add(gt1, p1), ev.add(gt2, p2)
    assert r1.recall[20] == pytest.approx(2 / 3) and r2.recall[20] == 0.0
    s = ev.summary()
    assert s["per_predicate"]["R@20"] == {"on": 0.25, "has": 1.0, "near": None}
    assert s["mR@20"] == pytest.approx((0.25 + 1.0 + 0.0) / 3)
    assert s["mR-seen@20"] == pytest.approx((0.25 + 1.0) / 2)
    assert s["R@20"] == pytest.approx(1 / 3)
    assert s["predicate_gt_counts"] == {"on": 3, "has": 1, "near": 0}
    assert s["predicate_images"] == {"on": 2, "has": 1, "near": 0}
    # names with the background entry are accepted too
    assert Evaluator(4, predicate_names=["__background__", "on", "has", "near"]).predicate_names[1] == "on"


def test_ng_mean_recall():
    gt = gt3([[0, 1, 1], [0, 1, 2]])
    p = pred([[0, 1]], [[0.0, 0.6, 0.4, 0.0]])
    s = evaluate([(gt, p), (gt3([[1, 2, 2]]), pred([[2, 1]], [onehot(2)]))], 4)
    # graph-constrained: p1 = 1.0 (one image), p2 = mean(0, 0) = 0; ng: p2 = mean(1, 0) = 0.5
    assert s["mR@20"] == pytest.approx(1.0 / 3)
    assert s["ng-mR@20"] == pytest.approx(1.5 / 3)
    assert s["ng-mR-seen@20"] == pytest.approx(0.75)
    # as in the original, the ng top-100 has no score threshold: zero-scored predicates are candidates too
    s = evaluate([(gt3([[1, 2, 2]]), pred([[1, 2]], [onehot(1)]))], 4)
    assert s["R@100"] == 0.0 and s["ngR@100"] == 1.0


def test_zero_shot_recall_uses_only_zero_shot_gt():
    # zero-shot triplet: (class 1) -2-> (class 2)
    zs = [(1, 2, 2)]
    gt = gt3([[0, 1, 1], [0, 1, 2], [1, 2, 3]])
    p = pred([[0, 1], [1, 2]], [[0, 0.6, 0.4, 0], onehot(3)])
    ev = Evaluator(4, zeroshot_triplets=zs)
    r = ev.add(gt, p)
    assert r.zeroshot_mask.tolist() == [False, True, False]
    assert r.recall[20] == pytest.approx(2 / 3)
    assert r.zs_recall[20] == 0.0 and r.ng_zs_recall[20] == 1.0
    assert ev.add(gt3([[1, 2, 3]]), p).zs_recall[20] is None  # no zero-shot GT: skipped for zsR
    s = ev.summary()
    assert s["num_zeroshot_images"] == 1 and s["num_images"] == 2
    assert s["zsR@20"] == 0.0 and s["ng-zsR@50"] == 1.0
    assert zeroshot_triplets([gt3([[0, 1, 1]])], [gt]) == {(1, 2, 2), (2, 3, 3)}


def test_no_graph_constraint_keeps_top_100_unless_larger_k():
    # 101 candidate pairs on box A/B; the only correct one is ranked 101st
    n = 102
    boxes = [A] + [B] * (n - 1)
    labels = [1] + [2] * (n - 2) + [3]
    pairs = [[0, j] for j in range(1, n)]
    scores = [onehot(1, value=0.9)] * (n - 2) + [onehot(2, value=0.5)]
    gt = GroundTruth(np.array([A, B], float), [1, 3], [[0, 1, 2]])
    p = pred(pairs, scores, boxes=boxes, labels=labels)
    s = evaluate([(gt, p)], 4)
    assert s["ng_top"] == 100 and s["ngR@100"] == 0.0 and s["R@100"] == 0.0
    s = evaluate([(gt, p)], 4, ks=(100, 101))
    assert s["ng_top"] == 101 and s["R@101"] == 1.0 and s["ngR@101"] == 1.0 and s["ngR@100"] == 0.0


# ---------------------------------------------------------------------------------- conversions and checks
def _graph(with_distributions: bool) -> SceneGraph:
    objs = [ObjectNode(3, tuple(A), 1, "a", 0.9), ObjectNode(7, tuple(B), 2, "b", 0.8)]
    dist = [0.1, 0.2, 0.7, 0.0] if with_distributions else None
    rels = [Relation(3, 7, 2, "p2", 0.9 * 0.8 * 0.7, 0.7, dist), Relation(7, 3, 1, "p1", 0.1, 0.5)]
    return SceneGraph(objs, rels, (100, 100), predicate_names=["__background__", "p1", "p2", "p3"])


def test_prediction_from_graph():
    p = Prediction.from_graph(_graph(True))
    assert p.rel_pairs.tolist() == [[0, 1], [1, 0]]  # object indices mapped to positions
    assert p.rel_scores.shape == (2, 4)
    assert p.rel_scores[0].tolist() == [0.1, 0.2, 0.7, 0.0]
    assert p.rel_scores[1].tolist() == [0.0, 0.5, 0.0, 0.0]  # no distribution: predicate_score only
    assert p.obj_scores.tolist() == [0.9, 0.8] and p.labels.tolist() == [1, 2]
    gt = GroundTruth.from_graph(_graph(False))
    r = Evaluator(4, ks=(1, 2)).add(gt, p)
    assert r.recall == {1: 0.5, 2: 1.0}
    assert r.ranked_scores[0] == pytest.approx(0.9 * 0.8 * 0.7)
    assert Prediction.from_graph(_graph(False), num_predicates=51).rel_scores.shape == (2, 51)
    # narrower score rows are padded with zeros by the evaluator
    assert Evaluator(51).add(gt, Prediction.from_graph(_graph(False))).recall[20] == 1.0


def test_in_mode_substitutions():
    gt = gt3([[0, 1, 1]])
    p = pred([[0, 1]], [onehot(1)], boxes=([50, 50, 60, 60], B, C), labels=(3, 2, 3), obj_scores=[0.5, 0.5, 0.5])
    pc = p.in_mode("predcls", gt)
    assert pc.labels.tolist() == [1, 2, 3] and pc.obj_scores.tolist() == [1, 1, 1]
    assert np.array_equal(pc.boxes, gt.boxes)
    sc = p.in_mode("sgcls", gt)
    assert sc.labels.tolist() == [3, 2, 3] and np.array_equal(sc.boxes, gt.boxes)
    assert p.in_mode("SGDet", gt) is p
    assert evaluate([(gt, p.in_mode("predcls", gt))], 4)["R@20"] == 1.0
    assert evaluate([(gt, p.in_mode("sgcls", gt))], 4)["R@20"] == 0.0
    with pytest.raises(InputError):
        p.in_mode("phrdet", gt)
    with pytest.raises(InputError):
        pred([[0, 1]], [onehot(1)], boxes=(A, B), labels=(1, 2)).in_mode("predcls", gt)


def test_invalid_inputs_raise_input_error():
    with pytest.raises(InputError):
        GroundTruth([[0, 0, 1]], [1], [])
    with pytest.raises(InputError):
        GroundTruth([A], [1], [[0, 1, 1]])  # object 1 does not exist
    with pytest.raises(InputError):
        GroundTruth([A, B], [1, 2], [[0, 1, 0]])  # background predicate
    with pytest.raises(InputError):
        Prediction([A], [1, 2], [1.0], [], [])
    with pytest.raises(InputError):
        Prediction([A], [1], [1.0], [[0, 1]], [onehot(1)])
    with pytest.raises(InputError):
        Prediction([A, B], [1, 2], [1.0, np.nan], [[0, 1]], [onehot(1)])
    with pytest.raises(InputError):
        Evaluator(4).add(gt3([[0, 1, 4]]), pred([[0, 1]], [onehot(1)]))
    with pytest.raises(InputError):
        Evaluator(3).add(gt3([[0, 1, 1]]), pred([[0, 1]], [onehot(1)]))  # 4 columns > 3
    with pytest.raises(InputError):
        Evaluator(4, predicate_names=["a"])
    with pytest.raises(InputError):
        Evaluator(4, ks=(0,))


def test_summary_is_json_and_tables_render():
    ev = Evaluator(4, zeroshot_triplets=[(1, 2, 2)], predicate_names=["on", "has", "near"])
    ev.add(gt3([[0, 1, 1], [0, 1, 2]]), pred([[0, 1]], [[0, 0.6, 0.4, 0]]))
    s = ev.summary()
    assert json.loads(json.dumps(s, allow_nan=False)) == s
    t = ev.table("PredCls")
    lines = t.splitlines()
    assert lines[0] == "PredCls"
    assert any(line.split() == ["R@20", "50.00"] for line in lines)
    assert any(line.split() == ["ngR@100", "100.00"] for line in lines)
    assert any(line.split() == ["zsR@50", "0.00"] for line in lines)
    no_zs = Evaluator(4)
    no_zs.add(gt3([[0, 1, 1]]), pred([[0, 1]], [onehot(1)]))
    table = format_results_table({"sgdet": no_zs.summary(), "predcls": s}, title="Table 1")
    rows = table.splitlines()
    assert rows[0] == "Table 1"
    assert rows[1].index("PredCls") < rows[1].index("SGDet")
    r_row = next(r for r in rows if r.startswith("R (graph constraint)"))
    assert r_row.split("|")[1].split() == ["50.00", "50.00", "50.00"]
    assert r_row.split("|")[2].split() == ["100.00", "100.00", "100.00"]
    zs_row = next(r for r in rows if r.startswith("zsR"))
    assert zs_row.split("|")[2].split() == ["-", "-", "-"]
    with pytest.raises(InputError):
        format_results_table({})


# ---------------------------------------------------------------------------------- brute force
def _bf_iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1.0
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1.0
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = (a[2] - a[0] + 1.0) * (a[3] - a[1] + 1.0) + (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0) - inter
    return inter / union if union > 0 else 0.0


def _bf_ranked(p, num_pred, graph_constraint, top):
    cands = []  # (score, s, o, predicate) in pair-major, predicate-minor order
    for i in range(len(p["pairs"])):
        s, o = p["pairs"][i]
        row = p["rel"][i]
        if graph_constraint:
            best = 1
            for q in range(2, num_pred):
                if row[q] > row[best]:
                    best = q
            cands.append((p["obj"][s] * p["obj"][o] * row[best], s, o, best))
        else:
            for q in range(1, num_pred):
                cands.append((p["obj"][s] * p["obj"][o] * row[q], s, o, q))
    return sorted(cands, key=lambda c: -c[0])[:top]  # Python's sort is stable


def _bf_recalled(gt, p, ranked, k):
    hit = set()
    for _, s, o, q in ranked[:k]:
        for g, (gs, go, gp) in enumerate(gt["rels"]):
            if (gp == q and gt["labels"][gs] == p["labels"][s] and gt["labels"][go] == p["labels"][o]
                    and _bf_iou(gt["boxes"][gs], p["boxes"][s]) >= 0.5
                    and _bf_iou(gt["boxes"][go], p["boxes"][o]) >= 0.5):
                hit.add(g)
    return hit


def _bf_evaluate(images, num_pred, ks, zs):
    top_ng = max(100, max(ks))
    rec = {(f, k): [] for f in ("R", "ngR", "zsR", "ng-zsR") for k in ks}
    per = {(f, k, q): [] for f in ("R", "ngR") for k in ks for q in range(num_pred)}
    for gt, p in images:
        if not gt["rels"]:
            continue
        zs_idx = {g for g, (s, o, q) in enumerate(gt["rels"]) if (gt["labels"][s], q, gt["labels"][o]) in zs}
        for fam, gc, top in (("R", True, max(ks)), ("ngR", False, top_ng)):
            ranked = _bf_ranked(p, num_pred, gc, top)
            for k in ks:
                hit = _bf_recalled(gt, p, ranked, k)
                rec[fam, k].append(len(hit) / len(gt["rels"]))
                if zs_idx:
                    rec[("zsR" if gc else "ng-zsR"), k].append(len(hit & zs_idx) / len(zs_idx))
                for q in range(1, num_pred):
                    idx = [g for g, r in enumerate(gt["rels"]) if r[2] == q]
                    if idx:
                        per[fam, k, q].append(sum(1 for g in idx if g in hit) / len(idx))
    out = {}
    for k in ks:
        for fam in ("R", "ngR", "zsR", "ng-zsR"):
            v = rec[fam, k]
            out[f"{fam}@{k}"] = sum(v) / len(v) if v else None
        for fam, name in (("R", "mR"), ("ngR", "ng-mR")):
            means = [sum(per[fam, k, q]) / len(per[fam, k, q]) if per[fam, k, q] else None
                     for q in range(1, num_pred)]
            out[f"{name}@{k}"] = sum(m or 0.0 for m in means) / (num_pred - 1)
            seen = [m for m in means if m is not None]
            out[f"{name}-seen@{k}"] = sum(seen) / len(seen) if seen else None
            out[f"per {fam}@{k}"] = {str(q): means[q - 1] for q in range(1, num_pred)}
    return out


def _random_image(rng: random.Random, n_classes, num_pred):
    """Small integer boxes near a few anchors (IoU often near 0.5), quantised scores (many exact ties).
    The two highest predicates never occur in the GT (they must count 0 in mR) but are predicted."""
    big = rng.random() < 0.08
    m = rng.randint(1, 12 if big else 5)
    anchors = [[0, 0, 9, 9], [5, 0, 14, 9], [0, 5, 9, 14], [30, 30, 49, 39], [2, 2, 11, 6]]
    gt_boxes = [list(rng.choice(anchors)) for _ in range(m)]
    gt_labels = [rng.randint(1, n_classes) for _ in range(m)]
    rels = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        if rels and rng.random() < 0.3:  # same pair, other (or same) predicate
            s, o, _q = rng.choice(rels)
            rels.append((s, o, rng.randint(1, num_pred - 3)))
        else:
            sub = rng.randrange(m)
            obj = rng.choice([j for j in range(m) if j != sub] or [sub])
            rels.append((sub, obj, rng.randint(1, num_pred - 3)))
    # prediction: some GT objects (jittered, label sometimes wrong) plus distractors
    boxes, labels, source = [], [], []
    for i in range(m):
        if rng.random() < 0.85:
            b = gt_boxes[i]
            boxes.append([b[0] + rng.choice([0, 0, 1, -2]), b[1], b[2] + rng.choice([0, 0, 0, -3, -5]), b[3]])
            labels.append(gt_labels[i] if rng.random() < 0.85 else rng.randint(1, n_classes))
            source.append(i)
    for _ in range(rng.randint(0, 3)):
        boxes.append(list(rng.choice(anchors)))
        labels.append(rng.randint(1, n_classes))
        source.append(-1)
    n = len(boxes)
    obj = [rng.choice([0.25, 0.5, 0.75, 1.0]) for _ in range(n)]
    all_pairs = [(s, o) for s in range(n) for o in range(n) if s != o]
    if rng.random() < 0.1 or not all_pairs:
        pairs = []
    else:
        pairs = rng.sample(all_pairs, rng.randint(1, len(all_pairs)))
        for gs, go, _q in rels:  # usually propose the GT pairs too
            cand = [(s, o) for s in range(n) for o in range(n) if (source[s], source[o]) == (gs, go) and s != o]
            if cand and rng.random() < 0.7 and cand[0] not in pairs:
                pairs.insert(rng.randrange(len(pairs) + 1), cand[0])
        if rng.random() < 0.2:
            pairs.append(rng.choice(pairs))  # a duplicated candidate pair
    rel = [[rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(num_pred)] for _ in pairs]
    for row, (s, o) in zip(rel, pairs):  # often score a GT predicate of the pair highest
        gt_preds = [q for gs, go, q in rels if (gs, go) == (source[s], source[o])]
        if gt_preds and rng.random() < 0.7:
            row[rng.choice(gt_preds)] = 1.0
    gt = {"boxes": gt_boxes, "labels": gt_labels, "rels": rels}
    p = {"boxes": boxes, "labels": labels, "obj": obj, "pairs": pairs, "rel": rel}
    return gt, p


def _to_arrays(gt, p, num_pred):
    g = GroundTruth(np.array(gt["boxes"], float), np.array(gt["labels"]), np.array(gt["rels"]).reshape(-1, 3))
    q = Prediction(np.array(p["boxes"], float).reshape(-1, 4), np.array(p["labels"]), np.array(p["obj"]),
                   np.array(p["pairs"]).reshape(-1, 2), np.array(p["rel"]).reshape(-1, num_pred))
    return g, q


@pytest.mark.parametrize("ks", [(1, 3, 20, 100), (5, 150)])
def test_evaluator_agrees_with_brute_force(ks):
    rng = random.Random(1234 + len(ks))
    n_classes, num_pred = 3, 7
    images = [_random_image(rng, n_classes, num_pred) for _ in range(200)]
    zs = {(s, q, o) for s in range(1, n_classes + 1) for o in range(1, n_classes + 1)
          for q in range(1, num_pred) if rng.random() < 0.3}
    want = _bf_evaluate(images, num_pred, ks, zs)

    ev = Evaluator(num_pred, ks=ks, zeroshot_triplets=sorted(zs))
    for gt, p in images:
        ev.add(*_to_arrays(gt, p, num_pred))
    got = ev.summary()
    # the generator really produced the cases we want to cover
    assert got["num_images_skipped"] > 0 and 0 < got["num_zeroshot_images"] < got["num_images"]
    assert sum(1 for _, p in images if not p["pairs"]) > 5
    assert any(len(p["pairs"]) * (num_pred - 1) > 100 for _, p in images)
    for k in ks:
        for fam in ("R", "ngR", "zsR", "ng-zsR", "mR", "ng-mR", "mR-seen", "ng-mR-seen"):
            key = f"{fam}@{k}"
            assert got[key] == pytest.approx(want[key], abs=1e-12), key
        for fam in ("R", "ngR"):
            for q, v in want[f"per {fam}@{k}"].items():
                assert got["per_predicate"][f"{fam}@{k}"][q] == pytest.approx(v, abs=1e-12)
    # sanity: the metrics are not degenerate on this data
    assert 0.1 < got[f"R@{ks[-1]}"] < got[f"ngR@{ks[-1]}"] < 1.0
    assert got[f"mR@{ks[-1]}"] == pytest.approx(got[f"mR-seen@{ks[-1]}"] * 4 / 6)
