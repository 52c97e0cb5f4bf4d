"""Performance benchmarks: the production path against the release's reference path
(``benchmarks/reference.py``), side by side in the same run, with the ratio and an equality check.

Run::

    python benchmarks/bench_perf.py                     # full run -> docs/benchmarks.md (+ .json, plots)
    python benchmarks/bench_perf.py --quick             # smoke run: few points, few repeats
    python benchmarks/bench_perf.py --sections ode,slider --threads 1
    python benchmarks/bench_perf.py --profile 32 --sections none   # torch.profiler of the production P-ODE

Sections (``--sections``, comma list; default all):

* ``ode``: P-ODE (predicate branch) and O-ODE (object branch) time, NFE and peak memory versus the
  number of objects and versus ``t_end``, for the ``demo`` preset (trained weights when present)
  and the ``vg`` preset dimensions (random weights; random feature maps ``(1, 512, 37, 37)`` instead
  of the VGG16 backbone);
* ``grid``: the full output grid (51 times) relative to a two-point solve (production path);
* ``e2e``: end-to-end latency per image per mode (demo preset, 512 px image);
* ``throughput``: ``nodis predict`` over a folder of rendered images, and the in-process loops;
* ``slider``: slider move -> redrawn image and graph views in the real viewer (offscreen), PredCls
  with 64 given boxes, at grid times already decoded and at new ones (p50/p95);
* ``batch``: what batching images along the LSTM batch axis would give: the reference predicate branch
  on 8 images of 16 objects at once (the release's training-time packing) against one image at a
  time, time and output difference (``vg`` dimensions);
* ``compile``: ``torch.compile`` of the ODE function (the bidirectional LSTM, ``vg`` width) against
  eager, with Dynamo's default (LSTM = graph break) and with ``allow_rnn`` (LSTM unrolled).

Timings are medians over ``--repeats`` runs; production and reference alternate within a repeat.
Peak memory is measured in a child process (``VmHWM`` after ``clear_refs``, with glibc's mmap
threshold fixed so freed memory is returned) so the timed runs keep the default allocator.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reference as ref  # noqa: E402

EQ_TOL = 1e-5

FULL = {
    "objects": [4, 8, 16, 32, 64],
    "t_ends": [0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
    "t_end_objects": 16,
    "grid_objects": 16,
    "repeats": 5,
    "vg_repeats": 3,
    "images": 200,
    "inprocess_images": 30,
    "slider_solved": 100,
    "slider_drag": 100,
    "slider_new": 12,
    "slider_ref": 3,
    "e2e_repeats": 5,
}
QUICK = {
    "objects": [4, 8],
    "t_ends": [0.05, 1.5],
    "t_end_objects": 4,
    "grid_objects": 8,
    "repeats": 2,
    "vg_repeats": 1,
    "images": 4,
    "inprocess_images": 2,
    "slider_solved": 6,
    "slider_drag": 6,
    "slider_new": 3,
    "slider_ref": 1,
    "e2e_repeats": 1,
}
SECTIONS = ("ode", "grid", "batch", "e2e", "throughput", "slider", "compile")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# =============================================================================================
# machine, models, inputs


def machine_info(model_name: str) -> dict:
    import torchdiffeq

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    try:
        import PySide6

        qt = PySide6.__version__
    except ImportError:
        qt = None
    return {
        "platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__, "torchdiffeq": torchdiffeq.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "pyside6": qt, "loadavg_start": list(os.getloadavg()),
        "git": commit + ("+dirty" if dirty else ""), "demo_weights": model_name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def demo_model(weights: str | None):
    import nodis

    m = nodis.load_model(weights, device="cpu")
    return m.eval()


def vg_model():
    from nodis.config import preset
    from nodis.model import NODIS
    from nodis.vocab import vg150

    torch.manual_seed(0)
    m = NODIS(preset("vg"), vg150()).eval()
    m.weights_name = "random-init (vg preset)"
    return m


def build_model(name: str, weights: str | None):
    return demo_model(weights) if name == "demo" else vg_model()


class FixedFeatures(nn.Module):
    """Stands in for the backbone: returns a given feature map whatever the image."""

    def __init__(self, fmap: torch.Tensor) -> None:
        super().__init__()
        self.fmap = fmap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fmap


@contextlib.contextmanager
def fixed_features(model, fmap: torch.Tensor):
    orig = model.detector.features
    model.detector.features = FixedFeatures(fmap)
    try:
        yield
    finally:
        model.detector.features = orig


@contextlib.contextmanager
def cfg_t_end(model, t_end: float):
    old = model.cfg.t_end
    model.cfg.t_end = float(t_end)
    try:
        yield
    finally:
        model.cfg.t_end = old


_FMAPS: dict = {}


def feature_map(model, preset_name: str) -> torch.Tensor:
    """vg: a random non-negative map (1, 512, 37, 37); demo: the backbone on a rendered scene."""
    key = (id(model), preset_name)
    if key not in _FMAPS:
        cfg = model.cfg
        if preset_name == "vg":
            g = torch.Generator().manual_seed(0)
            _FMAPS[key] = torch.relu(torch.randn(1, cfg.feat_channels, cfg.feat_size, cfg.feat_size, generator=g))
        else:
            from nodis.data.transforms import prepare_image
            from nodis.data.world import render_scene

            img, _ = render_scene(7)
            x, _, _ = prepare_image(img, cfg.image_size, cfg.pixel_mean, cfg.pixel_std)
            with torch.inference_mode():
                _FMAPS[key] = model.detector.features(x[None]).clone()
    return _FMAPS[key]


def random_objects(model, n: int, seed: int = 0):
    """``n`` random boxes inside the model input (pixels = model pixels) and random labels."""
    S = model.cfg.image_size
    rng = np.random.default_rng(1000 + n + seed)
    xy = rng.uniform(0, S * 0.75, (n, 2))
    wh = rng.uniform(S * 0.08, S * 0.35, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, S - 1)], 1).astype(np.float32)
    labels = rng.integers(1, model.cfg.num_classes, n)
    return boxes, labels


def ode_case(model, preset_name: str, n: int):
    fmap = feature_map(model, preset_name)
    boxes, labels = random_objects(model, n)
    b = torch.as_tensor(boxes)
    rois = torch.cat((torch.zeros(n, 1), b), 1)
    pairs = model.candidate_pairs(b, False)
    rel_inds = torch.cat((torch.zeros((pairs.shape[0], 1), dtype=torch.long), pairs), 1)
    return {"fmap": fmap, "boxes": boxes, "labels": torch.as_tensor(labels), "rois": rois, "pairs": pairs,
            "rel_inds": rel_inds}


class OdeTimer:
    """Forward hooks timing the production ODE blocks (``relation.odeBlock``, ``context.decoder_lin2``)."""

    def __init__(self, model) -> None:
        self.t: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self.handles = []
        for name, mod in (("rel", getattr(model.relation, "odeBlock", None)),
                          ("obj", getattr(model.context, "decoder_lin2", None))):
            if isinstance(mod, nn.Module):
                self.handles.append(mod.register_forward_pre_hook(self._pre(name)))
                self.handles.append(mod.register_forward_hook(self._post(name)))

    def _pre(self, name):
        def f(mod, args):
            self._start[name] = time.perf_counter()
        return f

    def _post(self, name):
        def f(mod, args, out):
            self.t[name] = self.t.get(name, 0.0) + time.perf_counter() - self._start.pop(name, time.perf_counter())
        return f

    def take(self, name: str) -> float | None:
        return self.t.pop(name, None)

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def canvas(model):
    from PIL import Image

    S = model.cfg.image_size
    return Image.new("RGB", (S, S), (124, 116, 103))


# ---- the two paths for one case -------------------------------------------------------------


def prod_pode(model, case, t_end: float, times: torch.Tensor | None = None):
    times = torch.tensor([0.0, float(t_end)]) if times is None else times
    return model.solve_relations(case["fmap"], case["rois"], case["labels"], case["pairs"], times)


def ref_pode(model, case, t_end: float):
    return ref.predicate_branch(model, case["fmap"], case["rois"], case["labels"], case["rel_inds"], t_end=t_end)


def prod_oode(model, case, t_end: float, times=None):
    with fixed_features(model, case["fmap"]), cfg_t_end(model, t_end):
        return model.predict(canvas(model), mode="sgcls", boxes=case["boxes"].tolist(),
                             times=[0.0, float(t_end)] if times is None else times)


def ref_oode(model, case, t_end: float):
    return ref.reference_objects(model, case["fmap"], case["rois"], "sgcls", t_end=t_end)


def pode_diff(p, r) -> float:
    return float((r.rel_probs - p.probs[-1]).abs().max()) if p.probs.shape[1] else 0.0


def oode_diff(traj, r, t_end: float) -> float:
    gi = traj.index_of(t_end)
    return float((torch.softmax(r.obj_dists, 1) - traj.obj_probs[gi]).abs().max())


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, q):
    xs = [x for x in xs if x is not None]
    return float(np.percentile(xs, q)) if xs else None


def run_pair(model, branch: str, case, t_end: float, repeats: int) -> dict:
    """Time production and reference alternately; NFE, ODE-only time and max |diff| of the outputs."""
    timer = OdeTimer(model)
    pt, rt, p_ode, r_ode = [], [], [], []
    p = r = None
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            p = prod_pode(model, case, t_end) if branch == "P-ODE" else prod_oode(model, case, t_end)
            pt.append(time.perf_counter() - t0)
            p_ode.append(timer.take("rel" if branch == "P-ODE" else "obj"))
            t0 = time.perf_counter()
            r = ref_pode(model, case, t_end) if branch == "P-ODE" else ref_oode(model, case, t_end)
            rt.append(time.perf_counter() - t0)
            r_ode.append(r.ode_seconds)
    finally:
        timer.close()
    if branch == "P-ODE":
        diff, p_nfe = pode_diff(p, r), int(p.nfe)
    else:
        diff, p_nfe = oode_diff(p, r, t_end), int(p.nfe_obj)
    mp, mr = median(pt), median(rt)
    return {"prod_s": mp, "ref_s": mr, "speedup": mr / mp if mp else None, "prod_ode_s": median(p_ode),
            "ref_ode_s": median(r_ode), "nfe_prod": p_nfe, "nfe_ref": int(r.nfe), "max_abs_diff": diff,
            "equal": diff <= EQ_TOL, "repeats": repeats}


# =============================================================================================
# peak memory (child process)


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_mib(fn, *args) -> float | None:
    """Peak resident memory above the starting point while ``fn(*args)`` runs (Linux: VmHWM reset)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        fn(*args)
        return None
    base = _status("VmRSS:")
    fn(*args)
    peak = _status("VmHWM:")
    if base is None or peak is None:
        return None
    return max(0.0, (peak - base) / 2**20)


