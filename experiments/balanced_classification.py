"""CE against DSB-CE on sample-balanced data across backbones: paper Sec. 5.2 Table 3 and App. H.4 Fig. 19.

    python experiments/balanced_classification.py --profile quick   # balanced Fashion-MNIST, 3 backbones, 5 seeds
    python experiments/balanced_classification.py --profile paper --data-dir DATA   # ImageNet + CIFAR-100, 8 nets

For every dataset, backbone and seed, CE and DSB-CE (the three-stage pool, alpha = 1 on balanced data, Sec. 3.4.1)
are trained with the same seed and evaluated on the same test set: top-1, per-class accuracy and the accuracy of the
head / middle / tail classes *by semantic scale* (App. H.4: terciles of S, the largest third the head; ImageNet
splits 333/333/334, the tail taking the extra class).

Which S splits the classes: the sample-space S (Alg. 1: 16 x 16 images, native channels, alpha = 1) of the training
set. It is a property of the data alone, so one split serves every backbone, seed and loss, as the paper's single
ImageNet split does in Fig. 19; a feature-space S would differ between the two models being compared and between
seeds. The split is written to scale_split.csv.

Reported: runs.csv (every run, per-class accuracy included), summary.csv (mean [95% t-interval] over seeds),
gains.csv (the paired difference DSB-CE minus CE per backbone with Table 3's Delta beside it, and tail gain minus
head gain). Claims, fixed before any run, threshold 0 (held when the 95% interval's lower bound is above 0): DSB-CE
beats CE on top-1 for each backbone (Table 3); the tail-by-S gain is positive (Fig. 19); the tail gains more than the
head (Fig. 19's reading, optional).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from semscale.data import subset_with_counts  # noqa: E402
from semscale.experiment import Experiment, paper_value, run_script  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.scales import SPLIT_NAMES, split_by_scale  # noqa: E402
from semscale.stats import gain_difference, interval_text, mean_interval, paired_difference  # noqa: E402

METHODS = {"CE": "none", "DSB-CE": "dsb"}
METRICS = ("top1",) + SPLIT_NAMES
# Our backbone names -> Table 3's rows (paper names as in experiments/paper_values/table_3.csv).
PAPER_ROWS = {"vgg16": "VGG16", "bninception": "BN-Inception", "resnet18": "ResNet-18", "resnet34": "ResNet-34",
              "resnet50": "ResNet-50", "densenet201": "DenseNet-201", "seresnet50": "SE-ResNet-50",
              "resnext101_32x8d": "ResNeXt-101"}


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    check_config(cfg, exp.name)
    rows, split_rows, record = [], [], {}
    for spec in cfg["datasets"]:
        train, test, kept = load_sets(exp, spec)
        scales, by_scale = scale_thirds(train, cfg["split_alpha"])
        split_rows += scale_split_rows(spec["label"], train, scales, by_scale)
        record[spec["label"]] = {"train": train.name, "test": test.name, "kept_indices": kept}
        for net in cfg["backbones"]:
            for seed in cfg["seeds"]:
                for method, weighting in METHODS.items():
                    settings = {**cfg["train"], **spec.get("train", {}), **net.get("train", {}),
                                "backbone": net["backbone"]}
                    trainer = exp.train(train, seed=seed, weighting=weighting, **settings)
                    metrics = exp.evaluate(trainer, test, groups={"by_scale": by_scale})
                    rows.append(run_row(spec["label"], net["label"], net["backbone"], seed, method, metrics))
    write_tables(exp, cfg, rows, split_rows)
    for claim in claims(rows):
        exp.claim_interval(claim["id"], claim["description"], claim["triple"], threshold=claim["threshold"],
                           paper=claim["paper"], digits=2, signed=True)
    figures(exp, rows)
    return exp.finish(datasets=record)


DATASET_KEYS = {"label", "name", "test_split", "per_class", "test_per_class", "subset_seed", "train"}
BACKBONE_KEYS = {"label", "backbone", "train"}


def check_config(cfg, where: str) -> None:
    """Each datasets / backbones entry has its required keys and no unknown one (a typo would be ignored)."""
    for section, known, required in (("datasets", DATASET_KEYS, ("label", "name")),
                                     ("backbones", BACKBONE_KEYS, ("label", "backbone"))):
        entries = cfg.get(section)
        if not isinstance(entries, list) or not entries:
            raise SystemExit(f"{where}.yaml: '{section}' must be a non-empty list of mappings")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise SystemExit(f"{where}.yaml: {section}.{index} must be a mapping, got {entry!r}")
            missing = [k for k in required if k not in entry]
            unknown = sorted(set(entry) - known)
            if missing or unknown:
                raise SystemExit(f"{where}.yaml: {section}.{index} ({entry.get('label', '?')}): "
                                 + (f"missing {missing}; " if missing else "")
                                 + (f"unknown {unknown}; " if unknown else "") + f"known keys: {sorted(known)}")


def load_sets(exp, spec):
    """The training and test sets of one dataset entry; `per_class` / `test_per_class` keep a seeded balanced
    subset (m images of every class), None keeps the whole split. Returns the kept training indices too."""
    train, test = exp.dataset(spec["name"], "train"), exp.dataset(spec["name"], spec.get("test_split", "test"))
    kept = None
    if spec.get("per_class"):
        m = int(spec["per_class"])
        kept = subset_with_counts(train.labels, [m] * train.num_classes, seed=spec.get("subset_seed", 0))
        train = train.subset(kept, name=f"{train.name}-balanced{m}")
        kept = kept.tolist()
    if spec.get("test_per_class"):
        m = int(spec["test_per_class"])
        test = test.subset(subset_with_counts(test.labels, [m] * test.num_classes, seed=spec.get("subset_seed", 0)),
                           name=f"{test.name}-balanced{m}")
    return train, test, kept


def scale_thirds(train, alpha: float):
    """(S per class, head / middle / tail per class): the training set's sample-space S (Alg. 1, Sec. 3.4.1) cut
    into terciles, the largest S the head (App. H.4; the tail takes the extra class when C is not a multiple of 3)."""
    scales = measure_dataset(train, alpha=alpha).scales.s
    return scales, split_by_scale(scales)


def scale_split_rows(label, train, scales, by_scale) -> list[dict]:
    counts = train.counts()
    return [{"dataset": label, "class": c, "name": train.classes[c], "N": int(counts[c]), "S": scales[c],
             "split_by_scale": name} for c, name in enumerate(by_scale)]


def run_row(dataset, label, backbone, seed, method, metrics) -> dict:
    """One run's numbers in accuracy points; per_class is every class's accuracy, space-separated, class order."""
    thirds = metrics["by_scale"]
    return {"dataset": dataset, "backbone": label, "arch": backbone, "seed": seed, "method": method,
            "top1": 100 * metrics["top1"], **{name: 100 * thirds[name] for name in SPLIT_NAMES},
            "macro_ap": metrics["macro_ap"],
            "per_class": " ".join(f"{100 * a:.2f}" for a in metrics["per_class"])}


def paired(rows, dataset, backbone, metric):
    """(CE values, DSB-CE values) of one metric, paired by seed."""
    by_seed = {(r["method"], r["seed"]): r[metric] for r in rows
               if r["dataset"] == dataset and r["backbone"] == backbone}
    seeds = sorted({seed for _, seed in by_seed})
    missing = [(m, s) for m in METHODS for s in seeds if (m, s) not in by_seed]
    if missing:
        raise ValueError(f"{dataset} / {backbone}: runs missing for (method, seed) {missing}; both losses need "
                         "every seed")
    return np.array([by_seed["CE", s] for s in seeds]), np.array([by_seed["DSB-CE", s] for s in seeds])


def seed_gains(rows, dataset, backbone, metric) -> np.ndarray:
    """DSB-CE minus CE of one metric, seed by seed."""
    ce, dsb = paired(rows, dataset, backbone, metric)
    return dsb - ce


def groups(rows):
    """(dataset, backbone label, arch) in the order the runs were made."""
    return list(dict.fromkeys((r["dataset"], r["backbone"], r["arch"]) for r in rows))


def table3_delta(dataset, arch):
    """Table 3's printed Delta for this dataset column and backbone row, or None when the backbone or the dataset
    is not one of the paper's."""
    if arch not in PAPER_ROWS or dataset not in ("ImageNet", "CIFAR-100"):
        return None
    return paper_value("Table 3", PAPER_ROWS[arch], f"{dataset} Delta")[0]


