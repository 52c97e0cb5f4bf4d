"""What an install provides: package names, entry points, package data (issue 13)."""
from __future__ import annotations

import subprocess
import sys


def _run_outside(code: str, tmp_path) -> subprocess.CompletedProcess:
    """Run ``python -c code`` from a folder outside the checkout, so only installed packages import."""
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}, timeout=120)


def test_viewer_installs_as_nodis_viewer_and_app_is_not_installed(tmp_path):
    r = _run_outside("import nodis_viewer.main as m, nodis_viewer.window; print(m.main.__module__)", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "nodis_viewer.main"
    r = _run_outside("import app", tmp_path)
    assert r.returncode != 0 and "No module named 'app'" in r.stderr


def test_viewer_entry_point_targets_nodis_viewer():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name.startswith("nodis")}
    assert eps["nodis-viewer"] == "nodis_viewer.main:main"
    assert eps["nodis"] == "nodis.cli:main"