def memory_worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(int(spec["threads"]))
    model = build_model(spec["preset"], spec.get("weights"))
    out = []
    with torch.inference_mode():
        warm = ode_case(model, spec["preset"], 4)
        for branch in ("P-ODE", "O-ODE"):  # first calls allocate one-off buffers
            prod_pode(model, warm, 1.5) if branch == "P-ODE" else prod_oode(model, warm, 1.5)
            ref_pode(model, warm, 1.5) if branch == "P-ODE" else ref_oode(model, warm, 1.5)
        for branch, n, t_end in spec["cases"]:
            case = ode_case(model, spec["preset"], n)
            fp, fr = (prod_pode, ref_pode) if branch == "P-ODE" else (prod_oode, ref_oode)
            mp = peak_mib(fp, model, case, t_end)
            mr = peak_mib(fr, model, case, t_end)
            out.append({"branch": branch, "objects": n, "t_end": t_end, "prod_peak_mib": mp, "ref_peak_mib": mr})
    print("MEMORY-RESULT " + json.dumps(out))
    return 0


def measure_memory(preset_name: str, weights: str | None, cases: list, threads: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0", MALLOC_ARENA_MAX="2")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"preset": preset_name, "weights": weights, "cases": cases, "threads": threads}, f)
        spec = f.name
    try:
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_memory-worker", spec], env=env,
                             capture_output=True, text=True)
    finally:
        os.unlink(spec)
    for line in res.stdout.splitlines():
        if line.startswith("MEMORY-RESULT "):
            return {(r["branch"], r["objects"], r["t_end"]): r for r in json.loads(line[len("MEMORY-RESULT "):])}
    log(f"memory worker failed ({res.returncode}): {res.stderr[-2000:]}")
    return {}


# =============================================================================================
# sections


def section_ode(models: dict, weights, P: dict, threads: int) -> list[dict]:
    rows = []
    for pname, model in models.items():
        reps = P["repeats"] if pname == "demo" else P["vg_repeats"]
        with torch.inference_mode():
            warm = ode_case(model, pname, 4)
            for branch in ("P-ODE", "O-ODE"):
                run_pair(model, branch, warm, 1.5, 1)
        cases = [(b, n, 1.5, "objects") for b in ("P-ODE", "O-ODE") for n in P["objects"]]
        cases += [(b, P["t_end_objects"], t, "t_end") for b in ("P-ODE", "O-ODE") for t in P["t_ends"]]
        mem = measure_memory(pname, weights if pname == "demo" else None,
                             sorted({(b, n, t) for b, n, t, _ in cases}), threads)
        for branch, n, t_end, sweep in cases:
            case = ode_case(model, pname, n)
            with torch.inference_mode():
                r = run_pair(model, branch, case, t_end, reps)
            m = mem.get((branch, n, t_end), {})
            row = {"preset": pname, "branch": branch, "sweep": sweep, "objects": n, "pairs": n * (n - 1),
                   "t_end": t_end, **r, "prod_peak_mib": m.get("prod_peak_mib"), "ref_peak_mib": m.get("ref_peak_mib")}
            rows.append(row)
            log(f"ode {pname} {branch} n={n} t_end={t_end}: prod {r['prod_s']:.3f}s ref {r['ref_s']:.3f}s "
                f"x{r['speedup']:.2f} nfe {r['nfe_prod']}/{r['nfe_ref']} diff {r['max_abs_diff']:.1e} "
                f"mem {row['prod_peak_mib']}/{row['ref_peak_mib']}")
    return rows


def _grid_runs(model, case, t_end: float, gi: int) -> list:
    """(name, run(times), nfe(result), diff(two-point result, full-grid result)) per measured path."""

    def pode(times):
        return prod_pode(model, case, t_end, torch.tensor(times, dtype=torch.float32))

    def oode(times):
        return prod_oode(model, case, t_end, times)

    def sgcls(times):
        tr = prod_oode(model, case, t_end, times)
        tr.graph_at(t_end)
        return tr

    def pode_diff_(a, b):
        return float((a.probs[-1] - b.probs[gi]).abs().max()) if a.probs.shape[1] else 0.0

    def oode_diff_(a, b):
        return float((a.obj_probs[-1] - b.obj_probs[b.index_of(t_end)]).abs().max())

    return [("P-ODE (solve_relations)", pode, lambda r: r.nfe, pode_diff_),
            ("O-ODE (predict sgcls, no backbone)", oode, lambda r: r.nfe_obj, oode_diff_),
            ("SGCls predict + graph_at(t_end), no backbone", sgcls, lambda r: None, lambda a, b: None)]