def claims(rows) -> list[dict]:
    """The claims fixed before any run (threshold 0 on the 95% interval's lower bound), per dataset and backbone:
    DSB-CE beats CE on top-1 (Table 3); the tail-by-S gain is positive (Fig. 19); the tail gains more than the head
    (Fig. 19's reading): the per-seed tail gain minus head gain, in -200..200 points."""
    found = []
    for dataset, label, arch in groups(rows):
        key = f"{dataset}_{label}".replace(" ", "_")
        delta = table3_delta(dataset, arch)
        top_ce, top_dsb = paired(rows, dataset, label, "top1")
        gains = {name: seed_gains(rows, dataset, label, name) for name in ("head", "tail")}
        found += [
            {"id": f"dsb_beats_ce_{key}", "threshold": 0.0, "triple": paired_difference(top_ce, top_dsb),
             "description": f"{dataset}, {label}: DSB-CE top-1 > CE top-1 (paired over seeds)",
             "paper": "" if delta is None else f"{delta:+.1f} (Table 3)"},
            {"id": f"tail_gain_{key}", "threshold": 0.0,
             "triple": paired_difference(*paired(rows, dataset, label, "tail")),
             "description": f"{dataset}, {label}: DSB-CE > CE on the tail third by semantic scale",
             "paper": "positive (Fig. 19)"},
            {"id": f"tail_beats_head_{key}", "threshold": 0.0,
             "triple": gain_difference(gains["tail"], gains["head"]),
             "description": f"{dataset}, {label}: tail-by-S gain > head-by-S gain",
             "paper": "tail gains most (Fig. 19)"}]
    return found


