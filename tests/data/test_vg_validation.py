"""A VG-SGG dataset is validated when it is opened: shapes, dtypes, finiteness, index ranges and box
bounds, with an error naming the field. Each corrupt variant below used to give a traceback or,
worse, silently wrong metrics. Plus a property test over random index perturbations."""
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodis.data.vg import H5_NAME, IMAGE_DATA_NAME, VGDataset
from nodis.errors import DatasetError
from tests.helpers import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("vgval"), n_train=4, n_test=3)


def variant(toy: Path, dst: Path, h5=None, image_data=None) -> Path:
    shutil.copytree(toy, dst)
    if h5 is not None:
        with h5py.File(dst / H5_NAME, "r+") as f:
            h5(f)
    if image_data is not None:
        data = json.loads((dst / IMAGE_DATA_NAME).read_text())
        image_data(data)
        (dst / IMAGE_DATA_NAME).write_text(json.dumps(data))
    return dst


def put(key, value):
    def edit(f):
        del f[key]
        f.create_dataset(key, data=value)
    return edit


def change(key, fn):
    def edit(f):
        v = f[key][()]
        v = fn(np.array(v))
        del f[key]
        f.create_dataset(key, data=v)
    return edit


def at(index, value):
    def fn(a):
        a[index] = value
        return a
    return fn


CASES = [
    ("boxes with 3 columns", change("boxes_1024", lambda a: a[:, :3]), "'boxes_1024' has shape"),
    ("boxes = 2^30", change("boxes_1024", lambda a: a.astype(np.int64) * 0 + 2**30), "'boxes_1024' row 0"),
    ("NaN boxes", change("boxes_1024", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan,
                                                           a.astype(np.float64))), "NaN or infinite"),
    ("infinite boxes", change("boxes_1024", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 2, np.inf,
                                                                a.astype(np.float64))), "NaN or infinite"),
    ("fractional boxes", change("boxes_1024", lambda a: a.astype(np.float64) + 0.5), "fractional"),
    ("box left of the frame", change("boxes_1024", at((0, 0), 0)), "'boxes_1024' row 0"),
    ("zero-width box", change("boxes_1024", at((1, 2), 0)), "'boxes_1024' row 1"),
    ("negative height", change("boxes_1024", at((2, 3), -4)), "'boxes_1024' row 2"),
    ("box past the frame", change("boxes_1024", at((0, 2), 5000)), "'boxes_1024' row 0"),
    ("box past its image's short side", change("boxes_1024", at(0, [900, 900, 20, 20])), "lies outside image"),
    ("label 0", change("labels", at((0, 0), 0)), "'labels' holds class 0"),
    ("label past the vocabulary", change("labels", at((3, 0), 99)), "'labels' holds class 99"),
    ("float labels", change("labels", lambda a: a.astype(np.float32)), "'labels' holds float32"),
    ("labels with 2 columns", change("labels", lambda a: np.hstack([a, a])), "'labels' has shape"),
    ("labels shorter than boxes", change("labels", lambda a: a[:-1]), "rows but 'labels'"),
    ("predicate 0", change("predicates", at((0, 0), 0)), "'predicates' holds predicate 0"),
    ("predicate past the vocabulary", change("predicates", at((0, 0), 51)), "'predicates' holds predicate 51"),
    ("text predicates", put("predicates", np.array([b"on"] * 3)), "'predicates' holds"),
    ("predicates shorter than relations", change("predicates", lambda a: a[:-1]), "'predicates' has"),
    ("relations with 3 columns", change("relationships", lambda a: np.hstack([a, a[:, :1]])), "'relationships' has shape"),
    ("relation to another image's box", change("relationships", lambda a: np.where(
        np.arange(a.size).reshape(a.shape) == 0, a.max() + 1, a)), "'relationships' row 0"),
    ("negative relation index", change("relationships", at((0, 1), -1)), "'relationships' row 0"),
    ("img_to_first_rel past the end", change("img_to_first_rel", lambda a: np.where(a >= 0, a + 10_000, a)),
     "'img_to_first_rel'"),
    ("img_to_last_rel past the end", change("img_to_last_rel", at(-1, 10_000)), "'img_to_first_rel'"),
    ("img_to_first_box past the end", change("img_to_first_box", at(0, 10_000)), "'img_to_first_box'"),
    ("overlapping box ranges", change("img_to_first_box", lambda a: np.where(np.arange(len(a)) == 1, 0, a)),
     "box ranges of images"),
    ("last box before first", change("img_to_last_box", lambda a: np.where(np.arange(len(a)) == 1, a[0] - 1, a)),
     "'img_to_first_box'"),
    ("first box -5", change("img_to_first_box", at(0, -5)), "'img_to_first_box'"),
    ("box ranges shorter than split", change("img_to_first_box", lambda a: a[:-1]), "'img_to_first_box' has"),
    ("overlapping relation ranges", change("img_to_first_rel", lambda a: np.where(np.arange(len(a)) == 1, 0, a)),
     "relation"),
    ("2-D split", change("split", lambda a: a.reshape(-1, 1)), "'split' has shape"),
    ("a group instead of a dataset", lambda f: (f.__delitem__("split"), f.create_group("split")), "'split'"),
    ("a missing key", lambda f: f.__delitem__("predicates"), "lacks the key(s) predicates"),
]
IMAGE_CASES = [
    ("zero image size", lambda d: d[0].update(width=0), "size 0x"),
    ("negative height", lambda d: d[1].update(height=-3), "x-3"),
    ("string width", lambda d: d[0].update(width="640"), "'width' must be a whole number"),
    ("entry not an object", lambda d: d.__setitem__(0, [1, 2]), "not an object"),
    ("duplicate image ids", lambda d: d[1].update(image_id=d[0]["image_id"]), "appears twice"),
    ("missing image_id", lambda d: d[2].pop("image_id"), "'image_id' must be a whole number"),
]