def section_grid(models: dict, P: dict) -> list[dict]:
    """The default output grid (51 times, 0 … 2.5) against two-point solves: ``[0, t_end]`` (what the
    release solves) and ``[0, 2.5]`` (the same interval as the grid: the cost of the outputs alone)."""
    from nodis.model.nodis import default_times

    rows = []
    for pname, model in models.items():
        reps = P["repeats"] if pname == "demo" else P["vg_repeats"]
        n = P["grid_objects"]
        case = ode_case(model, pname, n)
        t_end = float(model.cfg.t_end)
        full = default_times(t_end)
        variants = {"two": [0.0, t_end], "span": [0.0, full[-1]], "full": full}
        gi = int(np.argmin(np.abs(np.array(full) - t_end)))

        with torch.inference_mode():
            prod_pode(model, case, t_end, torch.tensor(variants["two"]))
            for what, fn, nfe_of, diff_of in _grid_runs(model, case, t_end, gi):
                ts = {k: [] for k in variants}
                out = {}
                for _ in range(reps):
                    for k, times in variants.items():
                        t0 = time.perf_counter()
                        out[k] = fn(times)
                        ts[k].append(time.perf_counter() - t0)
                row = {"preset": pname, "what": what, "objects": n, "grid_points": len(full), "t_end": t_end,
                       "t_max": full[-1], "two_point_s": median(ts["two"]), "span_two_point_s": median(ts["span"]),
                       "full_grid_s": median(ts["full"]), "max_abs_diff_at_t_end": diff_of(out["two"], out["full"]),
                       "nfe_two": nfe_of(out["two"]), "nfe_span": nfe_of(out["span"]), "nfe_full": nfe_of(out["full"])}
                row["ratio"] = row["full_grid_s"] / row["two_point_s"]
                row["ratio_same_interval"] = row["full_grid_s"] / row["span_two_point_s"]
                rows.append(row)
                log(f"grid {pname} {what}: [0,t_end] {row['two_point_s']:.3f}s [0,{full[-1]:g}] "
                    f"{row['span_two_point_s']:.3f}s full {row['full_grid_s']:.3f}s x{row['ratio']:.2f} "
                    f"(same interval x{row['ratio_same_interval']:.2f})")
    return rows


def scene_512(seed: int = 11):
    """A rendered world scene scaled to a long side of 512 px, with its boxes and labels."""
    from PIL import Image

    from nodis.data.world import render_scene

    img, ann = render_scene(seed)
    s = 512 / max(img.size)
    img = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.BILINEAR)
    return img, (np.asarray(ann.boxes, np.float64) * s).tolist(), [int(v) for v in ann.labels]


def e2e_compare(traj, res, mode: str) -> dict:
    t_end = traj.t_end
    objs = traj.objects_at(t_end)
    out = {"objects_equal": bool(np.array_equal(res.kept.numpy(), objs.ids)
                                 and np.array_equal(res.obj_preds.numpy(), objs.labels))}
    if not out["objects_equal"]:
        out["max_abs_diff"] = None
        return out
    d = 0.0
    if mode != "predcls" and len(objs.ids):
        d = float((torch.softmax(res.obj_dists, 1) - traj.obj_probs[traj.index_of(t_end)][res.kept]).abs().max())
    solve = traj.relation_solve(objs)
    ids = res.kept.numpy()
    if len(solve.pairs):
        same = np.array_equal(ids[res.rel_inds.numpy()], solve.pairs)
        out["pairs_equal"] = bool(same)
        if same:
            d = max(d, float((res.rel_probs - solve.probs[traj.index_of(t_end)]).abs().max()))
        else:
            d = None
    out["max_abs_diff"] = d
    return out


def section_e2e(model, P: dict) -> list[dict]:
    img, boxes, labels = scene_512()
    rows = []
    t_end = float(model.cfg.t_end)
    for mode in ("predcls", "sgcls", "sgdet"):
        kw = {} if mode == "sgdet" else {"boxes": boxes}
        if mode == "predcls":
            kw["labels"] = labels
        with torch.inference_mode():
            model.predict(img, mode=mode, **kw).graph_at(t_end)  # warm-up
            ref.reference_predict(model, img, mode, t_end=t_end, **kw)
            pt, p2, rt = [], [], []
            traj = res = None
            for _ in range(P["e2e_repeats"]):
                t0 = time.perf_counter()
                traj = model.predict(img, mode=mode, **kw)
                traj.graph_at(t_end)
                pt.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                tr2 = model.predict(img, mode=mode, times=[0.0, t_end], **kw)
                tr2.graph_at(t_end)
                p2.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                res = ref.reference_predict(model, img, mode, t_end=t_end, **kw)
                rt.append(time.perf_counter() - t0)
            cmp = e2e_compare(traj, res, mode)
        row = {"mode": mode, "image": f"{img.size[0]}x{img.size[1]}", "objects": int(len(res.kept)),
               "pairs": int(res.rel_inds.shape[0]), "prod_s": median(pt), "prod_two_point_s": median(p2),
               "ref_s": median(rt), "speedup": median(rt) / median(pt), "nfe_prod": traj.nfe,
               "nfe_ref": res.nfe, **cmp, "repeats": P["e2e_repeats"]}
        rows.append(row)
        log(f"e2e {mode}: prod {row['prod_s']:.3f}s (two-point {row['prod_two_point_s']:.3f}s) ref {row['ref_s']:.3f}s "
            f"objects {row['objects']} diff {row.get('max_abs_diff')}")
    return rows


def write_images(folder: Path, n: int) -> list[Path]:
    from nodis.data.world import render_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"scene_{i:04d}.jpg"
        if not p.exists():
            render_scene(5000 + i)[0].save(p, quality=90)
        paths.append(p)
    return paths


def section_throughput(model, weights, P: dict, threads: int) -> dict:
    n = P["images"]
    with tempfile.TemporaryDirectory(prefix="nodis-bench-") as tmp:
        tmp = Path(tmp)
        log(f"rendering {n} images")
        paths = write_images(tmp / "images", n)
        one = tmp / "one"
        one.mkdir()
        (one / paths[0].name).write_bytes(paths[0].read_bytes())
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        base = [sys.executable, "-c", "import sys; from nodis.cli import main; sys.exit(main())", "predict",
                "--device", "cpu", "-q"]
        if weights:
            base += ["--weights", str(weights)]

        def cli(folder: Path, out: Path) -> tuple[float, int]:
            t0 = time.perf_counter()
            r = subprocess.run(base + [str(folder), "--out", str(out)], env=env, capture_output=True, text=True,
                               cwd=str(ROOT))
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                log(f"nodis predict exited {r.returncode}: {r.stderr[-1500:]}")
            return dt, r.returncode

        log("nodis predict, 1 image")
        t1, rc1 = cli(one, tmp / "out1")
        log(f"nodis predict, {n} images")
        tn, rcn = cli(tmp / "images", tmp / "outN")
        written = len(list((tmp / "outN").glob("*.json")))
        # in-process loops over the same images (sgdet): production vs reference
        k = min(P["inprocess_images"], n)
        t_end = float(model.cfg.t_end)
        with torch.inference_mode():
            model.predict(paths[0]).graph_at(t_end)
            t0 = time.perf_counter()
            for p in paths[:k]:
                model.predict(p).graph_at(t_end)
            tp = time.perf_counter() - t0
            t0 = time.perf_counter()
            for p in paths[:k]:  # what `nodis predict` solves by default: [0, t_end] only
                model.predict(p, times=[0.0, t_end]).graph_at(t_end)
            tp2 = time.perf_counter() - t0
            t0 = time.perf_counter()
            for p in paths[:k]:
                ref.reference_predict(model, p, "sgdet", t_end=t_end)
            tr = time.perf_counter() - t0
    res = {"images": n, "cli_one_image_s": t1, "cli_s": tn, "cli_exit": [rc1, rcn], "json_written": written,
           "cli_images_per_s": n / tn, "cli_marginal_images_per_s": (n - 1) / (tn - t1) if n > 1 and tn > t1 else None,
           "inprocess_images": k, "inprocess_prod_s_per_image": tp / k, "inprocess_ref_s_per_image": tr / k,
           "inprocess_prod_two_point_s_per_image": tp2 / k, "inprocess_two_point_speedup": tr / tp2,
           "inprocess_speedup": tr / tp}
    log(f"throughput: cli {res['cli_images_per_s']:.2f} img/s (1 image: {t1:.1f}s); in-process prod "
        f"{res['inprocess_prod_s_per_image']:.3f} s/img, ref {res['inprocess_ref_s_per_image']:.3f} s/img")
    return res


