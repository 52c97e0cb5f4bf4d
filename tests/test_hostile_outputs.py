"""Every file written is well-formed whatever the labels (XML-invalid characters, mathtext ``$``,
line breaks, formula cells, NULs), and a format that fails for an image leaves none of that image's
files behind (library, nodis predict, viewer batch export)."""
import csv
import io
import json

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from PIL import Image

from nodis import export
from nodis.export import FORMATS, csv_text, xml_text
from nodis.render import display_text

HOSTILE = ["a\x0bb", "x\x01y", "u\ufffe", "$x^2$", "$", "\\frac{", "c\rd", "e\nf", "=cmd|' /C calc'!A0",
           "+1", "-2", "@SUM(A1)", "n\x00ul", "\t=tab", "", " ", "%0A", "ok"]


def hostile_graph(names):
    g = export.example_scene_graph()
    for k, o in enumerate(g.objects):
        o.name = names[k % len(names)]
    for k, r in enumerate(g.relations):
        r.name = names[(k + len(g.objects)) % len(names)]
    return g


def _check_all_formats(g, tmp_path):
    img = Image.new("RGB", (640, 480), (90, 120, 90))
    tmp_path.mkdir()
    for f, spec in FORMATS.items():
        if f.startswith("history"):  # needs a trajectory over t, not a single graph
            continue
        path = tmp_path / ("x" + spec.suffix)
        export.save_graph(g, path, format=f, image=img, show_scores=True)
    etree.parse(str(tmp_path / "x.svg"))  # lxml rejects XML-invalid characters
    got = nx.read_graphml(tmp_path / "x.graphml", force_multigraph=True)
    assert sorted(d["name"] for _, d in got.nodes(data=True)) == sorted(xml_text(o.name) for o in g.objects)
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))["objects"][0]["name"] == g.objects[0].name
    rows = list(csv.reader(io.StringIO((tmp_path / "x.csv").read_text(encoding="utf-8"), newline="")))
    assert len(rows) == len(g.relations) + 1
    for row in rows[1:]:
        for cell in (row[2], row[3], row[5]):
            assert "\x00" not in cell
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), cell
    for name in ("x.png", "x.graph.png", "x.strip.png"):
        with Image.open(tmp_path / name) as im:
            im.load()
    assert (tmp_path / "x.pdf").read_bytes().startswith(b"%PDF")


def test_every_format_is_well_formed_with_hostile_labels(tmp_path):
    _check_all_formats(hostile_graph(HOSTILE[:5]), tmp_path / "a")
    _check_all_formats(hostile_graph(HOSTILE[5:10]), tmp_path / "b")
    _check_all_formats(hostile_graph(HOSTILE[10:]), tmp_path / "c")


# characters of every category, including controls, surrogates' neighbours and non-characters
_LABEL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30)


@settings(max_examples=200, deadline=None)
@given(_LABEL)
def test_escaping_rules(label):
    shown = display_text(label)
    assert all(c not in shown for c in "\r\n\t\x00\x0b\ufffe\uffff")
    assert len(shown) <= 120
    etree.fromstring(f"<t>{xml_text(label).replace('&', '&amp;').replace('<', '&lt;')}</t>")
    assert xml_text(label) == label or "\ufffd" in xml_text(label)
    c = csv_text(label)
    assert "\x00" not in c and not c.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LABEL, min_size=2, max_size=4))
def test_svg_and_graphml_parse_for_random_labels(tmp_path, labels):
    g = hostile_graph(labels)
    svg = export.save_graph(g, tmp_path / "r.svg", format="svg", show_scores=True)
    etree.parse(str(svg))
    gml = export.save_graph(g, tmp_path / "r.graphml")
    etree.parse(str(gml))


def test_a_failing_format_removes_the_whole_set(tmp_path, monkeypatch):
    g = export.example_scene_graph()
    stem = tmp_path / "img"
    (tmp_path / "img.svg").write_text("stale svg from an earlier run")
    real = export.FORMATS["pdf"].writer

    def broken(graph, path, **kw):
        raise ValueError("pdf writer exploded")

    monkeypatch.setitem(export.FORMATS, "pdf", export.FormatSpec(".pdf", broken))
    with pytest.raises(ValueError, match="exploded"):
        export.save_formats(g, stem, ["json", "graphml", "pdf", "svg"])
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setitem(export.FORMATS, "pdf", export.FormatSpec(".pdf", real))
    out = export.save_formats(g, stem, ["json", "graphml", "pdf", "svg"])
    assert sorted(p.name for p in out.values()) == ["img.graphml", "img.json", "img.pdf", "img.svg"]


def test_viewer_batch_export_keeps_no_half_sets(tmp_path, monkeypatch):
    from pathlib import Path

    from app.exporting import ExportItem, export_batch

    good = export.example_scene_graph()
    bad = export.example_scene_graph()
    bad.relations[0].subject = 99  # refers to an object that does not exist: csv fails
    items = [ExportItem(0, Path("a.jpg"), good), ExportItem(1, Path("b.jpg"), bad)]
    rep = export_batch(None, items, tmp_path, ["json", "graphml", "csv"])
    assert len(rep.errors) == 1 and rep.errors[0].startswith("b:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.graphml", "a.json"]
