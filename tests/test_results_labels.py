"""scripts/results.py labels: the SGDet matching and the docs/results.md section it writes."""
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def results_module():
    spec = importlib.util.spec_from_file_location("nodis_results_script", ROOT / "scripts" / "results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_greedy_match_is_one_to_one_best_score_first():
    r = results_module()
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    det = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 31, 31], [50, 50, 60, 60]], float)
    scores = np.array([0.5, 0.9, 0.7, 0.99])
    # the better-scored detection 1 takes GT 0, detection 0 is left over; nothing overlaps detection 3
    assert r._greedy_match(gt, det, scores) == {0: 1, 1: 2}
    assert r._greedy_match(gt, det[3:], scores[3:]) == {}
    assert r._greedy_match(gt[:0], det, scores) == {}


def test_label_changes_section_and_its_place_in_the_doc(tmp_path):
    r = results_module()
    data = {"images": 10, "test_images": 1000, "weights": "m.safetensors", "weights_sha256": "abc", "t_end": 1.5,
            "world": {"version": 1, "seed": 0}, "threads": 2, "seconds": 120.0,
            "modes": {"sgcls": {"objects": 100, "right_t0": 80, "right_tend": 90, "changed": 20, "correction": 15,
                                "corruption": 3, "wrong_to_wrong": 2, "lookalike_corrections": 4,
                                "top_changes": [["hat", "helmet", "correction", 4]]},
                      "sgdet": {"gt_boxes": 100, "objects": 70, "right_t0": 60, "right_tend": 62, "changed": 5,
                                "correction": 3, "corruption": 1, "wrong_to_wrong": 1, "top_changes": []}}}
    text = r.label_changes_section(data)
    assert text.startswith(r.LABELS_BEGIN) and text.endswith(r.LABELS_END)
    assert "| SGCls | 100 | 80.0% | 90.0% | 20 (20.0%) | 15 (75% of changes) | 3 (15%) | 2 (10%) | 4 |" in text
    assert "| SGDet | 70 (of 100 GT boxes) |" in text and "hat → helmet (correction, 4)" in text
    assert "first 10 of the 1000 test images" in text and "sha256 `abc…`" in text
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\n## Table 2\n\nrows\n\n## Reproduce\n\ncommands\n")
    r.put_section(doc, text)
    first = doc.read_text()
    assert first.index("## Table 2") < first.index(r.LABELS_BEGIN) < first.index("## Reproduce")
    data["images"] = 20
    r.put_section(doc, r.label_changes_section(data))
    second = doc.read_text()
    assert second.count(r.LABELS_BEGIN) == 1 and "first 20 of the 1000" in second and "first 10 of" not in second
    assert second.endswith("## Reproduce\n\ncommands\n")