def section_slider(model, P: dict, n_objects: int = 64) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("NODIS_VIEWER_QUIET", "1")
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["bench"])
    settings_dir = tempfile.mkdtemp(prefix="nodis-bench-settings-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from nodis_viewer.state import DONE
    from nodis_viewer.window import MainWindow

    loop = QEventLoop()
    tick = QTimer()  # wakes the blocking wait below now and then (conditions are polled on every event)
    tick.setInterval(100)
    tick.start()

    def wait(cond, timeout: float = 600.0) -> bool:
        """Process events (blocking while there are none) until ``cond()``; False on timeout."""
        end = time.perf_counter() + timeout
        while not cond():
            if time.perf_counter() > end:
                return False
            loop.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        return True

    with tempfile.TemporaryDirectory(prefix="nodis-bench-slider-") as tmp:
        img, _, _ = scene_512(12)
        path = Path(tmp) / "slider.png"
        img.save(path)
        rng = np.random.default_rng(64)
        W, H = img.size
        xy = rng.uniform(0, 0.8, (n_objects, 2)) * [W, H]
        wh = rng.uniform(0.06, 0.3, (n_objects, 2)) * [W, H]
        boxes = np.concatenate([xy, np.minimum(xy + wh, [W - 1, H - 1])], 1).round(1).tolist()
        labels = rng.integers(1, model.cfg.num_classes, n_objects).tolist()

        w = MainWindow(model_factory=lambda weights, device: model)
        w.quiet = True
        w.resize(1400, 900)
        w.show()
        res: dict = {"objects": n_objects, "pairs": n_objects * (n_objects - 1)}
        try:
            assert wait(lambda: w.engine.model is not None and w.state.vocab is not None, 120), "model not loaded"
            w.state.set_mode("predcls")
            (e,) = w.open_paths([path])
            w.state.set_boxes(e.eid, boxes, labels)
            t0 = time.perf_counter()
            w.schedule(e, "predcls")
            assert wait(lambda: e.status == DONE and e.has_result), "inference did not finish"
            res["first_result_s"] = time.perf_counter() - t0
            n_times = len(e.times)
            assert wait(lambda: sum(1 for k in e.graphs if k[0] == k[1]) >= n_times and not w.engine.is_busy()), \
                "grid not decoded"
            res["all_times_decoded_s"] = time.perf_counter() - t0
            res["grid_points"] = n_times
            slider = w.time_panel.obj_slider
            views = (w.image_view.gv.viewport(), w.graph_view.gv.viewport())

            from PySide6.QtCore import QEvent, QObject

            class PaintCounter(QObject):
                """Counts paint events of the two views (the timing ends when both have painted)."""

                def __init__(self) -> None:
                    super().__init__()
                    self.n = {id(v): 0 for v in views}

                def eventFilter(self, obj, ev) -> bool:
                    if ev.type() == QEvent.Type.Paint and id(obj) in self.n:
                        self.n[id(obj)] += 1
                    return False

            painted = PaintCounter()
            for v in views:
                v.installEventFilter(painted)

            def move(gi: int, solved: bool) -> float:
                before = dict(painted.n)
                t = time.perf_counter()
                slider.setValue(gi)
                if not solved:
                    assert wait(lambda: (gi, gi) in e.graphs and w._pending_request is None
                                and w._last_drawn is not None and abs(w._last_drawn.t_obj - e.times[gi]) < 1e-9, 60)
                app.processEvents()  # the update requests of the move: both views repaint here
                for v in views:  # (a view Qt did not repaint is painted now, so every move counts a paint)
                    if painted.n[id(v)] == before[id(v)]:
                        v.repaint()
                dt = time.perf_counter() - t
                assert abs(w.state.t_obj() - e.times[gi]) < 1e-9
                assert w._last_drawn is not None and abs(w._last_drawn.t_obj - e.times[gi]) < 1e-9
                return dt

            cur = w.state.gi_obj
            solved = []
            for _ in range(P["slider_solved"]):
                gi = int(rng.integers(0, n_times - 1))
                gi = gi if gi != cur else n_times - 1
                solved.append(move(gi, True))
                cur = gi
            # a drag: one grid step at a time, back and forth (what scrubbing with the mouse or arrow keys does)
            drag = []
            step = 1
            for _ in range(P["slider_drag"]):
                if not 0 <= cur + step < n_times:
                    step = -step
                cur += step
                drag.append(move(cur, True))
            # a fresh result whose other grid times are not decoded yet: stop the background decoding
            finished = []
            w.engine.jobFinished.connect(lambda eid, jid, *a: (finished.append(jid), w.engine.cancel(eid)))
            w.schedule(e, "predcls")
            assert wait(lambda: finished and e.status == DONE and e.has_result and not w.engine.is_busy())
            fresh = []
            cands = [gi for gi in rng.permutation(n_times).tolist() if (gi, gi) not in e.graphs]
            for gi in cands[: P["slider_new"]]:
                fresh.append(move(gi, False))
            res.update({
                "solved_n": len(solved), "solved_p50_ms": 1e3 * pct(solved, 50), "solved_p95_ms": 1e3 * pct(solved, 95),
                "solved_max_ms": 1e3 * max(solved),
                "drag_n": len(drag), "drag_p50_ms": 1e3 * pct(drag, 50), "drag_p95_ms": 1e3 * pct(drag, 95),
                "new_n": len(fresh), "new_p50_ms": 1e3 * pct(fresh, 50) if fresh else None,
                "new_p95_ms": 1e3 * pct(fresh, 95) if fresh else None,
            })
        finally:
            tick.stop()
            w.close()
            app.processEvents()
        # the release has no slider: a new t means re-solving the model at that t (compute only)
        with torch.inference_mode():
            rts = []
            for k in range(P["slider_ref"]):
                t = [0.5, 1.0, 2.0][k % 3]
                t0 = time.perf_counter()
                ref.reference_predict(model, path, "predcls", boxes=boxes, labels=labels, t_end=t)
                rts.append(time.perf_counter() - t0)
        res["ref_resolve_p50_ms"] = 1e3 * pct(rts, 50)
        res["ref_resolve_n"] = len(rts)
    log(f"slider: solved p50 {res['solved_p50_ms']:.1f} ms p95 {res['solved_p95_ms']:.1f} ms; drag p50 "
        f"{res['drag_p50_ms']:.1f} ms p95 {res['drag_p95_ms']:.1f} ms; new p50 "
        f"{res['new_p50_ms']} ms; reference re-solve {res['ref_resolve_p50_ms']:.0f} ms")
    return res


def section_batch(model, P: dict, n_images: int = 8, n_objects: int = 16) -> dict:
    """The reference P-ODE on ``n_images`` images packed into one solve vs one solve per image."""
    fmap1 = feature_map(model, "vg")
    cases = []
    counts = [n_objects - n_images // 2 + k for k in range(n_images)]  # different sizes: padding, as in real batches
    for k, n in enumerate(counts):
        boxes, labels = random_objects(model, n, seed=k)
        b = torch.as_tensor(boxes)
        pairs = model.candidate_pairs(b, False)
        cases.append({"fmap": fmap1, "boxes": boxes, "labels": torch.as_tensor(labels),
                      "rois": torch.cat((torch.zeros(n, 1), b), 1), "pairs": pairs,
                      "rel_inds": torch.cat((torch.zeros((len(pairs), 1), dtype=torch.long), pairs), 1)})
    offsets = np.cumsum([0] + counts[:-1]).tolist()
    fmap = fmap1.expand(n_images, -1, -1, -1).contiguous()
    rois = torch.cat([torch.cat((torch.full((len(c["labels"]), 1), float(k)), c["rois"][:, 1:]), 1)
                      for k, c in enumerate(cases)])
    labels = torch.cat([c["labels"] for c in cases])
    rel_inds = torch.cat([torch.cat((torch.full((len(c["pairs"]), 1), k, dtype=torch.long), c["pairs"] + off), 1)
                          for k, (c, off) in enumerate(zip(cases, offsets))])
    t_end = ref.RELEASED_T_END
    one, batched, prod = [], [], []
    with torch.inference_mode():
        for _ in range(P["vg_repeats"]):
            t = time.perf_counter()
            singles = [ref_pode(model, c, t_end) for c in cases]
            one.append(time.perf_counter() - t)
            t = time.perf_counter()
            rb = ref.predicate_branch(model, fmap, rois, labels, rel_inds, t_end=t_end)
            batched.append(time.perf_counter() - t)
            t = time.perf_counter()
            for c in cases:
                _ = prod_pode(model, c, t_end).probs
            prod.append(time.perf_counter() - t)
    diff = float((torch.cat([r.rel_probs for r in singles]) - rb.rel_probs).abs().max())
    res = {"images": n_images, "objects": counts, "pairs_per_image": [int(len(c["pairs"])) for c in cases],
           "one_by_one_s": median(one), "batched_s": median(batched), "production_one_by_one_s": median(prod),
           "nfe_one_by_one": [r.nfe for r in singles], "nfe_batched": rb.nfe, "max_diff": diff}
    res["batched_speedup"] = res["one_by_one_s"] / res["batched_s"]
    log(f"batch: {n_images} images one by one {res['one_by_one_s']:.2f} s, packed {res['batched_s']:.2f} s "
        f"({res['batched_speedup']:.2f}x), production one by one {res['production_one_by_one_s']:.2f} s; "
        f"max diff {diff:.2e}")
    return res


def section_compile(P: dict) -> dict:
    """Does ``torch.compile`` help the ODE function? Eager vs compiled BiLSTM at the ``vg`` width."""
    import torch._dynamo

    dim = 1024  # the vg preset's ODE state: LSTM(1024, 512, bidirectional)
    torch.manual_seed(0)
    lstm = nn.LSTM(dim, dim // 2, bidirectional=True).eval()
    rows = []
    for length, rnn in ((56, False), (240, False), (56, True)):
        torch._dynamo.reset()
        old = torch._dynamo.config.allow_rnn
        torch._dynamo.config.allow_rnn = rnn
        try:
            x = torch.randn(length, 1, dim)

            def f(x):
                return lstm(x)[0]

            cf = torch.compile(f, dynamic=False)
            with torch.no_grad():
                t0 = time.perf_counter()
                y = cf(x)
                first = time.perf_counter() - t0
                diff = float((y - f(x)).abs().max())
                te, tc = [], []
                for _ in range(max(5, 3 * P["repeats"])):
                    t = time.perf_counter()
                    f(x)
                    te.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    cf(x)
                    tc.append(time.perf_counter() - t)
        finally:
            torch._dynamo.config.allow_rnn = old
            torch._dynamo.reset()
        row = {"length": length, "allow_rnn": rnn, "eager_ms": 1e3 * statistics.median(te),
               "compiled_ms": 1e3 * statistics.median(tc), "first_call_s": first, "max_diff": diff}
        row["speedup"] = row["eager_ms"] / row["compiled_ms"]
        log(f"compile: length {length} allow_rnn={rnn}: eager {row['eager_ms']:.1f} ms, compiled "
            f"{row['compiled_ms']:.1f} ms (first call {first:.1f} s)")
        rows.append(row)
    return {"dim": dim, "rows": rows}


def profile_pode(n: int, threads: int, rows: int = 25) -> dict:
    """torch.profiler and cProfile of one production P-ODE solve with the vg dimensions."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    model = vg_model()
    case = ode_case(model, "vg", n)
    with torch.inference_mode():
        prod_pode(model, case, 1.5)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
            s = prod_pode(model, case, 1.5)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
        pr = cProfile.Profile()
        t0 = time.perf_counter()
        pr.enable()
        prod_pode(model, case, 1.5)
        pr.disable()
        wall = time.perf_counter() - t0
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(rows)
    return {"objects": n, "pairs": n * (n - 1), "nfe": s.nfe, "wall_s": wall, "threads": threads,
            "torch_profiler": table, "cprofile": buf.getvalue()}


# =============================================================================================
# report


def _f(v, fmt="{:.3f}"):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**NO**"
    return fmt.format(v)


def goals_table(res: dict) -> list[str]:
    """The speed goals next to what this run measured."""
    rows = []
    sl = res.get("slider")
    if sl:
        for how, key in (("random jumps", "solved_p95_ms"), ("dragging, one step at a time", "drag_p95_ms")):
            v = sl.get(key)
            if v is not None:
                rows.append((f"Slider move to redrawn views at a decoded t, 64 objects: p95 <= 16 ms ({how})",
                             f"{v:.1f} ms", v <= 16))
    for r in res.get("grid") or []:
        if r["what"].startswith("P-ODE") or r["what"].startswith("SGCls"):
            same = r.get("ratio_same_interval")
            rows.append((f"Full grid <= 1.15x a two-point solve ({r['preset']}, {r['what']})",
                         f"{r['ratio']:.2f}x vs [0, t_end]"
                         + (f" (NFE {r['nfe_two']} → {r['nfe_full']})" if r.get("nfe_two") is not None else "") + "; "
                         f"{_f(same, '{:.2f}x')} vs [0, {r.get('t_max', 2.5):g}]", r["ratio"] <= 1.15))
    for r in res.get("ode") or []:
        if r["preset"] == "vg" and r["branch"] == "P-ODE" and r["sweep"] == "objects" and r["objects"] >= 16:
            ode_x = r["ref_ode_s"] / r["prod_ode_s"] if r.get("prod_ode_s") and r.get("ref_ode_s") else None
            rows.append((f"P-ODE, vg dims, {r['objects']} objects: production >= 2x faster, equal outputs",
                         f"{r['speedup']:.2f}x whole branch, {_f(ode_x, '{:.2f}x')} ODE alone, diff {r['max_abs_diff']:.1e}",
                         r["speedup"] >= 2 and r["equal"]))
            if r["objects"] == 64 and r.get("prod_peak_mib") is not None:
                rows.append(("Peak memory, vg dims, 64 objects < 4 GB", f"{r['prod_peak_mib']:.0f} MiB",
                             r["prod_peak_mib"] < 4096))
    for r in res.get("e2e") or []:
        if r["mode"] == "sgdet":
            rows.append((f"SGDet, demo model, {r['image']}: median <= 0.5 s", f"{r['prod_s']:.3f} s", r["prod_s"] <= 0.5))
    if not rows:
        return []
    out = ["## Speed goals and what this run measured", "", "| goal | measured | met |", "|---|---|---|"]
    out += [f"| {g} | {m} | {'yes' if ok else '**no**'} |" for g, m, ok in rows]
    return out + [""]


def make_plots(res: dict, md_path: Path) -> list[tuple[str, str]]:
    """PNG plots beside the report (``images/bench_*.png``); returns (alt, relative path) pairs."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    img_dir = md_path.parent / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    out = []
    ode = res.get("ode") or []
    presets = list(dict.fromkeys(r["preset"] for r in ode))
    if ode:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
        for pname, mk in zip(presets, ("o", "s")):
            for branch, ls in (("P-ODE", "-"), ("O-ODE", "--")):
                rows = [r for r in ode if r["preset"] == pname and r["branch"] == branch and r["sweep"] == "objects"]
                if not rows:
                    continue
                n = [r["objects"] for r in rows]
                axes[0].plot(n, [r["prod_s"] for r in rows], ls, marker=mk, label=f"{pname} {branch} production")
                axes[0].plot(n, [r["ref_s"] for r in rows], ls, marker=mk, alpha=0.45, label=f"{pname} {branch} reference")
                if branch == "P-ODE":
                    pairs = [r["pairs"] for r in rows]
                    axes[1].plot(pairs, [r["prod_peak_mib"] or 0 for r in rows], "-", marker=mk, label=f"{pname} production")
                    axes[1].plot(pairs, [r["ref_peak_mib"] or 0 for r in rows], "-", marker=mk, alpha=0.45,
                                 label=f"{pname} reference")
            rows = [r for r in ode if r["preset"] == pname and r["branch"] == "P-ODE" and r["sweep"] == "t_end"]
            if rows:
                ax2 = axes[2]
                ax2.plot([r["t_end"] for r in rows], [r["prod_s"] for r in rows], "-", marker=mk,
                         label=f"{pname} P-ODE time (s)")
                ax2.plot([r["t_end"] for r in rows], [r["nfe_prod"] / 10 for r in rows], ":", marker=mk,
                         label=f"{pname} NFE / 10")
        axes[0].set(xscale="log", yscale="log", xlabel="objects", ylabel="seconds", title="time vs objects (t_end 1.5)")
        counts = sorted({r["objects"] for r in ode if r["sweep"] == "objects"})
        if counts:
            from matplotlib.ticker import NullFormatter
            axes[0].set_xticks(counts, [str(c) for c in counts])
            axes[0].xaxis.set_minor_formatter(NullFormatter())
        axes[1].set(xlabel="pairs", ylabel="peak MiB above start", title="P-ODE peak memory vs pairs")
        axes[2].set(xlabel="t_end", title="P-ODE time and NFE vs t_end")
        for a in axes:
            a.grid(alpha=0.3)
            a.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(img_dir / "bench_ode.png")
        plt.close(fig)
        out.append(("ODE time, memory and NFE", "images/bench_ode.png"))
    return out


def pode_bound_text(res: dict, prof: dict) -> list[str]:
    """Why the whole P-ODE branch cannot be 2x faster on this machine: the part outside the ODE
    (pair features, front-end) costs the same in both paths, so the ODE alone would have to be far
    more than 2x faster, and on 2 cores its arithmetic splits at most two ways."""
    row = next((r for r in res.get("ode") or [] if r["preset"] == "vg" and r["branch"] == "P-ODE"
                and r["sweep"] == "objects" and r["objects"] == prof["objects"]), None)
    if not row or not row.get("prod_ode_s") or not row.get("ref_ode_s"):
        return []
    P, R, Po, Ro = row["prod_s"], row["ref_s"], row["prod_ode_s"], row["ref_ode_s"]
    rest_p, rest_r = P - Po, R - Ro
    need = R / 2 - rest_p
    cores = res["machine"].get("cpus_usable") or os.cpu_count()
    txt = (f"**Why the whole branch is not 2x faster.** At {prof['objects']} objects (same run, medians) the "
           f"reference takes {R:.2f} s, {Ro:.2f} s of it in the ODE; production takes {P:.2f} s, {Po:.2f} s in the "
           f"ODE ({Ro / Po:.2f}x faster there). Outside the ODE (pair features with the union-box convolutions, "
           f"which dominate the table above after the LSTM, and the front-end) both paths do the same arithmetic: "
           f"{rest_p:.2f} s vs {rest_r:.2f} s. ")
    if need > 0:
        txt += (f"For the branch to take R/2 = {R / 2:.2f} s, the ODE would have to finish in {need:.2f} s, "
                f"{Ro / need:.1f}x faster than the reference's ODE. ")
    else:
        txt += f"Even an ODE in zero time would leave {rest_p:.2f} s > R/2 = {R / 2:.2f} s. "
    txt += (f"The ODE is the LSTM kernel (`mkldnn_rnn_layer`) over the pair sequence: per direction a chain of "
            f"dependent matrix-vector products, one per pair, too small to share well between threads. The "
            f"reference runs both directions one after the other with {cores} intra-op threads each; production "
            f"runs them side by side, one per core, so its ODE costs about one direction on one core "
            f"(measured: {Ro / Po:.2f}x faster). Going further would need each single-core direction itself to be "
            f"about twice as fast, with no core left to give it. Exactness rules out cheaper arithmetic (half precision, batching images "
            f"under one step-size control; see *Batching* above). Note: the profiler records the main thread; the "
            f"backward direction runs on a second thread and is not listed.")
    return [txt, ""]


def write_report(res: dict, path: Path) -> None:
    m = res["machine"]
    L = ["# Performance: production path vs the release's reference path", "",
         f"Generated by `python benchmarks/bench_perf.py{' --quick' if res['quick'] else ''}` on {m['date']} "
         f"(git `{m['git']}`). Raw numbers: `{Path(res['json']).name}` beside this file.", "",
         f"Machine: {m['cpu']}, {m['cpus_usable']} usable cores; {m['platform']}; torch {m['torch']} "
         f"({m['torch_threads']} intra-op threads), torchdiffeq {m['torchdiffeq']}, Python {m['python']}. "
         f"Load average at start {', '.join(f'{x:.1f}' for x in m['loadavg_start'])}"
         + (f", at end {', '.join(f'{x:.1f}' for x in m['loadavg_end'])}" if "loadavg_end" in m else "") + ".",
         f"Demo weights: `{m['demo_weights']}`; the `vg` preset uses random weights and random feature maps.", "",
         "**Reference** = `benchmarks/reference.py`, the original release's computation re-created from the "
         "release's source (its own RoIAlign, NMS and packing in the release's float32 arithmetic, `carry` LSTM "
         "state, dopri5 rtol=atol=0.01, re-solved per call). "
         "**Speed-up** = reference time / production time. **diff** = max |production - reference| of the "
         f"probabilities at t_end; *equal* means <= {EQ_TOL:g}.", ""]
    if res.get("quick"):
        L += ["> **Quick (smoke) run**: few points and repeats; not for conclusions.", ""]
    L += goals_table(res)
    plots = make_plots(res, path)
    if plots:
        L += ["## Plots", ""] + [f"![{alt}]({rel})" for alt, rel in plots] + [""]
    ode = res.get("ode")
    if ode:
        L += ["## P-ODE and O-ODE versus the number of objects and t_end", "",
              "P-ODE = the predicate branch for all ordered pairs (`NODIS.solve_relations` vs `reference."
              "predicate_branch`: pair features, LSTMs, ODE, `fc_predicate`). O-ODE = the object branch after the "
              "backbone in SGCls (`NODIS.predict(mode='sgcls')` with the backbone replaced by a fixed feature map, "
              "vs `reference.reference_objects`: box head, RoI features, context, ODE, decoder). *ODE s* = the "
              "`odeint` call alone. Peak = peak resident memory above the start of the call (child process).", ""]
        for sweep, title in (("objects", "versus the number of objects (t_end 1.5)"),
                             ("t_end", "versus t_end")):
            for pname in dict.fromkeys(r["preset"] for r in ode):
                rows = [r for r in ode if r["sweep"] == sweep and r["preset"] == pname]
                if not rows:
                    continue
                L += [f"### `{pname}` preset, {title}" + (f" ({rows[0]['objects']} objects)" if sweep == "t_end" else ""),
                      "", "| branch | objects | pairs | t_end | prod s | ref s | speed-up | prod ODE s | ref ODE s | "
                      "NFE prod/ref | peak MiB prod/ref | diff | equal |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
                for r in rows:
                    L.append(f"| {r['branch']} | {r['objects']} | {r['pairs'] if r['branch'] == 'P-ODE' else '–'} | "
                             f"{r['t_end']} | {_f(r['prod_s'])} | {_f(r['ref_s'])} | {_f(r['speedup'], '{:.2f}x')} | "
                             f"{_f(r['prod_ode_s'])} | {_f(r['ref_ode_s'])} | {r['nfe_prod']}/{r['nfe_ref']} | "
                             f"{_f(r['prod_peak_mib'], '{:.0f}')}/{_f(r['ref_peak_mib'], '{:.0f}')} | "
                             f"{r['max_abs_diff']:.1e} | {_f(r['equal'])} |")
                L.append("")
    grid = res.get("grid")
    if grid:
        L += ["## Full output grid versus a two-point solve (production path)", "",
              "The default grid has 51 times from 0 to 2.5 (beyond the trained t_end, so the viewer can show what "
              "happens later). It is compared with two-point solves over `[0, t_end]` (what the release solves) and "
              "over `[0, 2.5]` (the same interval: the cost of the 49 extra outputs alone). Up to t_end the solver "
              "takes the same steps either way (the values at t_end agree); reaching 2.5 can take more steps (NFE).",
              "",
              "| preset | what | objects | [0, t_end] s | [0, 2.5] s | full grid s | ratio vs [0, t_end] | "
              "ratio vs [0, 2.5] | NFE two/span/full | diff at t_end |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for r in grid:
            nfe = "/".join("–" if r.get(k) is None else str(r[k]) for k in ("nfe_two", "nfe_span", "nfe_full"))
            L.append(f"| {r['preset']} | {r['what']} | {r['objects']} | {_f(r['two_point_s'])} | "
                     f"{_f(r.get('span_two_point_s'))} | {_f(r['full_grid_s'])} | **{r['ratio']:.2f}x** | "
                     f"{_f(r.get('ratio_same_interval'), '{:.2f}x')} | {nfe} | {_f(r['max_abs_diff_at_t_end'], '{:.1e}')} |")
        L.append("")
    e2e = res.get("e2e")
    if e2e:
        L += ["## End-to-end latency per image (demo preset, 512 px rendered scene)", "",
              "Production = `predict` with the default output grid + `graph_at(t_end)` (what the CLI and viewer do); "
              "two-point = the same with `times=[0, t_end]`; reference = `reference.reference_predict` (the release's "
              "test-time forward at batch 1).", "",
              "| mode | image | objects | pairs | prod s | prod two-point s | ref s | speed-up | NFE prod (obj/pred) | "
              "NFE ref | objects equal | diff |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in e2e:
            L.append(f"| {r['mode']} | {r['image']} | {r['objects']} | {r['pairs']} | {_f(r['prod_s'])} | "
                     f"{_f(r['prod_two_point_s'])} | {_f(r['ref_s'])} | {_f(r['speedup'], '{:.2f}x')} | "
                     f"{r['nfe_prod']['object']}/{r['nfe_prod']['predicate']} | {r['nfe_ref']['object']}/"
                     f"{r['nfe_ref']['predicate']} | {_f(r['objects_equal'])} | {_f(r.get('max_abs_diff'), '{:.1e}')} |")
        L.append("")
    tp = res.get("throughput")
    if tp:
        L += ["## `nodis predict` throughput (demo preset, SGDet, rendered scenes)", "",
              f"- `nodis predict` over {tp['images']} images: {tp['cli_s']:.1f} s wall, "
              f"**{tp['cli_images_per_s']:.2f} images/s** (one image alone: {tp['cli_one_image_s']:.1f} s, i.e. start-up "
              f"+ model loading; marginal rate {_f(tp['cli_marginal_images_per_s'], '{:.2f}')} images/s); "
              f"{tp['json_written']} JSON files written, exit codes {tp['cli_exit']}.",
              f"- In-process over {tp['inprocess_images']} images (SGDet): production `predict` (the full trajectory, "
              f"51 times) + `graph_at(t_end)` {tp['inprocess_prod_s_per_image']:.3f} s/image (speed-up "
              f"{tp['inprocess_speedup']:.2f}x); production with `times=[0, t_end]` (what `nodis predict` solves by "
              f"default) {_f(tp.get('inprocess_prod_two_point_s_per_image'))} s/image (speed-up "
              f"{_f(tp.get('inprocess_two_point_speedup'), '{:.2f}')}x); reference "
              f"{tp['inprocess_ref_s_per_image']:.3f} s/image.", ""]
    sl = res.get("slider")
    if sl:
        L += ["## Slider latency (viewer, offscreen, PredCls with 64 given boxes)", "",
              f"{sl['objects']} objects, {sl['pairs']} pairs, {sl['grid_points']} grid times. Time from "
              "`obj_slider.setValue(i)` to both views repainted: the redraw, then `processEvents()`, in which Qt "
              "paints the image and graph viewports (each paint event counted; a viewport Qt did not repaint is "
              "`repaint()`ed, so every move includes one paint of each view). At a new time, until the worker's "
              "graph has arrived and been drawn. A random jump changes most of the drawn boxes, tags, nodes and "
              "edges (different top relations); a step of 0.05 in t changes few, and unchanged items are kept "
              "(`ItemPool`).", "",
              "| position | moves | p50 ms | p95 ms |", "|---|---|---|---|",
              f"| already decoded, random jumps | {sl['solved_n']} | {sl['solved_p50_ms']:.1f} | "
              f"{sl['solved_p95_ms']:.1f} |",
              *([f"| already decoded, dragging (one grid step at a time) | {sl['drag_n']} | "
                 f"{sl['drag_p50_ms']:.1f} | {sl['drag_p95_ms']:.1f} |"] if sl.get("drag_n") else []),
              f"| not decoded yet | {sl['new_n']} | {_f(sl['new_p50_ms'], '{:.1f}')} | {_f(sl['new_p95_ms'], '{:.1f}')} |",
              "",
              f"First result after scheduling: {sl['first_result_s']:.2f} s; all {sl['grid_points']} times decoded "
              f"after {sl['all_times_decoded_s']:.2f} s. The release has no slider: showing another t means "
              f"re-solving the model at that t, {sl['ref_resolve_p50_ms']:.0f} ms (reference PredCls forward, median "
              f"of {sl['ref_resolve_n']}, compute only, drawing excluded).", ""]
    bt = res.get("batch")
    if bt:
        L += ["## Batching images along the LSTM batch axis", "",
              f"{bt['images']} images of {bt['objects'][0]} to {bt['objects'][-1]} objects ({bt['pairs_per_image'][0]} to "
              f"{bt['pairs_per_image'][-1]} pairs), `vg` dimensions: "
              "the reference predicate branch with all images packed into one solve (as the release does in "
              "training: one padded sequence per image, batch = images) against one solve per image (as the "
              "release does at test time).", "",
              "| | one image at a time | packed batch | production, one at a time |", "|---|---|---|---|",
              f"| time (s) | {bt['one_by_one_s']:.2f} | {bt['batched_s']:.2f} | {bt['production_one_by_one_s']:.2f} |",
              f"| NFE | {', '.join(map(str, bt['nfe_one_by_one']))} | {bt['nfe_batched']} | |", "",
              ("Packing is " + (f"{bt['batched_speedup']:.2f}x faster than" if bt["batched_speedup"] >= 1 else
                                f"slower than ({bt['batched_speedup']:.2f}x: every image is padded to the longest "
                                "sequence)") + " solving the images one by one, and the outputs "
               f"differ by up to {bt['max_diff']:.2g} in probability: the backward LSTM direction of a shorter "
               "image runs over padding first, and the adaptive solver chooses one step sequence for the whole "
               "batch from an error norm over all images, so each image's result depends on its batch-mates "
               "(facts sheet, quirk 4). Outputs must stay exact, so nodis solves one image at a time."), ""]
    comp = res.get("compile")
    if comp:
        L += ["## torch.compile", "",
              f"The ODE function is one bidirectional `nn.LSTM` call (width {comp['dim']}, the `vg` preset) over the "
              "pair sequence. Compiled with `torch.compile(dynamic=False)` against eager, same input, no grad "
              "(medians):", "",
              "| sequence length | Dynamo | eager ms | compiled ms | speed-up | first call (compile) s | max diff |",
              "|---|---|---|---|---|---|---|"]
        for r in comp["rows"]:
            L.append(f"| {r['length']} | {'allow_rnn (unrolled)' if r['allow_rnn'] else 'default (graph break)'} | "
                     f"{r['eager_ms']:.2f} | {r['compiled_ms']:.2f} | {r['speedup']:.2f}x | {r['first_call_s']:.1f} | "
                     f"{r['max_diff']:.1e} |")
        L += ["", "By default Dynamo does not trace RNN modules: the LSTM runs eagerly inside the compiled "
              "function, so nothing is gained. With `allow_rnn` Dynamo traces the module: the first call pays the "
              "compilation, static shapes mean a recompilation for every new number of pairs, and the compiled "
              "function is not faster than the eager kernel. nodis therefore does not use `torch.compile`.", ""]
    prof = res.get("profile")
    if prof:
        L += [f"## Profile of the production P-ODE (`vg` dimensions, {prof['objects']} objects, {prof['pairs']} pairs)",
              "", f"NFE {prof['nfe']}, {prof['wall_s']:.2f} s under cProfile, {prof['threads']} threads.", "",
              "```text", prof["torch_profiler"].rstrip(), "```", ""]
        L += pode_bound_text(res, prof)
    # sections other scripts maintain in this file (benchmarks/bench_cli.py) survive a rewrite
    old = path.read_text() if path.exists() else ""
    for begin, end in (("<!-- cli-startup:begin -->", "<!-- cli-startup:end -->"),
                       ("<!-- views:begin -->", "<!-- views:end -->")):  # views: benchmarks/bench_views.py
        if begin in old and end in old:
            L += [old[old.index(begin):old.index(end) + len(end)], ""]
    path.write_text("\n".join(L))


# =============================================================================================


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few points, few repeats")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="Markdown report")
    ap.add_argument("--json", default=None, help="raw results (default: --out with .json)")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: rewrite --out from the raw results in --json")
    ap.add_argument("--weights", default=None, help="demo checkpoint (default: weights/nodis-demo.safetensors or random)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)} (or none)")
    ap.add_argument("--presets", default="demo,vg", help="presets of the ode/grid sections")
    ap.add_argument("--repeats", type=int, default=None, help="repeats of the demo-preset timings")
    ap.add_argument("--vg-repeats", type=int, default=None, help="repeats of the vg-preset timings")
    ap.add_argument("--objects", default=None, help="object counts, e.g. 4,8,16,32,64")
    ap.add_argument("--images", type=int, default=None, help="images for `nodis predict` (full: 200)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also profile the production P-ODE (vg, N objects)")
    ap.add_argument("--_memory-worker", dest="memory_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_worker:
        return memory_worker(args.memory_worker)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    P = dict(QUICK if args.quick else FULL)
    if args.repeats:
        P["repeats"] = P["e2e_repeats"] = args.repeats
    if args.vg_repeats:
        P["vg_repeats"] = args.vg_repeats
    if args.objects:
        P["objects"] = [int(x) for x in args.objects.split(",")]
    if args.images:
        P["images"] = args.images
    sections = [s for s in args.sections.split(",") if s and s != "none"]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    out = Path(args.out)
    jpath = Path(args.json) if args.json else out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:  # rewrite the Markdown (and plots) from the raw numbers of an earlier run
        res = json.loads(jpath.read_text())
        write_report(res, out)
        log(f"rewrote {out} from {jpath}")
        return 0
    torch.manual_seed(0)
    weights = args.weights
    if weights is None:
        import nodis

        w = nodis.default_weights()
        weights = str(w) if w else None
    demo = demo_model(weights)
    res = {"quick": args.quick, "params": P, "sections": sections, "json": str(jpath),
           "machine": machine_info(getattr(demo, "weights_name", "?"))}
    log(f"machine: {res['machine']['cpu']}, {threads} threads, load {res['machine']['loadavg_start']}")

    def save():
        res["machine"]["loadavg_end"] = list(os.getloadavg())
        jpath.write_text(json.dumps(res, indent=2, default=str))
        write_report(res, out)

    presets = [p for p in args.presets.split(",") if p]
    models = {}
    if "ode" in sections or "grid" in sections:
        if "demo" in presets:
            models["demo"] = demo
        if "vg" in presets:
            log("building the vg-preset model (random weights)")
            models["vg"] = vg_model()
    t_all = time.perf_counter()
    if "ode" in sections:
        res["ode"] = section_ode(models, weights, P, threads)
        save()
    if "grid" in sections:
        res["grid"] = section_grid(models, P)
        save()
    if "batch" in sections:
        res["batch"] = section_batch(models.get("vg") or vg_model(), P)
        save()
    models.pop("vg", None)
    gc.collect()
    if "e2e" in sections:
        res["e2e"] = section_e2e(demo, P)
        save()
    if "throughput" in sections:
        res["throughput"] = section_throughput(demo, weights, P, threads)
        save()
    if "slider" in sections:
        res["slider"] = section_slider(demo, P)
        save()
    if "compile" in sections:
        res["compile"] = section_compile(P)
        save()
    if args.profile:
        res["profile"] = profile_pode(args.profile, threads)
        print(res["profile"]["torch_profiler"])
        print(res["profile"]["cprofile"])
    res["total_s"] = time.perf_counter() - t_all
    save()
    log(f"done in {res['total_s']:.0f} s: {out} and {jpath}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
