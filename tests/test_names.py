"""Output names: distinct inputs always give distinct output files (nodis predict, save_batch, the
viewer's batch export), whatever the paths. Property-based over random path sets."""
from pathlib import PurePosixPath

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nodis import export
from nodis.export import FORMATS, RUN_FILE_NAMES, name_key, output_names, unique_names

# path parts drawn from a small alphabet so that collisions (case, "__", "_2", extensions, format
# infixes, run-level names) are frequent
_PART = st.one_of(
    st.sampled_from(["a", "A", "b", "x", "X", "a__x", "x_2", "index", "scene_graphs", "errors", "x.graph",
                     "x.vg", "x.STRIP", "x.nodelink", ".x", "..", "custom_prediction", "ä", "a\u0308", "_"]),
    st.text(alphabet="aAxX_.-2 é", min_size=1, max_size=6).filter(lambda s: s not in (".", "..")),
)
_EXT = st.sampled_from([".jpg", ".JPG", ".png", ".jpeg", ""])


@st.composite
def _paths(draw):
    n = draw(st.integers(1, 12))
    out = []
    for _ in range(n):
        parts = draw(st.lists(_PART, min_size=0, max_size=3))
        stem = draw(_PART)
        out.append(PurePosixPath(*parts, stem + draw(_EXT)) if parts else PurePosixPath(stem + draw(_EXT)))
    return out


def _all_files(names):
    """Every file name the outputs of ``names`` can take (all per-image formats) plus the run files."""
    files = [name_key(n + spec.suffix) for n in names for spec in FORMATS.values()]
    return files + [name_key(f) for f in RUN_FILE_NAMES]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_paths())
@example([PurePosixPath("a/x.jpg"), PurePosixPath("b/x.jpg"), PurePosixPath("a__x.jpg"), PurePosixPath("a__x_2.jpg")])
@example([PurePosixPath("x.jpg"), PurePosixPath("x.graph.jpg"), PurePosixPath("index.png"), PurePosixPath(".x.png")])
def test_output_names_are_injective_for_every_format(paths):
    names = output_names(paths)
    assert len(names) == len(paths)
    files = _all_files(names)
    assert len(set(files)) == len(files), "two outputs (or an output and a run-level file) share a file name"
    assert names == output_names(paths)  # deterministic
    for n in names:
        assert n and not n.startswith(".") and "/" not in n and len(n.encode()) <= export.MAX_NAME_BYTES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=10))
def test_unique_names_are_distinct_whatever_the_preferred_names(preferred):
    names = unique_names(preferred)
    files = _all_files(names)
    assert len(set(files)) == len(files)
    for n in names:
        assert n and not n.startswith(".") and "/" not in n and "\x00" not in n
        assert len(n.encode("utf-8", "surrogatepass")) <= export.MAX_NAME_BYTES


def test_reported_collisions_and_readable_names():
    P = PurePosixPath
    # the reported case: 4 inputs, 4 distinct outputs
    assert output_names([P("a/x.jpg"), P("b/x.jpg"), P("a__x.jpg"), P("a__x_2.jpg")]) == \
        ["a__x", "b__x", "a__x_2", "a__x_2_2"]
    assert unique_names(["x", "x", "x_2"]) == ["x", "x_2", "x_2_2"]
    # readable names where nothing collides
    assert output_names([P("photos/cat.jpg"), P("photos/dog.png")]) == ["cat", "dog"]
    # format infixes, hidden names and run-level names cannot shadow another output
    assert output_names([P("x.graph.jpg"), P(".x.png"), P("scene_graphs.jpg")]) == \
        ["x_graph", "_.x", "scene_graphs.jpg"]
    long = "é" * 300
    (n,) = output_names([P(long + ".jpg")])
    assert len(n.encode()) <= export.MAX_NAME_BYTES and n.startswith("é" * 10)


def test_save_batch_never_overwrites(tmp_path):
    g = export.example_scene_graph()
    graphs = [g, g, g]
    out = export.save_batch(graphs, tmp_path, "json", image_paths=["x.jpg", "x.jpg", "x_2.jpg"])
    assert len({p.name for p in out}) == 3 and all(p.exists() for p in out)
    assert len(list(tmp_path.glob("*.json"))) == 3
    import pytest

    from nodis.errors import ExportError

    with pytest.raises(ExportError, match="would overwrite"):
        export.save_batch([g, g], tmp_path / "b", "json", stems=["X", "x"])


def test_viewer_batch_export_uses_the_library_names(tmp_path):
    from pathlib import Path

    from app.exporting import ExportItem, export_batch

    g = export.example_scene_graph()
    items = [ExportItem(k, Path(p), g) for k, p in enumerate(["a/x.jpg", "b/x.jpg", "x_2.jpg", "a__x.jpg"])]
    rep = export_batch(None, items, tmp_path, ["json", "graphml"])
    assert not rep.errors
    assert len(rep.written) == 8 and len({p.name for p in rep.written}) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in rep.written)
