"""Core benchmarks (issue 2): latency per mode, ODE time/NFE vs t_end, time/memory vs #objects,
and the cost of the full output grid relative to a two-point solve.

Run: ``python benchmarks/bench_core.py [--weights W] [--repeats 5] [--out docs/benchmarks.md]``.
Medians over ``--repeats`` runs; the machine, thread count and weights are recorded in the report.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nodis  # noqa: E402
from nodis.model import make_times  # noqa: E402


class PeakRSS:
    """Peak resident memory above the starting point, sampled every 2 ms from /proc."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        self.base = self.rss()
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def scene(n: int, size: int = 512, seed: int = 0):
    """A synthetic image with ``n`` random boxes (for sgcls / predcls timing)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))
    xy = rng.uniform(0, size * 0.7, (n, 2))
    wh = rng.uniform(size * 0.1, size * 0.3, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, size - 1)], 1)
    labels = rng.integers(1, 10, n)
    return img, boxes, labels


def median_time(fn, repeats: int) -> tuple[float, object]:
    out, ts = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def bench_modes(model, repeats):
    img, boxes, labels = scene(12)
    rows = []
    for mode in ("predcls", "sgcls", "sgdet"):
        def run():
            tr = model.predict(img, mode=mode, boxes=boxes, labels=labels, times=[0.0, model.cfg.t_end])
            tr.graph_at(model.cfg.t_end)
            return tr
        model.predict(img, mode=mode, boxes=boxes, labels=labels, times=[0.0, 1.5])  # warm-up
        t, tr = median_time(run, repeats)
        rows.append({"mode": mode, "median_s": t, "nfe": tr.nfe})
    return rows


def bench_t_end(model, repeats, t_ends):
    img, boxes, labels = scene(12)
    rows = []
    for t_end in t_ends:
        model.cfg.t_end = float(t_end)
        grid = [0.0, float(t_end)]

        def run():
            tr = model.predict(img, mode="sgcls", boxes=boxes, times=grid)
            tr.graph_at(t_end)
            return tr
        t, tr = median_time(run, repeats)
        rows.append({"t_end": t_end, "median_s": t, "nfe_object": tr.nfe["object"], "nfe_predicate": tr.nfe["predicate"]})
    model.cfg.t_end = 1.5
    return rows


def bench_objects(model, repeats, counts):
    rows = []
    for n in counts:
        img, boxes, labels = scene(n, seed=n)

        def run():
            tr = model.predict(img, mode="predcls", boxes=boxes, labels=labels, times=[0.0, 1.5])
            tr.graph_at(1.5)
            return tr
        run()
        with PeakRSS() as mem:
            t, tr = median_time(run, repeats)
        rows.append({"objects": n, "pairs": n * (n - 1), "median_s": t, "nfe": tr.nfe["predicate"], "peak_mib": mem.mib})
    return rows


def bench_grid(model, repeats):
    img, boxes, labels = scene(16)
    full = make_times(None, 1.5).tolist()

    def run(times):
        def f():
            tr = model.predict(img, mode="sgcls", boxes=boxes, times=times)
            tr.graph_at(1.5)
            return tr
        return f
    run(full)()
    t2, _ = median_time(run([0.0, 1.5]), repeats)
    tf, _ = median_time(run(full), repeats)
    return {"two_point_s": t2, "full_grid_s": tf, "grid_points": len(full), "ratio": tf / t2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results_core.json"))
    ap.add_argument("--quick", action="store_true", help="fewer points (for a smoke run)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    model = nodis.load_model(args.weights, device="cpu")
    t_ends = [0.05, 0.5, 1.0, 1.5, 2.0, 3.0] if not args.quick else [0.05, 1.5]
    counts = [4, 8, 16, 32, 64] if not args.quick else [4, 8]
    res = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "weights": model.weights_name, "preset": model.cfg.preset},
        "modes": bench_modes(model, args.repeats),
        "t_end": bench_t_end(model, args.repeats, t_ends),
        "objects": bench_objects(model, max(2, args.repeats // 2), counts),
        "grid": bench_grid(model, args.repeats),
    }
    Path(args.json).write_text(json.dumps(res, indent=2))
    write_report(res, Path(args.out))
    print(Path(args.out).read_text())
    return 0


def write_report(res: dict, path: Path) -> None:
    m = res["machine"]
    lines = ["# Benchmarks", "", "Generated by `python benchmarks/bench_core.py`; medians of repeated runs on",
             f"{m['platform']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads, torch {m['torch']};",
             f"weights `{m['weights']}` (preset `{m['preset']}`), CPU. Raw numbers: `benchmarks/results_core.json`.", "",
             "## End-to-end latency per mode (12 objects, 512 px image, two-point solve)", "",
             "| mode | median (s) | NFE object | NFE predicate |", "|---|---|---|---|"]
    for r in res["modes"]:
        lines.append(f"| {r['mode']} | {r['median_s']:.3f} | {r['nfe']['object']} | {r['nfe']['predicate']} |")
    lines += ["", "## ODE cost versus t_end (SGCls, 12 objects; the paper's Fig. 3)", "",
              "| t_end | median (s) | NFE O-ODE | NFE P-ODE |", "|---|---|---|---|"]
    for r in res["t_end"]:
        lines.append(f"| {r['t_end']} | {r['median_s']:.3f} | {r['nfe_object']} | {r['nfe_predicate']} |")
    lines += ["", "## Time and peak memory versus number of objects (PredCls: all ordered pairs)", "",
              "| objects | pairs | median (s) | NFE P-ODE | peak RSS increase (MiB) |", "|---|---|---|---|---|"]
    for r in res["objects"]:
        lines.append(f"| {r['objects']} | {r['pairs']} | {r['median_s']:.3f} | {r['nfe']} | {r['peak_mib']:.0f} |")
    g = res["grid"]
    lines += ["", "## Full output grid versus a two-point solve (SGCls, 16 objects)", "",
              f"Two-point solve: {g['two_point_s']:.3f} s; full grid of {g['grid_points']} times: {g['full_grid_s']:.3f} s; "
              f"ratio **{g['ratio']:.2f}x**. The adaptive solver takes the same steps either way; the extra cost is "
              "the dense-output interpolation at each grid time and decoding every time for the trajectory.", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
