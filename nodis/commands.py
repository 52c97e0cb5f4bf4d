"""CLI subcommands for data, training and evaluation: ``nodis world``, ``nodis train``, ``nodis eval``.

Each ``add_*`` function registers one subcommand on an argparse sub-parser collection and sets
``func`` to the function that runs it (returning an exit code).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _common():
    """The -v / -q options every subcommand takes (:func:`nodis.cli._common`)."""
    from .cli import _common as common

    return common()


def add_world(sub) -> None:
    p = sub.add_parser("world", parents=[_common()], help="generate the procedural scene world in the Visual Genome layout",
                       description="Render the procedural scene world (docs/world.md) into OUT in the VG-SGG "
                                   "layout (VG-SGG.h5, VG-SGG-dicts.json, image_data.json, VG_100K/).")
    p.add_argument("out", help="output folder")
    p.add_argument("--train", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--test", type=int, default=1000, help="test images (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="rendering processes (output does not depend on it)")
    p.set_defaults(func=run_world)


def run_world(args) -> int:
    from .data.world import generate_world

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        from .errors import ExportError

        raise ExportError(f"{out} is a file, not a folder; choose a folder for the world (it is created when missing)")
    quiet = bool(getattr(args, "quiet", False))
    path = generate_world(args.out, args.train, args.test, seed=args.seed, workers=args.workers, progress=not quiet)
    if not quiet:
        print(f"wrote {args.train} train + {args.test} test images to {path}")
    return 0


def add_train(sub) -> None:
    p = sub.add_parser("train", parents=[_common()], help="train the detector and relation stages",
                       description="Train NODIS: the detector stage, then the relation stage with the detector "
                                   "frozen. --preset demo reproduces the shipped demo model (it generates the "
                                   "scene world first when --data does not exist). Runs under torchrun for DDP.")
    p.add_argument("--preset", default="demo", choices=["demo", "vg"], help="training + model preset")
    p.add_argument("--data", default=None, help="dataset folder in the VG-SGG layout (default: data/world for demo)")
    p.add_argument("--out", default=None, help="run folder for checkpoints and logs (default: runs/<preset>)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--det-epochs", type=float, default=None, help="detector epochs (0 = skip the stage)")
    p.add_argument("--rel-epochs", type=float, default=None, help="relation epochs")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default=None)
    p.add_argument("--workers", type=int, default=None, help="data-loading processes")
    p.add_argument("--time-budget", type=float, default=None, dest="time_budget_min",
                   help="stop each stage after this many minutes (checkpoint kept)")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model-config field, repeatable (e.g. --model object_ode=false for the "
                        "Table 2 ablations; fields: `nodis info` of any checkpoint)")
    p.add_argument("--install", default=None, metavar="PATH",
                   help="also copy the final checkpoint here (e.g. weights/nodis-demo.safetensors)")
    p.set_defaults(func=run_train)


def parse_model_overrides(items: list[str]) -> dict:
    """``["object_ode=false", "t_end=1.0"]`` -> typed overrides of :class:`nodis.config.ModelConfig` fields."""
    import dataclasses

    from .config import ModelConfig
    from .errors import ConfigError

    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    defaults = ModelConfig()
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise ConfigError(f"--model {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        kind = type(getattr(defaults, key))
        raw = raw.strip()
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1", "yes", "on")
            elif kind in (int, float, str):
                value = kind(raw)
            else:
                value = json.loads(raw)
        except ValueError as e:
            raise ConfigError(f"--model {item!r}: {raw!r} is not a valid {kind.__name__}") from e
        out[key] = value
    return out


def run_train(args) -> int:
    import shutil

    from .train import train, train_preset

    tcfg = train_preset(args.preset, data=args.data, out=args.out, seed=args.seed, batch_size=args.batch_size,
                        det_epochs=args.det_epochs, rel_epochs=args.rel_epochs, optimizer=args.optimizer,
                        workers=args.workers, time_budget_min=args.time_budget_min,
                        model=parse_model_overrides(args.model) or None)
    if args.preset == "demo" and not (Path(tcfg.data) / "VG-SGG.h5").exists():
        from .data.world import generate_world

        n_train, n_test = tcfg.extra.get("world", (4000, 1000))
        log.warning("no dataset at %s: generating the scene world (%d train, %d test images)", tcfg.data, n_train, n_test)
        generate_world(tcfg.data, n_train, n_test, seed=tcfg.seed, workers=max(1, tcfg.workers), progress=not args.quiet)
    path = train(tcfg, progress=not args.quiet)
    if not args.quiet:
        print(f"model written to {path}")
    if args.install:
        Path(args.install).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.install)
        if not args.quiet:
            print(f"installed as {args.install}")
    return 0


def add_eval(sub) -> None:
    p = sub.add_parser("eval", parents=[_common()], help="evaluate a model or saved predictions (R@K, ngR@K, mR@K, zsR@K)",
                       description="Evaluate on a dataset in the VG-SGG layout and print a table like the "
                                   "paper's Table 1. Metric definitions: docs/evaluation.md.")
    p.add_argument("--data", required=True, help="dataset folder (VG-SGG layout)")
    p.add_argument("--weights", default=None, help="checkpoint (default: the shipped demo model)")
    p.add_argument("--predictions", default=None,
                   help="evaluate saved `nodis predict` output (its folder, a per-image JSON or a JSON Lines file) "
                        "instead of a model; every image of the split needs a prediction")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --predictions: count images without a prediction as zero recall (their number is "
                        "printed) instead of refusing")
    p.add_argument("--mode", default=None,
                   help="predcls, sgcls, sgdet or all (default: all for a model; the mode the predictions record "
                        "for --predictions)")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--num-val-im", type=int, default=0, help="size of the val split carved from train")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--times", default=None, help="also report R@K at these ODE times, e.g. 0:2.5:0.5")
    p.add_argument("--frame", default="release", choices=["release", "image"],
                   help="box frame for matching (model evaluation): release = as the original release, at long "
                        "side 1024 with its ground-truth decoding (default); image = original-image pixels")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.set_defaults(func=run_eval)


def run_eval(args) -> int:
    # options and paths are checked before anything heavy; --predictions never imports torch
    from .errors import ConfigError, DatasetError, ExportError, InputError
    from .evaluate import evaluate_model, evaluate_predictions, results_table
    from .predict import parse_times

    mode = args.mode if args.mode is not None else (None if args.predictions else "all")
    modes = ["predcls", "sgcls", "sgdet"] if mode == "all" else [mode]
    for m in modes:
        if m is not None and m not in ("predcls", "sgcls", "sgdet"):
            raise InputError(f"unknown mode {m!r}; choose predcls, sgcls, sgdet or all")
    if args.predictions and mode == "all":
        raise ConfigError("--mode all: saved predictions hold one mode (the one they record); leave --mode out")
    if args.allow_missing and not args.predictions:
        raise ConfigError("--allow-missing is only used with --predictions")
    if not Path(args.data).is_dir():
        raise DatasetError(f"--data {args.data}: no such dataset folder (VG-SGG layout: VG-SGG.h5, "
                           "VG-SGG-dicts.json, image_data.json, VG_100K/)")
    if args.json and Path(args.json).is_dir():
        raise ExportError(f"--json {args.json} is a folder; name a file")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    results = {}
    checkpoint = None
    if args.predictions:
        given = [o for o, v in (("--weights", args.weights), ("--times", args.times), ("--device", args.device)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)}: only used when evaluating a model, not --predictions")
        if not Path(args.predictions).exists():
            raise InputError(f"--predictions {args.predictions}: no such file or folder")
        res = evaluate_predictions(args.predictions, args.data, mode, split=args.split, num_val_im=args.num_val_im,
                                   allow_missing=args.allow_missing)
        results[res["mode"]] = res
    else:
        from . import resolve_device
        from .cli import check_weights_arg, load_model_for_cli

        times = parse_times(args.times)
        check_weights_arg(args.weights)
        if args.device is not None:
            resolve_device(args.device)
        model = load_model_for_cli(args.weights, args.device, quiet=args.quiet)
        checkpoint = _checkpoint_record(args.weights)
        for m in modes:
            results[m] = evaluate_model(model, args.data, m, split=args.split, limit=args.limit,
                                        num_val_im=args.num_val_im, times=times, progress=not args.quiet,
                                        frame=args.frame)
    print(results_table(results))
    for res in results.values():
        n, m = res.get("matched_images"), res.get("missing_images")
        if n is None:
            continue
        line = f"predictions: {n} images evaluated"
        if m:
            line += f", {m} without a prediction counted as zero recall (--allow-missing)"
        if res.get("ignored_images"):
            line += f", {res['ignored_images']} outside the {res['split']} split left out"
        print(line)
    if args.json:
        from .export import atomic_write_text

        doc = dict(results)
        if checkpoint is not None:
            doc["checkpoint"] = checkpoint  # ties metrics.json to the file it measured (nodis info checks it)
        atomic_write_text(args.json, json.dumps(doc, indent=2))
    return 0


def _checkpoint_record(weights: str | None) -> dict | None:
    """File name and sha256 of the checkpoint being evaluated (None for ``--weights random``)."""
    from . import assets

    if weights == assets.RANDOM_WEIGHTS:
        return None
    path = Path(weights) if weights else assets.demo_weights()
    return assets.checkpoint_record(path) if path is not None and Path(path).is_file() else None


def register_all(sub) -> None:
    """Register world, train and eval on ``sub`` (an ``argparse`` sub-parser collection)."""
    for add in (add_world, add_train, add_eval):
        add(sub)
