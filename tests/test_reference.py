"""Production against the release's own computation (benchmarks/reference.py, re-implemented from the
release's source), with official-layout checkpoints at realistic weight scales: predicate
probabilities within 1e-5, identical top-20 rankings, the same NFE; in SGDet the same proposals,
the same kept objects and labels and the same candidate pairs. Non-square and square images, all
three modes. Most tests use a small vg-shaped checkpoint (VGG16 backbone, 128 px input, narrow
heads: the release's arithmetic does not depend on the sizes); the slow ones use the vg preset's
real shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import reference as ref
from nodis.checkpoint import import_official
from nodis.config import preset
from nodis.data.transforms import prepare_image
from nodis.model.nodis import pair_order

TOL = 1e-5
SIZES = dict(roi_dim=128, embed_dim=32, pos_dim=16, hidden=32)


@pytest.fixture(autouse=True, scope="module")
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)


def scene(w: int, h: int, seed: int = 0) -> Image.Image:
    """Texture plus a few solid objects, so that proposals and features are not uniform."""
    rng = np.random.default_rng(seed)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 30)), int(rng.integers(0, h - 30))
        arr[y : y + int(rng.integers(20, h // 2)), x : x + int(rng.integers(20, w // 2))] = rng.integers(0, 255, 3)
    return Image.fromarray(arr)


BOXES = [[20, 15, 90, 80], [60, 40, 160, 120], [5, 5, 195, 125], [120, 10, 190, 70], [15, 70, 80, 128],
         [100, 60, 150, 110]]
LABELS = [78, 64, 22, 136, 5, 91]


def checkpoint(tmp_path, S: int, seed: int = 0, sizes=None):
    """An official-layout ``.tar`` (``{'epoch', 'state_dict'}``) and its state dict."""
    sizes = SIZES if sizes is None else sizes
    sd = ref.make_official_state_dict(im_scale=S, seed=seed, **sizes)
    path = tmp_path / f"official-{S}-{seed}.tar"
    torch.save({"epoch": 3, "state_dict": sd}, path)
    return path, sd


def build(tmp_path, S: int, seed: int = 0, sizes=None, ckpt=None, **cfg_over):
    """(production model imported from an official .tar, the release's model on the same weights)."""
    sizes = SIZES if sizes is None else sizes
    path, sd = ckpt or checkpoint(tmp_path, S, seed, sizes)
    cfg = preset("vg", image_size=S, roi_dim=sizes.get("roi_dim", 4096), embed_dim=sizes.get("embed_dim", 200),
                 pos_dim=sizes.get("pos_dim", 128), hidden_dim=sizes.get("hidden", 512), **cfg_over)
    model = import_official(path, cfg)
    release = ref.ReleaseNODIS(sd, im_scale=S, pre_nms=cfg.rpn_pre_nms, post_nms=cfg.rpn_post_nms,
                               max_per_img=cfg.max_objects)
    return model, release


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    return checkpoint(tmp_path_factory.mktemp("ref"), 128)


@pytest.fixture(scope="module")
def small(small_ckpt, tmp_path_factory):
    """128 px input (8 x 8 feature map), 80 proposals, at most 20 objects: fast."""
    return build(None, 128, ckpt=small_ckpt, rpn_post_nms=80, max_objects=20)


def production_order(model):
    return lambda n: pair_order(n, model.cfg, "cpu")


def model_boxes(model, img, boxes):
    """The boxes in model-input pixels exactly as the production path scales them."""
    W, H = img.size
    return torch.as_tensor(np.asarray(boxes, np.float64), dtype=torch.float32) * (model.cfg.image_size / max(W, H))


def compare(model, release, img, mode, boxes=None, labels=None):
    """Run both; assert the done-criteria of issue 11; return (trajectory, release result)."""
    kw = {} if mode == "sgdet" else {"boxes": boxes}
    if mode == "predcls":
        kw["labels"] = labels
    traj = model.predict(img, mode=mode, times=[0.0, model.cfg.t_end], **kw)
    res = release.predict(img, mode, boxes=None if mode == "sgdet" else model_boxes(model, img, boxes),
                          labels=labels if mode == "predcls" else None, order=production_order(model))
    # the same detector input: proposals in sgdet, the given boxes otherwise
    assert torch.equal(traj.rois[:, 1:], res.proposals)
    objs = traj.objects_at(model.cfg.t_end)
    assert np.array_equal(objs.ids, res.kept.numpy())
    assert np.array_equal(objs.labels, res.obj_preds.numpy())
    if mode != "predcls":
        assert np.abs(objs.probs - torch.softmax(res.obj_dists, 1).numpy()).max() < TOL
        assert np.abs(objs.scores - res.obj_scores.numpy()).max() < TOL
    if mode == "sgdet":
        assert np.abs(objs.model_boxes - res.boxes.numpy()).max() < 1e-3  # regressed boxes of the labels
    solve = traj.relation_solve(objs)
    assert np.array_equal(res.kept.numpy()[res.rel_inds.numpy()], solve.pairs)  # the same candidate pairs
    assert (res.rel_probs - solve.probs[-1]).abs().max().item() < TOL
    pairs, pred, trip, _ = traj.relation_arrays(model.cfg.t_end)
    ranked = res.kept.numpy()[res.rel_inds[res.ranking].numpy()]
    assert np.array_equal(ranked[:20], pairs[:20])
    rel_pred = res.rel_probs[res.ranking][:20, 1:].argmax(1).numpy() + 1
    assert np.array_equal(rel_pred, pred[:20])
    assert np.abs(res.triplet_scores[res.ranking][:20].numpy() - trip[:20]).max() < TOL
    assert traj.nfe_obj == res.nfe["object"] and solve.nfe == res.nfe["predicate"] > 0
    return traj, res


# ------------------------------------------------------------------------------------------------


def test_input_tensor_and_size_are_the_releases():
    img = scene(1024, 683, seed=1)
    x, scale, (h, w) = prepare_image(img, 592, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    rx = ref.release_transform(592)(img)
    assert torch.equal(x, rx)
    assert (h, w, scale) == ref.release_im_size(1024, 683, 592) == (394, 592, 592 / 1024)


def test_predcls_non_square(small):
    model, release = small
    traj, res = compare(model, release, scene(200, 130, seed=2), "predcls", BOXES, LABELS)
    assert np.array_equal(res.obj_scores.numpy(), np.ones(6, np.float32))


def test_sgcls_non_square(small):
    model, release = small
    compare(model, release, scene(200, 130, seed=3), "sgcls", BOXES)


def test_sgcls_portrait(small):
    model, release = small
    boxes = [[y1, x1, y2, x2] for x1, y1, x2, y2 in BOXES]  # transposed onto a 130 x 200 image
    compare(model, release, scene(130, 200, seed=4), "sgcls", boxes)


@pytest.mark.slow
def test_sgdet_non_square_keeps_the_same_64_objects(small_ckpt):
    model, release = build(None, 128, ckpt=small_ckpt, rpn_post_nms=100, max_objects=64)
    traj, res = compare(model, release, scene(200, 130, seed=5), "sgdet")
    assert len(res.kept) == 64 and res.rel_inds.shape[0] > 200


def test_sgdet_square(small):
    model, release = small
    compare(model, release, scene(160, 160, seed=6), "sgdet")


def test_the_reference_catches_the_modern_box_rules(small, small_ckpt):
    """The same weights with torchvision's IoU/NMS (no +1, x2 - x1 < 4) give other proposals,
    objects or pairs than the release: the reference sees the difference."""
    model, release = small
    img = scene(200, 130, seed=7)
    modern, _ = build(None, 128, ckpt=small_ckpt, rpn_post_nms=80, max_objects=20, box_rules="torchvision")
    traj = modern.predict(img, mode="sgdet", times=[0.0, 1.5])
    res = release.predict(img, "sgdet", order=production_order(modern))
    objs = traj.objects_at(1.5)
    same_props = traj.rois.shape[0] == res.proposals.shape[0] and torch.equal(traj.rois[:, 1:], res.proposals)
    same_objs = np.array_equal(objs.ids, res.kept.numpy())
    pairs = traj.relation_solve(objs).pairs
    same_pairs = same_objs and np.array_equal(res.kept.numpy()[res.rel_inds.numpy()], pairs)
    assert not (same_props and same_objs and same_pairs)


def test_sort_by_score_packs_images_longest_first():
    lengths = [3, 5, 2, 5]  # image 1 and 3 tie: the smaller index comes first
    im_inds = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
    orders = {n: torch.randperm(n, generator=torch.Generator().manual_seed(n)) for n in set(lengths)}
    perm, inv_perm, batch_sizes = ref.sort_by_score(im_inds, ref.order_scores(im_inds, lambda n: orders[n]))
    assert batch_sizes == [4, 4, 3, 2, 2]
    assert torch.equal(perm[inv_perm], torch.arange(len(im_inds)))
    starts = np.cumsum([0] + lengths[:-1])
    padded = torch.full((5, 4), -1, dtype=torch.long)
    k = 0
    for t, b in enumerate(batch_sizes):  # packed rows are time-major
        padded[t, :b] = perm[k : k + b]
        k += b
    for col, img in enumerate([1, 3, 0, 2]):  # images sorted by length, descending
        n = lengths[img]
        assert torch.equal(padded[:n, col], orders[n] + int(starts[img]))


def test_release_nms_and_overlap_rules():
    """+1 widths: touching boxes overlap; the threshold is strict."""
    boxes = torch.tensor([[0.0, 0.0, 9.0, 9.0], [10.0, 0.0, 19.0, 9.0], [0.0, 0.0, 9.0, 4.0]])
    assert ref.bbox_overlaps(boxes[:1], boxes[1:2]).item() == 0.0  # x2 = 9, x1 = 10: no shared pixel
    touching = torch.tensor([[9.0, 0.0, 19.0, 9.0]])
    assert ref.bbox_overlaps(boxes[:1], touching).item() > 0  # shares the column x = 9
    assert ref.bbox_overlaps(boxes[:1], boxes[2:]).item() == 0.5  # 50 / 100
    keep = ref.apply_nms(torch.tensor([0.9, 0.8]), boxes[[0, 2]], 10, 10, 0.5)
    assert keep.tolist() == [0, 1]  # IoU exactly 0.5 is not > 0.5
    keep = ref.apply_nms(torch.tensor([0.9, 0.8]), boxes[[0, 2]], 10, 10, 0.49)
    assert keep.tolist() == [0]


def test_load_graphs_box_decoding():
    b = ref.decode_boxes_1024(np.array([[10, 20, 5, 6], [0, 0, 3, 3]]))
    assert b.tolist() == [[7, 17, 12, 23], [-1, -1, 2, 2]]  # trunc(10 - 2.5) = 7, trunc(-1.5) = -1; x2 = x1 + w


@pytest.mark.slow
def test_vg_preset_real_shapes_predcls_and_sgcls(tmp_path):
    """The vg preset's real shapes (592 px, 4096-d RoI features, 1024-d ODE state, VGG16)."""
    model, release = build(tmp_path, 592, sizes={})
    img = scene(1024, 683, seed=8)
    boxes = [[b[0] * 5, b[1] * 5, b[2] * 5, b[3] * 5] for b in BOXES]
    compare(model, release, img, "predcls", boxes, LABELS)
    compare(model, release, img, "sgcls", boxes)
