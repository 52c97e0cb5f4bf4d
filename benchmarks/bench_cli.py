"""CLI start-up: wall time of `nodis --help`, `--version`, every `nodis CMD --help`, early usage errors
and `nodis eval --predictions`, each the median of N runs of the installed console script.

    python benchmarks/bench_cli.py                 # -> the "CLI start-up" section of docs/benchmarks.md
    python benchmarks/bench_cli.py --runs 9 --data data/world

The section sits between markers in docs/benchmarks.md; bench_perf.py keeps it when it rewrites the
report. Each command also reports whether it imported torch (a probe run with ``-X importtime``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- cli-startup:begin -->", "<!-- cli-startup:end -->"


def nodis_script() -> str:
    exe = Path(sys.executable).with_name("nodis")
    return str(exe) if exe.exists() else (shutil.which("nodis") or "nodis")


def timed(argv: list[str], runs: int, cwd: Path) -> tuple[float, list[float], int, float]:
    """(median wall time, wall times, exit code, median CPU time user + sys) of ``runs`` runs."""
    subprocess.run(argv, cwd=cwd, capture_output=True)  # warm the file cache
    times, cpu, rc = [], [], 0
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        rc = subprocess.run(argv, cwd=cwd, capture_output=True).returncode
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(times), times, rc, statistics.median(cpu)


def imports_torch(args: list[str], cwd: Path) -> bool:
    code = ("import sys\nfrom nodis.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True)
    return r.stdout.strip().endswith("True")


def gt_predictions(data: Path, out: Path) -> int:
    """Scene graphs equal to the ground truth of the test split (what `eval --predictions` reads)."""
    from nodis.data.vg import VGDataset
    from nodis.graph import ObjectNode, Relation, SceneGraph

    ds = VGDataset(data, "test")
    v = ds.vocab
    with open(out, "w") as f:
        for i in range(len(ds)):
            s = ds[i]
            objs = [ObjectNode(k, tuple(map(float, b)), int(lab), v.classes[int(lab)], 1.0)
                    for k, (b, lab) in enumerate(zip(s.boxes, s.labels))]
            rels = [Relation(int(a), int(b), int(p), v.predicates[int(p)], 1.0, 1.0) for a, b, p in s.relations]
            g = SceneGraph(objs, rels, (1, 1), "predcls", 1.5, 1.5, str(s.image_path), list(v.classes),
                           list(v.predicates))
            f.write(json.dumps(g.to_dict()) + "\n")
    return len(ds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (median reported)")
    ap.add_argument("--data", default=str(ROOT / "data" / "world"),
                    help="a VG-layout dataset for `eval --predictions` (skipped when missing)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--print", action="store_true", help="print the section instead of writing it")
    args = ap.parse_args(argv)
    nodis = nodis_script()
    tmp = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    (tmp / "a_file").write_text("x")
    samples = ROOT / "resources" / "samples"
    cases: list[tuple[str, list[str]]] = [("nodis --help", ["--help"]), ("nodis --version", ["--version"])]
    cases += [(f"nodis {c} --help", [c, "--help"]) for c in ("predict", "convert", "info", "world", "train", "eval")]
    cases += [("nodis predict missing_dir --out o  (error, exit 2)", ["predict", "missing_dir", "--out", "o"]),
              ("nodis predict samples --out a_file  (error, exit 2)", ["predict", str(samples), "--out", "a_file"])]
    data = Path(args.data)
    n_eval = 0
    if (data / "VG-SGG.h5").is_file():
        n_eval = gt_predictions(data, tmp / "preds.jsonl")
        cases.append((f"nodis eval --predictions ({n_eval} test images, all modes)",
                      ["eval", "--data", str(data), "--predictions", str(tmp / "preds.jsonl"), "-q"]))
    # `chrt -f`: the command runs with a real-time priority, so background jobs on the machine cannot
    # delay it (its wall time is what an otherwise idle machine shows); without chrt: as it comes
    rt = ["chrt", "-f", "50"] if shutil.which("chrt") and subprocess.run(
        ["chrt", "-f", "50", "true"], capture_output=True).returncode == 0 else None
    rows = []
    for label, a in cases:
        med, times, rc, cpu = timed([nodis, *a], args.runs, tmp)
        iso = timed([*rt, nodis, *a], args.runs, tmp)[0] if rt else None
        rows.append((label, med, min(times), max(times), cpu, iso, rc, imports_torch(a, tmp)))
        print(f"{label:60s} median {med:.3f} s  (min {min(times):.3f}, max {max(times):.3f}, CPU {cpu:.3f} s, "
              f"isolated {iso if iso is None else round(iso, 3)} s) rc {rc}", flush=True)
    t_med, _, _, t_cpu = timed([sys.executable, "-c", "import torch"], args.runs, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    lines = [BEGIN, "## CLI start-up", "",
             f"Generated by `python benchmarks/bench_cli.py` on {time.strftime('%Y-%m-%d %H:%M:%S')}: wall time of "
             f"the installed `nodis` console script, median of {args.runs} runs after one warm-up run, on "
             f"{platform.machine()} with {os.cpu_count()} cores (load average at the end {load[0]:.1f}, "
             f"{load[1]:.1f}, {load[2]:.1f}). Goal: `nodis --help`, `--version` and every `nodis CMD --help` well "
             f"under 0.5 s. *median / min / max*: wall time as the machine was (other jobs running); *isolated*: "
             f"median wall time under `chrt -f 50` (a real-time priority, so background jobs cannot delay the "
             f"command: what an otherwise idle machine shows); *CPU*: median user + system time. For scale: "
             f"`python -c 'import torch'` alone takes {t_med:.2f} s here (CPU {t_cpu:.2f} s).", "",
             "| command | median | min | max | isolated | CPU | exit | imports torch |",
             "|---|---|---|---|---|---|---|---|"]
    for label, med, lo, hi, cpu, iso, rc, tor in rows:
        lines.append(f"| `{label}` | {med:.3f} s | {lo:.3f} s | {hi:.3f} s | "
                     f"{'–' if iso is None else f'{iso:.3f} s'} | {cpu:.3f} s | {rc} | {'yes' if tor else 'no'} |")
    lines += ["", "Building the parser imports only argparse, `nodis.export` and the package's light modules; "
              "torch is imported when a command needs the model, after every option and path has been checked. "
              "`eval --predictions` reads saved scene graphs and never imports torch.", END]
    section = "\n".join(lines)
    if args.print:
        print(section)
        return 0
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(new)
    print(f"wrote the CLI start-up section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