@pytest.mark.parametrize("name, edit, needle", CASES, ids=[c[0] for c in CASES])
def test_corrupt_h5_is_refused_naming_the_field(toy, tmp_path, name, edit, needle):
    root = variant(toy, tmp_path / "v", h5=edit)
    for split in ("train", "test"):
        with pytest.raises(DatasetError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
            VGDataset(root, split)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, edit, needle", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_corrupt_image_data_is_refused(toy, tmp_path, name, edit, needle):
    root = variant(toy, tmp_path / "v", image_data=edit)
    with pytest.raises(DatasetError, match=needle):
        VGDataset(root, "test")


def test_valid_dataset_still_opens(toy):
    ds = VGDataset(toy, "test")
    assert len(ds) == 3 and all(len(s.relations) for s in ds)


_FIELDS = ["img_to_first_box", "img_to_last_box", "img_to_first_rel", "img_to_last_rel", "relationships",
           "labels", "predicates", "boxes_1024"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), pos=st.integers(0, 10_000), value=st.integers(-3, 2000))
def test_index_perturbations_either_refused_or_consistent(toy, tmp_path_factory, field, pos, value):
    """Whatever single value is changed, the dataset either refuses to open (DatasetError) or gives
    samples whose indices are all valid: labels and predicates in the vocabulary, relations inside
    the image's boxes, boxes finite inside the image."""
    def edit(f):
        a = np.array(f[field][()])
        flat = a.reshape(-1)
        flat[pos % flat.size] = value
        del f[field]
        f.create_dataset(field, data=a)

    root = variant(toy, tmp_path_factory.mktemp("p") / "v", h5=edit)
    for split in ("train", "test"):
        try:
            ds = VGDataset(root, split)
        except DatasetError:
            continue
        for s in ds:
            n = len(s.boxes)
            assert n and np.all((s.labels >= 1) & (s.labels < ds.vocab.num_classes))
            if len(s.relations):
                assert s.relations[:, :2].min() >= 0 and s.relations[:, :2].max() < n
                assert np.all((s.relations[:, 2] >= 1) & (s.relations[:, 2] < ds.vocab.num_predicates))
            assert np.all(np.isfinite(s.boxes))
            assert s.boxes[:, :2].min() >= 0 and np.all(s.boxes[:, 2:] > s.boxes[:, :2])
            px = max(s.width, s.height) / 1024  # one pixel at the file's scale
            assert s.boxes[:, 2].max() <= s.width + 2 * px and s.boxes[:, 3].max() <= s.height + 2 * px