def write_tables(exp, cfg, rows, split_rows) -> None:
    exp.table("runs", rows, ["dataset", "backbone", "arch", "seed", "method", "top1", "head", "middle", "tail",
                             "macro_ap", "per_class"],
              title="CE and DSB-CE on balanced data, every backbone and seed (accuracy %)",
              note="head / middle / tail: thirds of the classes by the training set's sample-space semantic scale "
                   "S (alpha 1), the largest S the head (scale_split.csv); per_class: each class's test accuracy, "
                   "class order.")
    exp.table("scale_split", split_rows, ["dataset", "class", "name", "N", "S", "split_by_scale"],
              title="Head / middle / tail classes by semantic scale (App. H.4)",
              note=f"Terciles of the sample-space S (Alg. 1, alpha {cfg['split_alpha']}) of each training set.")
    summary, gains = [], []
    for dataset, label, arch in groups(rows):
        delta = table3_delta(dataset, arch)
        for metric in METRICS:
            ce, dsb = paired(rows, dataset, label, metric)
            diff = paired_difference(ce, dsb)
            summary.append({"dataset": dataset, "backbone": label, "metric": metric,
                            "CE": interval_text(mean_interval(ce, bounds=(0, 100)), 2),
                            "DSB-CE": interval_text(mean_interval(dsb, bounds=(0, 100)), 2), "seeds": len(ce)})
            gains.append({"dataset": dataset, "backbone": label, "paper row": PAPER_ROWS.get(arch, "none"),
                          "metric": metric, "DSB-CE minus CE": interval_text(diff, 2, signed=True),
                          "paper Delta": "" if delta is None or metric != "top1" else f"{delta:+.1f}"})
            if metric == "top1" and delta is not None:
                row = PAPER_ROWS[arch]
                for name, value in (("CE", np.mean(ce)), ("DSB-CE", np.mean(dsb)), ("Delta", diff[0])):
                    exp.paper_check(f"table3_{dataset}_{label}_{name}", f"{dataset} {row} {name} top-1 (%)", value,
                                    "Table 3", row, f"{dataset} {name}",
                                    "our data, training length or backbone differ from the paper's")
        head_gain, tail_gain = (seed_gains(rows, dataset, label, name) for name in ("head", "tail"))
        gains.append({"dataset": dataset, "backbone": label, "paper row": PAPER_ROWS.get(arch, "none"),
                      "metric": "tail gain minus head gain",
                      "DSB-CE minus CE": interval_text(gain_difference(tail_gain, head_gain), 2, True),
                      "paper Delta": ""})
    exp.table("summary", summary, ["dataset", "backbone", "metric", "CE", "DSB-CE", "seeds"],
              title="CE and DSB-CE on balanced data: mean [95% interval] over seeds (accuracy %)",
              note="Paper Table 3: DSB-CE beats CE by +0.7 to +1.5 top-1 on ImageNet and CIFAR-100 for 8 backbones.")
    exp.table("gains", gains, ["dataset", "backbone", "paper row", "metric", "DSB-CE minus CE", "paper Delta"],
              title="DSB-CE minus CE, paired by seed: mean [95% t-interval] (points)",
              note="paper Delta: Table 3's printed top-1 gain for the same backbone (row) and dataset (column); "
                   "empty where the backbone or the dataset is not one of the paper's.")


