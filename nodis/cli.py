"""The ``nodis`` command line: ``nodis <subcommand> ...`` (reference: ``docs/cli.md``).

Each subcommand is registered by a function ``add_<name>(subparsers)`` that adds its parser and sets
``func`` (``run(args) -> exit code``) with ``set_defaults``. :data:`REGISTRARS` lists them; a module
with more subcommands contributes one ``register(subparsers)`` callable (e.g.
:func:`nodis.commands.register_all` for ``world``, ``train``, ``eval``).

Exit codes: 0 success; 1 the run finished but some inputs failed (``predict``, ``predict --merge``);
2 a usage error, any :class:`~nodis.errors.NodisError` (printed as ``nodis: error: <message>``, no
traceback) and any other error (one line too; ``-vv`` shows the traceback); 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). The contract and the hostile inputs it is tested on:
``docs/reliability.md``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, ExportError, InputError, NodisError

log = logging.getLogger("nodis")

EXIT_OK, EXIT_INPUTS_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


# ------------------------------------------------------------------------------------------ common
def _common() -> argparse.ArgumentParser:
    """-v / -q accepted after the subcommand too (SUPPRESS keeps the top-level value when absent)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="more messages (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="only errors; no progress bar")
    return p


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.lower_level = record.levelname.lower()
        return super().format(record)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Messages of the ``nodis`` loggers on stderr as ``nodis: warning: ...``."""
    level = logging.ERROR if quiet else logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    fmt = "nodis: %(lower_level)s: %(message)s" if verbose < 2 else "nodis: %(lower_level)s: [%(name)s] %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt))
    root = logging.getLogger("nodis")
    for h in list(root.handlers):
        if getattr(h, "_nodis_cli", False):
            root.removeHandler(h)
    handler._nodis_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    for name in ("nodis_viewer",):
        logging.getLogger(name).setLevel(level)


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, metavar="D",
                   help="cpu, cuda or cuda:N (default: CUDA when available, else CPU; under torchrun cuda:LOCAL_RANK)")


def _weights_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None, metavar="W",
                   help="our .safetensors checkpoint or an official .tar (default: the shipped demo model "
                        "nodis-demo); 'random': a randomly initialised demo model, for testing only")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow full unpickling of a legacy official .tar (runs code in the file: only for files you trust)")


def _score(text: str) -> float:
    """argparse type of --threshold / --object-threshold: a score in [0, 1] (the API's rule, same message)."""
    from .graph import check_score_threshold

    try:
        return check_score_threshold(text, "the value")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_output_folder(out: str | Path) -> Path:
    """``out`` as a Path after checking, without creating anything, that it is or can become a writable folder."""
    out = Path(os.path.expanduser(str(out)))
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder; choose a folder (it is created when missing)")
    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ExportError(f"cannot create the output folder {out}: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to the output folder {out}: {probe} is not writable")
    return out


def warn_if_outside_world(model, images) -> bool:
    """Once per run, on stderr: the note that a demo (world) model runs on images that are not from its
    world (rule: :mod:`nodis.provenance`). Returns whether the note was printed."""
    from .provenance import count_outside_world, demo_model_note, is_world_model

    if not is_world_model(model):
        return False
    outside, total = count_outside_world(images)
    if not outside:
        return False
    print(f"nodis: note: {demo_model_note(getattr(model, 'weights_name', None), outside, total)}", file=sys.stderr)
    return True


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def check_weights_arg(weights: str | None) -> None:
    """Fail fast (before torch is imported) on a --weights file that does not exist, and on a missing
    shipped demo model: nodis never falls back to random weights unless asked (``--weights random``)."""
    from . import assets
    from .errors import CheckpointError

    if weights == assets.RANDOM_WEIGHTS:
        return
    if weights is None:
        if assets.demo_weights() is None:
            raise CheckpointError(
                f"the shipped demo model is missing from this install ({assets.demo_weights_path()}); reinstall "
                f"nodis, pass --weights FILE, or --weights {assets.RANDOM_WEIGHTS} for a randomly initialised model")
        return
    p = Path(weights)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file" + (" (it is a folder)" if p.is_dir() else "")
                              + f"; pass one of our .safetensors files or an official .tar (--weights "
                              f"{assets.RANDOM_WEIGHTS}: a randomly initialised model)")


