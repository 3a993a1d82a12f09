"""`semscale` command line: measure semantic scales, fetch data.

    semscale measure fashion-mnist                 # sample space (Alg. 1), training split
    semscale measure fashion-mnist --space feature # features of a small CNN trained on it (cached)
    semscale measure path/to/ImageFolder           # streamed; colour mode: the majority, or --mode RGB|L
    semscale measure imagenet-lt --split test --memory-budget 8GB --workers 8
    semscale datasets                              # every registered name, what it looks for, where, found?
    semscale measure features.npz                  # arrays 'features' (N, d) and 'labels' (N,)
    semscale train fashion-mnist --imbalance 100 --weighting dsb   # DSB-CE; torchrun -m semscale train ... too
    semscale fetch pointclouds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semscale", description="Semantic scales of classes "
                                     "(Ma et al., ICLR 2023, 'Delving into Semantic Scale Imbalance').")
    parser.add_argument("--version", action="version", version=f"semscale {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    m = commands.add_parser("measure", help="per-class N, E_n, S', W', S and rank; CSV, Markdown and a radar plot",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                            description="Measure the semantic scale of every class of a labelled set and write "
                            "scales.csv, scales.md, radar.png (paper Fig. 7) and record.json to --out.")
    m.add_argument("target", help="a registered dataset name (`semscale datasets` lists them: fashion-mnist, "
                   "cifar10, imagenet-lt, inaturalist2018, ...), a folder of images in ImageFolder layout (one "
                   "sub-folder per class), or an .npz/.npy file of features")
    m.add_argument("--space", choices=["sample", "feature"], default="sample",
                   help="sample: pixels resized to 16x16, native channels, [0,1] (Alg. 1); feature: 64-d "
                   "average-pooled features of a small CNN trained with cross-entropy on the set (App. F.2). "
                   "Feature files are always measured as given")
    m.add_argument("--split", default="train", help="which split of a named dataset (train, val, test, ... as "
                   "`semscale datasets` lists them)")
    m.add_argument("--alpha", type=float, default=1.0,
                   help="W = log2(alpha + W'); the paper uses 1 on sample-balanced and 2 on long-tailed data")
    m.add_argument("--scale", type=float, default=None,
                   help="s in Vol = 1/2 log2 det(I + s/m Zc Zc^T); default: the feature dimension d (Eq. 3)")
    m.add_argument("--beta", type=float, default=0.9999, help="beta of the effective number E_n")
    m.add_argument("--data-dir", default=None, help="folder searched first for datasets (else SEMSCALE_DATA, the "
                   "cache, Debian's /usr/share/datasets)")
    m.add_argument("--no-download", action="store_true", help="never try torchvision's download")
    m.add_argument("--labels", default=None, help="labels .npy when TARGET is an .npy of features")
    m.add_argument("--features-key", default="features", help="array name of the features in an .npz")
    m.add_argument("--labels-key", default="labels", help="array name of the labels in an .npz")
    m.add_argument("--image-size", type=int, default=32, help="--space feature: ImageFolder images are resized to "
                   "this and held in memory (sample space streams them at native size)")
    m.add_argument("--mode", choices=["RGB", "L"], default=None, help="decode every image in colour (RGB) or grey "
                   "(L); None: a folder's majority mode (announced), a named dataset's own")
    m.add_argument("--memory-budget", default="4GB", help="memory for the per-class d x d scatters (and one chunk "
                   "of samples); classes are measured in blocks, one pass each, when they do not fit")
    m.add_argument("--workers", type=int, default=None, help="DataLoader processes decoding image files "
                   "(None: up to 8)")
    m.add_argument("--image-root", default=None, help="imagenet-lt, places-lt, inaturalist2018: the folder the "
                   "listed image paths are relative to (None: found beside the lists or in the data folders)")
    m.add_argument("--prefix-map", action="append", default=None, metavar="OLD=NEW", help="imagenet-lt, places-lt: "
                   "rewrite listed paths starting with OLD ('*' matches one folder; '{class}' in NEW is the label's "
                   "class), e.g. 'val/*/=val/' for flat ILSVRC val images; None: tried as listed, flat, nested")
    m.add_argument("--epochs", type=int, default=3, help="--space feature: epochs of the small CNN")
    m.add_argument("--seed", type=int, default=0, help="--space feature: training seed")
    m.add_argument("--out", default=None, help="output folder (default results/measure/<target>-<space>-<split>)")
    m.add_argument("--top", type=int, default=3, help="how many weakest classes to name")
    m.add_argument("--no-plot", action="store_true", help="skip the radar plot")

    t = commands.add_parser("train", help="train with a loss and a weighting (DSB included); torchrun-ready",
                            description="Train a model on a dataset with any base loss and weighting (DSB-X = --loss X "
                            "--weighting dsb), checkpointing every epoch and resuming from --checkpoint. Every "
                            "TrainConfig field is an option; --config FILE reads them from YAML first. Runs "
                            "unchanged under torchrun: torchrun --nproc_per_node N -m semscale train ...")
    t.add_argument("target", help="a dataset name or an ImageFolder folder (the test split of a named dataset, or "
                   "--test-folder, is used for evaluation)")
    t.add_argument("--imbalance", type=float, default=None, help="train on an exponential long-tailed subset with "
                   "this max/min count ratio (default: the whole training split)")
    t.add_argument("--checkpoint", default=None, help="checkpoint file: written every epoch, resumed from")
    t.add_argument("--test-folder", default=None, help="ImageFolder for evaluation when TARGET is a folder")
    t.add_argument("--mode", choices=["RGB", "L"], default=None, help="decode the training and test images as "
                   "colour or grey (default: a folder's majority, a named dataset's own; one held in memory keeps it)")
    t.add_argument("--data-dir", default=None, help="folder searched first for datasets")
    t.add_argument("--out", default=None, help="metrics JSON (rank 0 only)")
    t.add_argument("--log", default=None, help="per-epoch CSV log (loss, lr, it/s, img/s, re-weighting share, test "
                   "metrics); default: beside --out or --checkpoint as .epochs.csv, else "
                   "results/train/<dataset>-<config key>/epochs.csv")
    t.add_argument("--eval-every", type=int, default=1, help="test metrics every N epochs in the log (0: only at "
                   "the end)")
    from .engine.cli_config import add_config_arguments
    add_config_arguments(t)

    d = commands.add_parser("datasets", help="list every registered dataset: the files it looks for, the folders "
                            "searched, whether found, and where it is published")
    d.add_argument("--data-dir", default=None, help="folder searched first (else SEMSCALE_DATA, the cache)")
    d.add_argument("--json", action="store_true", help="print the rows as JSON")

    f = commands.add_parser("fetch", help="download a dataset or the Stanford point clouds into the data folder")
    f.add_argument("what", choices=["fashion-mnist", "mnist", "cifar10", "cifar100", "pointclouds"])
    f.add_argument("--root", default=None, help="where datasets land (default: SEMSCALE_DATA or the cache)")
    f.add_argument("--force", action="store_true", help="fetch again even if present")
    return parser


# measure's options that apply to some targets only: (option, what it applies to, is it used for this target?);
# the target's kind is "npz", "npy" (feature files), "folder" or "named", and --space is "sample" or "feature".
IMAGES = ("folder", "named")
MEASURE_SCOPES = (
    ("labels", "an .npy of features", lambda kind, space: kind == "npy"),
    ("features_key", "an .npz of features", lambda kind, space: kind == "npz"),
    ("labels_key", "an .npz of features", lambda kind, space: kind == "npz"),
    ("space", "images", lambda kind, space: kind in IMAGES),
    ("mode", "images", lambda kind, space: kind in IMAGES),
    ("split", "a named dataset", lambda kind, space: kind == "named"),
    ("data_dir", "a named dataset", lambda kind, space: kind == "named"),
    ("no_download", "a named dataset", lambda kind, space: kind == "named"),
    ("image_root", "a named dataset read from list files", lambda kind, space: kind == "named"),
    ("prefix_map", "a named dataset read from list files", lambda kind, space: kind == "named"),
    ("image_size", "a folder in --space feature", lambda kind, space: kind == "folder" and space == "feature"),
    ("memory_budget", "images in --space sample", lambda kind, space: kind in IMAGES and space == "sample"),
    ("workers", "images in --space sample", lambda kind, space: kind in IMAGES and space == "sample"),
    ("epochs", "images in --space feature", lambda kind, space: kind in IMAGES and space == "feature"),
    ("seed", "images in --space feature", lambda kind, space: kind in IMAGES and space == "feature"),
)


def _check_measure_options(args) -> None:
    """An option given (not at its default) that this target would ignore is an error naming it, so that no output
    looks as if it had been used."""
    target = Path(args.target)
    kind = target.suffix[1:] if target.suffix in (".npz", ".npy") else "folder" if target.is_dir() else "named"
    what = f"{target.name} is a features file" if kind in ("npz", "npy") else (
        f"{target} is a {'folder' if kind == 'folder' else 'named dataset'} measured in --space {args.space}")
    defaults = build_parser().parse_args(["measure", args.target])
    for name, applies_to, used in MEASURE_SCOPES:
        if getattr(args, name) != getattr(defaults, name) and not used(kind, args.space):
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option}: {what}; {option} applies to {applies_to} only: leave it out")


def _load_target(args):
    """(table, label for the output folder)."""
    from .data import load_features_file
    from .measure import measure, measure_dataset

    _check_measure_options(args)
    target = Path(args.target)
    if target.suffix in (".npz", ".npy"):
        features, labels, names = load_features_file(target, args.labels, args.features_key, args.labels_key)
        table = measure(features, labels, class_names=names, alpha=args.alpha, scale=args.scale, beta=args.beta,
                        name=target.stem, space="feature")
        return table, f"{target.stem}-feature"
    dataset = _measured_dataset(args)
    label = f"{dataset.name}-{args.space}-{args.split}"
    if args.space == "sample":
        return measure_dataset(dataset, args.alpha, args.scale, args.beta, progress=True,
                               memory_budget=args.memory_budget, workers=args.workers), label
    if not hasattr(dataset, "images"):
        raise ValueError(f"--space feature trains a small CNN on images held in memory; {dataset.name} is streamed "
                         "from files: measure it in sample space, or give a features .npz of your own model")
    from .features import trained_feature_table
    return trained_feature_table(dataset, args), label


def _measured_dataset(args):
    """The dataset `measure` reads: a folder (streamed for the sample space) or a registered name."""
    from .data import load_dataset, load_image_folder

    if Path(args.target).is_dir():
        return load_image_folder(args.target, args.image_size, args.mode, in_memory=args.space == "feature")
    return load_dataset(args.target, args.split, root=args.data_dir, download=not args.no_download,
                        **_loader_options(args)).in_mode(args.mode)


def _loader_options(args) -> dict:
    """--image-root / --prefix-map for the loaders that take them; an error naming the option elsewhere."""
    import inspect

    from .data.registry import spec

    options = {}
    if args.image_root:
        options["image_root"] = args.image_root
    if args.prefix_map:
        if any("=" not in entry for entry in args.prefix_map):
            raise ValueError(f"--prefix-map: expected OLD=NEW, got {args.prefix_map}")
        options["prefix_map"] = dict(entry.split("=", 1) for entry in args.prefix_map)
    accepted = inspect.signature(spec(args.target).loader).parameters if options else {}
    for name in options:
        if name not in accepted:
            raise ValueError(f"--{name.replace('_', '-')}: dataset {args.target!r} does not take it")
    return options


def cmd_measure(args) -> int:
    from .measure import COLUMNS
    from .report import radar_figure, run_record, save_figure, write_json, write_table

    started = time.time()
    table, label = _load_target(args)
    out = Path(args.out) if args.out else Path("results") / "measure" / label.replace("/", "_")
    rows = table.rows()
    settings = table.settings()
    note = ("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())
            + ". S' = Vol / max Vol; W' = mean distance to other class centres, max-normalised; W = log2(alpha+W'); "
            "S = S' * W; rank 1 = largest S.")
    write_table(rows, COLUMNS, out / "scales", title=f"Semantic scales: {table.name} ({table.space} space)", note=note)
    if not args.no_plot:
        save_figure(radar_figure(table.class_names, table.scales.s, table.counts,
                                 f"{table.name}: S and N per class ({table.space} space)"), out / "radar.png")
    write_json(out / "record.json", run_record(command=" ".join(sys.argv), settings=settings,
                                                wall_seconds=round(time.time() - started, 2)))
    from .report import markdown_table
    print(markdown_table(rows, ["class", "name", "N", "S_prime", "W_prime", "S", "E_n", "rank", "split_by_scale"]))
    print(f"weakest classes by S: {', '.join(table.weakest(args.top))}")
    print(f"wrote {out}/scales.csv, scales.md{'' if args.no_plot else ', radar.png'}, record.json")
    return 0


def cmd_datasets(args) -> int:
    from .data import dataset_status
    from .data.paths import data_roots

    rows = dataset_status(args.data_dir)
    if args.json:
        import json
        print(json.dumps(rows, indent=1))
        return 0
    roots = ", ".join(str(r) for r in data_roots(args.data_dir))
    print(f"folders searched (--data-dir, SEMSCALE_DATA, the cache): {roots}\n")
    for row in rows:
        found = "FOUND " + row["found"] if row["found"] else "built in" if not row["looks for"] else "not found"
        print(f"{row['name']}  [{row['splits']}]  {found}")
        print(f"    {row['description']}")
        if row["looks for"]:
            print(f"    looks for: {row['looks for']}")
        if row["searched"] != roots:
            print(f"    searched: {row['searched']}")
        print(f"    published: {row['published']}")
    return 0


def cmd_fetch(args) -> int:
    if args.what == "pointclouds":
        from .data.pointclouds import fetch_point_clouds
        for name, path in fetch_point_clouds(force=args.force).items():
            print(f"{name}: {path}")
        return 0
    from .data import load_dataset
    for split in ("train", "test"):
        dataset = load_dataset(args.what, split, root=args.root, download=True)
        print(f"{args.what} {split}: {len(dataset.labels)} images from {dataset.source}")
    return 0


def cmd_train(args) -> int:
    from .engine.train_command import cmd_train as train  # here: the other commands need no torch

    return train(args)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"measure": cmd_measure, "train": cmd_train, "fetch": cmd_fetch,
                "datasets": cmd_datasets}[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        from .data.base import error_text

        print(f"semscale: error: {error_text(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