def figures(exp, rows) -> None:
    """Per-backbone top-1 gains, and Fig. 19-style head / middle / tail bars; error bars: 95% t-intervals over
    seeds (paired differences for the gains)."""
    frame = pd.DataFrame(rows)
    keys = ["dataset", "backbone", "seed"]
    wide = frame.pivot_table(index=keys, columns="method", values=list(METRICS)).reset_index()
    gains = pd.DataFrame({**{k: wide[k] for k in keys},
                          **{m: wide[m]["DSB-CE"] - wide[m]["CE"] for m in METRICS}})
    long = gains.melt(id_vars=keys, value_vars=list(METRICS), var_name="classes", value_name="gain")
    datasets = list(dict.fromkeys(frame["dataset"]))
    width = max(6.5, 1.5 * len(set(frame["backbone"])))
    fig, axes = plt.subplots(1, len(datasets), figsize=(width * len(datasets), 3.8), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        sns.barplot(long[long["dataset"] == dataset], x="backbone", y="gain", hue="classes", ax=axis,
                    errorbar=lambda v: mean_interval(v, bounds=(-100, 100))[1:], capsize=0.08)
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set(xlabel="backbone", ylabel="DSB-CE minus CE (points), mean and 95% interval",
                 title=f"{dataset}: gain of DSB-CE (top-1; thirds by semantic scale)")
        axis.legend(title="classes", fontsize=7)
    exp.figure("gains", fig)
    bars = frame.melt(id_vars=["dataset", "backbone", "seed", "method"], value_vars=list(SPLIT_NAMES),
                      var_name="classes (by S)", value_name="accuracy")
    nets = list(dict.fromkeys(frame["backbone"]))
    fig, axes = plt.subplots(len(datasets), len(nets), figsize=(4.0 * len(nets), 3.8 * len(datasets)),
                             squeeze=False)
    for row, dataset in enumerate(datasets):
        for axis, label in zip(axes[row], nets):
            sns.barplot(bars[(bars["dataset"] == dataset) & (bars["backbone"] == label)], x="classes (by S)",
                        y="accuracy", hue="method", ax=axis, capsize=0.1,
                        errorbar=lambda v: mean_interval(v, bounds=(0, 100))[1:])
            axis.set(xlabel="classes, thirds by semantic scale", ylabel="test accuracy (%)",
                     title=f"{dataset}, {label}")
            axis.legend(title="loss", fontsize=7)
    fig.suptitle("CE and DSB-CE by semantic-scale third (Fig. 19): mean and 95% interval over seeds")
    exp.figure("head_middle_tail", fig)


if __name__ == "__main__":
    sys.exit(run_script(main))