def load_model_for_cli(weights: str | None, device: str | None, trust_pickle: bool = False, quiet: bool = False):
    """:func:`nodis.load_model`; ``--weights random`` gets a loud warning (its graphs are meaningless)."""
    import nodis

    check_weights_arg(weights)
    if device is None and os.environ.get("LOCAL_RANK") is not None:
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % max(1, torch.cuda.device_count())}"
    model = nodis.load_model(weights, device=device, trust_pickle=trust_pickle)
    if getattr(model, "weights_name", None) == "random-init" and not quiet:
        print("nodis: warning: --weights random: using a RANDOMLY INITIALISED demo model. Its scene graphs are "
              "meaningless; outputs are marked \"weights\": \"random-init\".", file=sys.stderr)
    return model


# ------------------------------------------------------------------------------------------ predict
PREDICT_EPILOG = """\
examples:
  nodis predict photos/ --out out                         # sgdet, one JSON per image
  nodis predict a.jpg b.png --out out --format json,png,svg,graphml
  nodis predict photos/ --out out --times 0:2.5:0.05 --format json,strip
  nodis predict photos/ --out out --times 0:2.5:0.05 --format history-csv   # every item's probabilities over t
  nodis predict list.txt --out out --mode predcls --boxes boxes.json --top-k 50
  nodis predict photos/ --out out --resume                # continue an interrupted run
  nodis predict photos/ --out out --shard 0/4             # 1st of 4 processes (torchrun: automatic)

exit status: 0 all images done, 1 some images failed (see DIR/errors.jsonl), 2 error, 130 interrupted.
Reference: docs/cli.md"""


