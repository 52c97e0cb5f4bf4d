"""The benchmark reference path (benchmarks/reference.py, the original release re-created) agrees
with the production path on a small random demo-preset model (carry policy)."""
import numpy as np
import pytest
import torch

from benchmarks import reference as ref
from nodis.model.nodis import pair_order
from tests.helpers import BOXES, LABELS, make_image

TOL = 1e-5
MORE_BOXES = BOXES + [[30, 150, 120, 230], [240, 130, 310, 235]]
MORE_LABELS = LABELS + [5, 91]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one intra-op thread is faster (and far faster on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model():
    from tests.helpers import make_model

    return make_model(predicate_relu=True)  # the released head, trailing ReLU included


def test_sort_by_score_packs_as_released_in_the_production_order():
    from nodis.config import preset

    cfg = preset("demo")
    lengths = [3, 5, 2, 5]  # image 1 and 3 tie: the smaller index comes first
    im_inds = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
    perm, inv_perm, batch_sizes = ref.sort_by_score(im_inds, ref.order_scores(im_inds, cfg))
    assert batch_sizes == [4, 4, 3, 2, 2]
    assert torch.equal(perm[inv_perm], torch.arange(len(im_inds)))
    starts = np.cumsum([0] + lengths[:-1])
    columns = [1, 3, 0, 2]  # images sorted by length, descending
    padded = torch.full((5, 4), -1, dtype=torch.long)
    k = 0
    for t, b in enumerate(batch_sizes):  # packed rows are time-major
        padded[t, :b] = perm[k : k + b]
        k += b
    for col, img in enumerate(columns):
        n = lengths[img]
        expect = pair_order(n, cfg, "cpu") + int(starts[img])
        assert torch.equal(padded[:n, col], expect)


def test_predcls_relations_match_production(model):
    img = make_image()
    traj = model.predict(img, mode="predcls", boxes=MORE_BOXES, labels=MORE_LABELS)  # full default grid
    solve = traj.relation_solve(traj.objects_at(1.5))
    gi = traj.index_of(1.5)
    labels = torch.as_tensor(MORE_LABELS)
    pairs = torch.as_tensor(solve.pairs)
    rel_inds = torch.cat((torch.zeros((len(pairs), 1), dtype=torch.long), pairs), 1)
    out = ref.predicate_branch(model, traj.fmap, traj.rois, labels, rel_inds)
    assert out.rel_dists.shape == (30, 51) and bool((out.rel_dists >= 0).all())
    assert (out.rel_probs - solve.probs[gi]).abs().max().item() < TOL
    assert out.nfe == solve.nfe > 0
    # the whole released forward gives the same pairs, scores and ranking
    res = ref.reference_predict(model, img, "predcls", boxes=MORE_BOXES, labels=MORE_LABELS)
    assert np.array_equal(res.rel_inds.numpy(), solve.pairs)
    assert (res.rel_probs - solve.probs[gi]).abs().max().item() < TOL
    assert np.array_equal(res.obj_scores.numpy(), np.ones(6, np.float32))
    p_pairs, p_pred, p_trip, _ = traj.relation_arrays(1.5)
    assert np.array_equal(res.rel_inds[res.ranking].numpy(), p_pairs)
    assert np.abs(res.triplet_scores[res.ranking].numpy() - p_trip).max() < TOL


def test_other_end_times_match_a_grid_time(model):
    img = make_image(seed=1)
    traj = model.predict(img, mode="predcls", boxes=BOXES, labels=LABELS)
    solve = traj.relation_solve(traj.objects_at(1.5))
    rel_inds = torch.cat((torch.zeros((len(solve.pairs), 1), dtype=torch.long), torch.as_tensor(solve.pairs)), 1)
    for t in (0.5, 2.5):
        out = ref.predicate_branch(model, traj.fmap, traj.rois, torch.as_tensor(LABELS), rel_inds, t_end=t)
        assert (out.rel_probs - solve.probs[traj.index_of(t)]).abs().max().item() < TOL


def test_sgcls_object_ode_matches_production(model):
    img = make_image(seed=2)
    traj = model.predict(img, mode="sgcls", boxes=MORE_BOXES, times=[0.0, 1.5])
    res = ref.reference_predict(model, img, "sgcls", boxes=MORE_BOXES)
    probs = torch.softmax(res.obj_dists, 1)
    assert (probs - traj.obj_probs[-1]).abs().max().item() < TOL
    assert res.nfe["object"] == traj.nfe_obj > 0
    objs = traj.objects_at(1.5)
    assert np.array_equal(res.obj_preds.numpy(), objs.labels)
    solve = traj.relation_solve(objs)
    assert (res.rel_probs - solve.probs[-1]).abs().max().item() < TOL
    assert res.nfe["predicate"] == solve.nfe
    # the object branch alone (given rois)
    alone = ref.reference_objects(model, traj.fmap, traj.rois, "sgcls")
    assert (torch.softmax(alone.obj_dists, 1) - traj.obj_probs[-1]).abs().max().item() < TOL


def test_two_images_in_one_batch_match_production_columns(model):
    """Images of different lengths become batch columns sorted by length (the second image first)."""
    torch.manual_seed(3)
    C, S = model.cfg.feat_channels, model.cfg.feat_size
    fmap = torch.relu(torch.randn(2, C, S, S))
    boxes = torch.tensor([[10, 10, 100, 120], [50, 60, 200, 220], [120, 30, 300, 160],
                          [0, 0, 150, 150], [100, 90, 250, 300], [20, 200, 180, 310], [200, 10, 310, 100]], dtype=torch.float32)
    im = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    rois = torch.cat((im[:, None].float(), boxes), 1)
    labels = torch.tensor([3, 7, 11, 78, 22, 5, 9])
    pairs0 = model.candidate_pairs(boxes[:3], False)
    pairs1 = model.candidate_pairs(boxes[3:], False) + 3
    times = torch.tensor([0.0, 1.5])
    with torch.inference_mode():
        states, nfe = model.relation_states(fmap, rois, labels, [pairs0, pairs1], times)
        prod = model.relation.decode(states[-1])
    rel_inds = torch.cat((torch.cat((torch.zeros(6, 1, dtype=torch.long), pairs0), 1),
                          torch.cat((torch.ones(12, 1, dtype=torch.long), pairs1), 1)))
    out = ref.predicate_branch(model, fmap, rois, labels, rel_inds)
    assert (out.rel_dists - prod).abs().max().item() < TOL
    assert out.nfe == nfe


def test_sgdet_forward_matches_production():
    from tests.helpers import make_model

    model = make_model(rpn_post_nms=40, max_objects=6)  # few proposals and objects: fast
    img = make_image(seed=4)
    traj = model.predict(img, mode="sgdet", times=[0.0, 1.5])
    res = ref.reference_predict(model, img, "sgdet")
    n = traj.num_objects_in
    assert res.nfe["object"] == traj.nfe_obj
    objs = traj.objects_at(1.5)
    assert np.array_equal(res.kept.numpy(), objs.ids)
    assert np.array_equal(res.obj_preds.numpy(), objs.labels)
    assert len(objs.ids) > 1
    if len(objs.ids) > 1:
        solve = traj.relation_solve(objs)
        ids = res.kept.numpy()
        assert np.array_equal(ids[res.rel_inds.numpy()], solve.pairs)
        assert (res.rel_probs - solve.probs[-1]).abs().max().item() < TOL
    assert n > 0


def test_a_longer_sequence_through_solve_relations(model):
    """12 objects (132 pairs) through the public ``solve_relations`` with a two-point grid."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 200, (12, 2))
    boxes = torch.as_tensor(np.concatenate([xy, xy + rng.uniform(20, 110, (12, 2))], 1), dtype=torch.float32)
    rois = torch.cat((torch.zeros(12, 1), boxes), 1)
    labels = torch.as_tensor(rng.integers(1, 151, 12))
    fmap = torch.relu(torch.randn(1, model.cfg.feat_channels, model.cfg.feat_size, model.cfg.feat_size,
                                  generator=torch.Generator().manual_seed(5)))
    pairs = model.candidate_pairs(boxes, False)
    solve = model.solve_relations(fmap, rois, labels, pairs, torch.tensor([0.0, 1.5]))
    rel_inds = torch.cat((torch.zeros((len(pairs), 1), dtype=torch.long), pairs), 1)
    out = ref.predicate_branch(model, fmap, rois, labels, rel_inds)
    assert (out.rel_probs - solve.probs[-1]).abs().max().item() < TOL
    assert out.nfe == solve.nfe
    # the release's own random draw gives another order, hence (slightly) other scores
    np.random.seed(0)
    other = ref.predicate_branch(model, fmap, rois, labels, rel_inds, order="numpy")
    assert other.rel_dists.shape == out.rel_dists.shape