def add_predict(sub) -> None:
    from .export import BATCH_FORMATS, FORMATS  # torch-free: building the parser must stay instant

    per_image = ", ".join(f for f in FORMATS if f not in ("vg", "sgb"))
    p = sub.add_parser(
        "predict", parents=[_common()], help="scene graphs for images, folders or lists of images",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PREDICT_EPILOG,
        description="Predict scene graphs and write one JSON document per image (the graph at each requested\n"
                    "ODE time, model, mode, NFE) plus the requested formats into DIR, with a run index\n"
                    "DIR/index.jsonl and failures in DIR/errors.jsonl.")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files, folders (searched recursively by extension) or .txt files listing paths")
    p.add_argument("--out", "-o", default=None, metavar="DIR", help="output folder (created); required")
    p.add_argument("--mode", default="sgdet", choices=["sgdet", "sgcls", "predcls"],
                   help="sgdet: image only (default); sgcls: boxes given; predcls: boxes and labels given")
    p.add_argument("--boxes", default=None, metavar="FILE",
                   help="boxes (and labels) per image for sgcls/predcls: JSON (docs/cli.md) or nodis scene graphs")
    _weights_arg(p)
    _device_arg(p)
    p.add_argument("--half", action="store_true",
                   help="CUDA only: run the detector (backbone, RPN, box head) in float16 autocast; the ODEs stay "
                        "float32 (ignored with a warning on CPU)")
    p.add_argument("--times", default=None, metavar="A:B:S",
                   help="ODE times to write, start:stop:step or a comma list (t_end is always added; default t_end only)")
    p.add_argument("--top-k", type=_positive_int, default=None, metavar="K",
                   help="keep the K best relations (default: all candidate pairs)")
    p.add_argument("--threshold", type=_score, default=0.0, metavar="S",
                   help="keep relations with triplet score >= S, S in [0, 1] (default 0)")
    p.add_argument("--object-threshold", type=_score, default=0.0, metavar="S",
                   help="keep objects with score >= S, S in [0, 1], and the relations among them (default 0)")
    p.add_argument("--format", "-f", default="json", metavar="LIST",
                   help=f"comma list of outputs; per image: {per_image}; per run: {', '.join(BATCH_FORMATS)} "
                        "(json is always written)")
    p.add_argument("--distributions", default="t_end", choices=["t_end", "all", "none"],
                   help="full class/predicate distributions in the JSON: at t_end only (default), at every time, or none")
    p.add_argument("--strip-times", default=None, metavar="LIST",
                   help="times of the strip figure (default 0,0.5,1,1.5,2,2.5 and t_end)")
    p.add_argument("--resume", action="store_true",
                   help="skip images whose outputs are complete (same settings, per DIR/index.jsonl)")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="process only inputs at positions I mod N of the sorted list; 'slurm': the task's place in "
                        "a SLURM job array (default under torchrun: RANK/WORLD_SIZE). Shards keep their index in "
                        "DIR/shards/; the last one to finish merges the run")
    p.add_argument("--merge", default=None, metavar="DIR",
                   help="only merge the finished shards of DIR into DIR/index.jsonl and the run-level files "
                        "(no INPUT needed; done automatically when the last shard finishes)")
    p.add_argument("--workers", type=_positive_int, default=2, metavar="N",
                   help="image-decoding threads running ahead of the model (default 2; 0 = none)")
    p.set_defaults(func=run_predict)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that atomic writes clean up their temporary files."""


def run_predict(args) -> int:
    # every option and path is checked before torch is imported and the model loaded (a typo costs no wait)
    from .predict import (
        BoxSource,
        default_shard,
        expand_inputs,
        parse_formats,
        parse_shard,
        parse_times,
        predict_paths,
    )

    quiet = bool(getattr(args, "quiet", False))
    if getattr(args, "merge", None) is not None:
        if args.inputs:
            raise ConfigError("--merge DIR merges finished shards and takes no INPUT; run the shards first")
        return _report_merge(_merge(args.merge), quiet)
    if not args.inputs or args.out is None:
        raise ConfigError("nodis predict needs INPUT... and --out DIR (or --merge DIR); see nodis predict --help")
    parse_times(args.times)
    parse_times(args.strip_times)
    parse_formats(args.format)
    shard = parse_shard(args.shard) or default_shard()
    group = _torchrun_group() if args.shard is None and shard else False  # torchrun: barrier, rank 0 merges
    args._merge = False if group else None
    if args.mode != "sgdet" and args.boxes is None:
        raise ConfigError(f"--mode {args.mode} needs --boxes FILE (boxes per image"
                          f"{' with labels' if args.mode == 'predcls' else ''}); see docs/cli.md")
    if args.mode == "sgdet" and args.boxes is not None:
        raise ConfigError("--boxes is only used with --mode sgcls or --mode predcls")
    check_weights_arg(args.weights)
    out = check_output_folder(args.out)
    for inp in args.inputs:
        if Path(inp).is_dir() and Path(inp).resolve() == out.resolve():
            raise ConfigError(f"the output folder {out} is also an input folder; choose another --out "
                              "(outputs such as NAME.png would be read as images on the next run)")
    images = expand_inputs(args.inputs, exclude=[out])  # a missing input raises here
    if not images:
        from .data.transforms import IMAGE_SUFFIXES

        raise InputError("no images found in " + ", ".join(map(str, args.inputs))
                         + f" (looked for {', '.join(IMAGE_SUFFIXES)})")
    if args.boxes is not None:
        args.boxes = BoxSource.load(args.boxes)  # a missing or malformed boxes file fails here
    if args.device is not None:
        from . import resolve_device

        resolve_device(args.device)
    model = load_model_for_cli(args.weights, args.device, args.trust_pickle, quiet)
    if not quiet:
        warn_if_outside_world(model, images)
    if getattr(args, "half", False):
        model.set_half_precision(True)
    log.info("model %s (preset %s, t_end %g) on %s", getattr(model, "weights_name", "?"), model.cfg.preset,
             model.cfg.t_end, next(model.parameters()).device)
    if shard:
        log.info("shard %d/%d", *shard)
    progress = not quiet and sys.stderr.isatty()

    def on_term(signum, frame):  # noqa: ARG001
        raise _Terminated()

    old = None
    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):  # not in the main thread
        pass
    try:
        if progress:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm(loggers=[logging.getLogger("nodis")]):
                summary = _predict(predict_paths, model, args, shard, progress)
        else:
            summary = _predict(predict_paths, model, args, shard, progress)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if not quiet:
        parts = [f"{summary.done} done"]
        if summary.skipped:
            parts.append(f"{summary.skipped} already complete")
        if summary.failed:
            from .predict import shard_dir

            where_err = (shard_dir(args.out, shard) if shard else Path(args.out)) / "errors.jsonl"
            parts.append(f"{len(summary.failed)} failed (reasons in {where_err})")
        where = f" (shard {shard[0]}/{shard[1]})" if shard else ""
        n = summary.total
        print(f"{n} image{'' if n == 1 else 's'}{where}: {', '.join(parts)} in {summary.seconds:.1f} s; "
              f"outputs in {args.out}")
    if group:  # torchrun: every rank has finished its shard before rank 0 merges
        import torch.distributed as dist

        dist.barrier()
        if dist.get_rank() == 0:
            summary.merged = _merge(args.out)
        dist.barrier()
        dist.destroy_process_group()
    if summary.merged is not None:
        code = _report_merge(summary.merged, quiet)
        if group:
            return EXIT_INPUTS_FAILED if summary.failed else EXIT_OK
        return code
    return EXIT_INPUTS_FAILED if summary.failed else EXIT_OK


def _torchrun_group() -> bool:
    """Under torchrun (``MASTER_ADDR`` set by it): join the process group (gloo, CPU only: it carries
    nothing but the final barrier) and return True; False without a launcher's rendezvous (then the
    last shard to finish merges, under a file lock)."""
    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        return False
    from datetime import timedelta

    import torch.distributed as dist

    if dist.is_initialized():
        return True
    try:  # a long timeout: ranks with fewer or faster images wait at the final barrier
        dist.init_process_group("gloo", timeout=timedelta(days=7))
    except (RuntimeError, ValueError) as e:
        log.warning("cannot join the torchrun process group (%s); the last shard to finish merges instead", e)
        return False
    return True


def _merge(out):
    from .predict import merge_shards

    return merge_shards(out)


def _report_merge(merged, quiet: bool) -> int:
    if not quiet:
        failed = f", {len(merged.failed)} failed (reasons in {Path(merged.out_dir) / 'errors.jsonl'})" \
            if merged.failed else ""
        files = ", ".join(["index.jsonl"] + [p.name for p in merged.run_outputs])
        print(f"merged {merged.shards} shards: {merged.total} images, {merged.done} done{failed}; "
              f"{files} in {merged.out_dir}")
    return EXIT_INPUTS_FAILED if merged.failed else EXIT_OK


def _predict(predict_paths, model, args, shard, progress):
    return predict_paths(model, args.inputs, args.out, mode=args.mode, boxes=args.boxes, times=args.times,
                         top_k=args.top_k, threshold=args.threshold, object_threshold=args.object_threshold,
                         formats=args.format,
                         distributions=args.distributions, strip_times=args.strip_times, resume=args.resume,
                         shard=shard, workers=args.workers, progress=progress, merge=getattr(args, "_merge", None))


# ------------------------------------------------------------------------------------------ convert
def add_convert(sub) -> None:
    p = sub.add_parser(
        "convert", parents=[_common()], help="convert an official NODIS / neural-motifs checkpoint to .safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Import an official NODIS release checkpoint (.tar holding {'epoch', 'state_dict'}) or a\n"
                    "neural-motifs detector (vg-24.tar) and write our safe format (safetensors + JSON header\n"
                    "with config and vocabulary). Files are read with torch.load(weights_only=True).",
        epilog="examples:\n"
               "  nodis convert vgrel-11-0.6543.tar weights/nodis-vg.safetensors\n"
               "  nodis convert vg-24.tar weights/vg-detector.safetensors --detector-only\n"
               "  nodis convert old.tar new.safetensors --trust-pickle    # only for files you trust\n")
    p.add_argument("source", metavar="OFFICIAL.tar", help="official checkpoint")
    p.add_argument("out", metavar="OUT.safetensors", help="output file")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow full unpickling when weights_only loading fails (runs code in the file!)")
    p.add_argument("--detector-only", action="store_true",
                   help="the file is a detector checkpoint (default: detected from its keys)")
    p.add_argument("--t-end", type=float, default=None, metavar="T",
                   help="ODE end time to store (default 1.5, the release's value)")
    p.add_argument("--preset", default="vg", choices=["vg", "demo"], help="model preset of the file (default vg)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a model config field (JSON value), e.g. --set frontend=gcnn --set image_size=592; repeatable")
    p.add_argument("--vocab", default=None, metavar="FILE",
                   help="vocabulary JSON {classes, predicates} (default: VG150)")
    p.set_defaults(func=run_convert)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["image_size=160", 'frontend="fc"']`` -> ``{"image_size": 160, "frontend": "fc"}`` (JSON values,
    bare words taken as strings)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def run_convert(args) -> int:
    from .config import preset
    from .errors import CheckpointError
    from .vocab import Vocabulary

    src, out = Path(args.source), Path(args.out)
    if not src.is_file():  # checked before torch is imported
        raise CheckpointError(f"{src}: no such file" + (" (it is a folder)" if src.is_dir() else ""))
    if out.is_dir():
        raise ExportError(f"{out} is a folder; name the output file, e.g. {out / (src.stem + '.safetensors')}")
    if out.suffix.lower() in (".tar", ".pth", ".pt", ".ckpt"):
        raise ConfigError(f"{out}: the output is written as safetensors; name it *.safetensors "
                          f"({out.suffix} files are read as official checkpoints)")
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise ConfigError("the output would overwrite the input checkpoint")
    overrides = parse_overrides(args.overrides)
    try:
        cfg = preset(args.preset, **overrides)
    except TypeError as e:
        raise ConfigError(f"--set: {e}") from None
    except NodisError as e:
        raise ConfigError(f"--set: {e}") from None
    vocab = None
    if args.vocab:
        try:
            vocab = Vocabulary.load(args.vocab)
        except (OSError, KeyError, ValueError, NodisError) as e:
            raise ConfigError(f"--vocab {args.vocab}: {e}") from None
    if vocab is not None and (vocab.num_classes != cfg.num_classes or vocab.num_predicates != cfg.num_predicates):
        try:
            cfg = cfg.replace(num_classes=vocab.num_classes, num_predicates=vocab.num_predicates)
        except NodisError as e:
            raise ConfigError(f"--vocab {args.vocab}: {e}") from None
    from .checkpoint import import_official, save_checkpoint

    model = import_official(src, cfg=cfg, vocab=vocab, trust_pickle=args.trust_pickle,
                            detector_only=True if args.detector_only else None, t_end=args.t_end)
    from datetime import datetime, timezone

    info = {"converted_from": src.name, "converted_with": f"nodis {__version__}",
            "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "detector_only": bool(args.detector_only) or None}
    info = {k: v for k, v in info.items() if v is not None}
    try:
        save_checkpoint(model, out, info=info)
    except OSError as e:
        raise ExportError(f"cannot write {out}: {e.strerror or e}") from None
    n = len(model.state_dict())
    if not getattr(args, "quiet", False):
        print(f"wrote {out}: {n} tensors, preset {model.cfg.preset}, vocabulary {model.vocab.name} "
              f"({model.vocab.num_classes - 1} object classes, {model.vocab.num_predicates - 1} predicates), "
              f"t_end {model.cfg.t_end:g}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------ info
def add_info(sub) -> None:
    p = sub.add_parser(
        "info", parents=[_common()], help="show what a checkpoint holds (preset, vocabulary, t_end, ODE, metrics)",
        description="Print the header of one of our .safetensors checkpoints (default: the shipped demo model "
                    "nodis-demo): its name (as outputs give it), preset, vocabulary sizes, t_end, ODE settings, "
                    "what it was trained on, its test metrics (metrics.json beside the file) and training info. "
                    "An official .tar is summarised (tensor count) without converting it.")
    p.add_argument("weights", nargs="?", default=None, metavar="WEIGHTS", help="checkpoint file")
    p.add_argument("--json", action="store_true", help="print the whole header as JSON")
    p.add_argument("--trust-pickle", action="store_true", help="as for convert (official .tar files only)")
    p.set_defaults(func=run_info)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _human_count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def _trained_on(header: dict[str, Any]) -> str:
    """What a checkpoint was trained on, from its header (training config, vocabulary, conversion info)."""
    from .assets import OFFICIAL_WEIGHTS_URL, WORLD_VOCAB_NAME

    info = header.get("info") if isinstance(header.get("info"), dict) else {}
    tc = info.get("train_config") if isinstance(info.get("train_config"), dict) else {}
    vocab = (header.get("vocab") or {}).get("name")
    if vocab == WORLD_VOCAB_NAME:
        world = (tc.get("extra") or {}).get("world") if isinstance(tc.get("extra"), dict) else None
        size = (f": {world[0]} train + {world[1]} test images" if isinstance(world, (list, tuple)) and len(world) == 2
                else "")
        seed = f", seed {tc['seed']}" if "seed" in tc else ""
        return (f"the procedural scene world (docs/world.md){size}{seed}. A demo model: it knows only that "
                f"world's drawings, its graphs of real photographs are not meaningful; official checkpoints: "
                f"{OFFICIAL_WEIGHTS_URL} (convert with `nodis convert`)")
    if info.get("converted_from"):
        return f"the original release's training (converted from {info['converted_from']})"
    if tc.get("data"):
        return f"{tc['data']} (vocabulary {vocab})"
    return f"not recorded in the file (vocabulary {vocab})"


def _metrics_rows(metrics: dict[str, Any], source: str | None) -> list[tuple[str, str]]:
    """``test R@K`` rows per mode from an evaluation result ``{mode: {"R@50": 0.64, ...}}``."""
    rows = []
    for mode in ("predcls", "sgcls", "sgdet"):
        m = metrics.get(mode)
        if not isinstance(m, dict) or "R@50" not in m:
            continue
        ks = [k for k in (20, 50, 100) if f"R@{k}" in m]
        parts = ["R@" + "/".join(map(str, ks)) + " " + " / ".join(f"{100 * m[f'R@{k}']:.1f}" for k in ks)]
        parts += [f"{name}@50 {100 * m[name + '@50']:.1f}" for name in ("ngR", "mR", "zsR") if f"{name}@50" in m]
        n = f" ({m['num_images']} {m.get('split', 'test')} images)" if "num_images" in m else ""
        rows.append((f"test {mode}", ", ".join(parts) + n))
    if rows and source:
        rows.append(("metrics from", source))
    return rows


def describe_header(header: dict[str, Any], path: Path | None = None, tensors: dict[str, int] | None = None,
                    test_metrics: dict[str, Any] | None = None, metrics_source: str | None = None) -> str:
    """A human-readable summary of a checkpoint header (``nodis info``); ``test_metrics``: an evaluation
    result (``metrics.json`` beside the checkpoint) shown as test R@K rows."""
    cfg = header.get("config", {})
    vocab = header.get("vocab", {})
    rows: list[tuple[str, str]] = []
    if path is not None:
        extra = ""
        if tensors is not None:
            extra = f", {tensors['count']} tensors, {_human_count(tensors['numel'])} values"
        rows.append(("file", f"{path} ({_human_bytes(path.stat().st_size)}{extra})"))
    # the name outputs give the model ("weights": ...) is the file's stem, e.g. nodis-demo
    rows.append(("name", path.stem if path is not None else str(header.get("weights_name", "?"))))
    if header.get("format"):
        rows.append(("format", str(header["format"])))
    rows.append(("preset", f"{cfg.get('preset')} (backbone {cfg.get('backbone')}, input {cfg.get('image_size')} px, "
                           f"state {2 * int(cfg.get('hidden_dim', 0))}-d)"))
    nc, npred = len(vocab.get("classes", [])), len(vocab.get("predicates", []))
    rows.append(("vocabulary", f"{vocab.get('name', '?')}: {max(0, nc - 1)} object classes, {max(0, npred - 1)} "
                               f"predicates (+ background)"))
    rows.append(("t_end", f"{cfg.get('t_end')}"))
    rows.append(("ODE", f"{cfg.get('solver')}, rtol {cfg.get('rtol')}, atol {cfg.get('atol')}, state policy "
                        f"{cfg.get('state_policy')}, O-ODE {'on' if cfg.get('object_ode', True) else 'off'}, "
                        f"P-ODE {'on' if cfg.get('predicate_ode', True) else 'off'}"))
    rows.append(("front-end", f"{cfg.get('frontend')}"))
    info = header.get("info") or {}
    rows.append(("trained on", _trained_on(header)))
    if test_metrics:
        rows += _metrics_rows(test_metrics, metrics_source)
    metrics = info.get("metrics") if isinstance(info, dict) else None
    if metrics:
        rows.append(("metrics", json.dumps(metrics, sort_keys=True)))
    rest = {k: v for k, v in info.items() if k != "metrics"} if isinstance(info, dict) else info
    if rest:
        for k, v in rest.items():
            rows.append((f"info.{k}", v if isinstance(v, str) else json.dumps(v, sort_keys=True)))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def run_info(args) -> int:
    from . import assets

    if args.weights == assets.RANDOM_WEIGHTS:
        raise ConfigError("--weights random is not a file: a randomly initialised model has nothing to describe")
    check_weights_arg(args.weights)
    path = Path(args.weights) if args.weights else assets.demo_weights()
    assert path is not None
    if path.suffix.lower() in (".tar", ".pth", ".pt", ".ckpt"):
        from .checkpoint import read_official

        state = read_official(path, trust_pickle=args.trust_pickle)
        det_only = not any(k.startswith(("detector.", "module.detector.")) for k in state)
        numel = sum(int(v.numel()) for v in state.values())
        if args.json:
            print(json.dumps({"official": True, "detector_only": det_only, "tensors": len(state), "values": numel},
                             indent=2))
        else:
            print(f"{path}: official {'neural-motifs detector' if det_only else 'NODIS'} checkpoint, "
                  f"{len(state)} tensors, {_human_count(numel)} values; convert it with "
                  f"`nodis convert {path} OUT.safetensors`")
        return EXIT_OK
    from .checkpoint import read_header

    header = read_header(path)
    metrics, why = assets.metrics_beside(path)
    if why:
        print(f"note: test metrics not shown: {why}", file=sys.stderr)
    if args.json:
        doc = dict(header, name=path.stem)
        if metrics:
            doc["test_metrics"] = metrics
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    tensors = None
    try:
        from safetensors import safe_open

        count, numel = 0, 0
        with safe_open(str(path), framework="pt") as f:
            for k in f.keys():
                shape = f.get_slice(k).get_shape()
                n = 1
                for s in shape:
                    n *= int(s)
                count += 1
                numel += n
        tensors = {"count": count, "numel": numel}
    except Exception:  # noqa: BLE001 - the header was readable; the counts are a nicety
        pass
    print(describe_header(header, path, tensors, metrics, str(path.with_name("metrics.json")) if metrics else None))
    return EXIT_OK


# ------------------------------------------------------------------------------------------ parser
def register(sub) -> None:
    """The subcommands of this module: predict, convert, info."""
    for add in (add_predict, add_convert, add_info):
        add(sub)


def _register_commands(sub) -> None:
    from . import commands

    commands.register_all(sub)


#: One ``register(subparsers)`` per module; order = order in ``nodis --help``.
REGISTRARS: list[Callable[[Any], None]] = [register, _register_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodis", description="NODIS neural-ODE scene graph generation: predict, convert, inspect, train, evaluate.",
        epilog="Run `nodis <command> --help` for the options of a command. Reference: docs/cli.md")
    parser.add_argument("--version", action="version", version=f"nodis {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more messages (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help="only errors; no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for reg in REGISTRARS:
        reg(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nodis`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = int(getattr(args, "verbose", 0) or 0)
    setup_logging(verbose, bool(getattr(args, "quiet", False)))
    try:
        return int(args.func(args) or 0)
    except NodisError as e:
        if verbose >= 2:
            traceback.print_exc()
        msg = str(e).strip().replace("\n", " ")
        print(f"nodis: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except _Terminated:
        print("nodis: terminated; finished images are complete (rerun with --resume to continue)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("\nnodis: interrupted; finished outputs are complete (predict: rerun with --resume to continue)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `nodis info | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_OK
    except MemoryError:
        if verbose >= 2:
            raise
        print("nodis: error: out of memory; use smaller inputs or a machine with more memory "
              "(-vv shows where it happened)", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the contract: one line and exit 2, the traceback only with -vv
        if verbose >= 2:
            raise
        if isinstance(e, OSError) and e.strerror:  # a file-system problem not checked beforehand
            where = f"{e.filename}: " if e.filename else ""
            print(f"nodis: error: {where}{e.strerror}", file=sys.stderr)
        else:
            text = " ".join(str(e).split())[:300]
            print(f"nodis: error: unexpected {type(e).__name__}{': ' + text if text else ''} (an input nodis "
                  "does not check yet, or a bug: rerun with -vv for the traceback and please report it)",
                  file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # python -m nodis.cli
    sys.exit(main())
