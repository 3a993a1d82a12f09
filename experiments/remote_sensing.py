"""Remote-sensing scene classification with and without DSB, paper App. D.7 (Figs. 14-15).

    python experiments/remote_sensing.py --profile paper --data-dir DIR   # DIR holds RSSCN7/ and NWPU-RESISC45/
    python experiments/remote_sensing.py --profile quick                  # no scene data embedded: all 'not run'

VGG-16, GoogLeNet and ResNet-34 trained with cross-entropy (X) and with DSB-CE on RSSCN7 (50% train) and
NWPU-RESISC45 (20% train), splits drawn per class with a fixed seed (semscale/data/remote_sensing.py). Reported:
test top-1 and per-class accuracy, the RSSCN7 confusion matrices of both models (Fig. 14, summed over seeds), and
the paired seed difference DSB minus plain with its 95% interval beside the paper's gain (Fig. 15 and D.7.3-D.7.4).
Claims, threshold 0: the top-1 gain of every backbone on both sets, and the per-class gains D.7.3 names (VGG-16 on
RSSCN7's industrial region and parking lot). Without the data (quick, smoke) the same tables and checks are written
'not run' with the reason.
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

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.stats import interval_text, mean_interval, paired_difference  # noqa: E402

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma", "lr_milestones", "weight_decay",
              "device", "amp", "augment", "image_size", "pretrained", "stem", "workers", "alpha", "warmup_epochs")
SUMMARY_COLUMNS = ["dataset", "backbone", "plain top-1", "DSB top-1", "DSB minus plain", "paper gain", "seeds"]


def seed_map(rows, dataset: str, backbone: str, method: str, key: str = "top1") -> dict:
    """{seed: value} of one dataset, backbone and method ('plain' or 'dsb')."""
    return {r["seed"]: r[key] for r in rows if (r["dataset"], r["backbone"], r["method"]) == (dataset, backbone, method)}


def dsb_gain(rows, dataset: str, backbone: str, key: str = "top1") -> tuple[float, float, float]:
    """DSB minus plain of `key` (accuracy points), paired by seed over the seeds both have."""
    plain, dsb = seed_map(rows, dataset, backbone, "plain", key), seed_map(rows, dataset, backbone, "dsb", key)
    seeds = sorted(set(plain) & set(dsb))
    if not seeds:
        raise ValueError(f"dsb_gain: no seed has both runs of {backbone} on {dataset}")
    return paired_difference([plain[s] for s in seeds], [dsb[s] for s in seeds])


def claim_list(cfg) -> list[dict]:
    """Every claim: (id, dataset, backbone, metric key, paper gain). Top-1 of each backbone on each set, then the
    per-class gains of `class_claims` (key 'acc <class>')."""
    out = [{"id": f"dsb_gain_top1_{d['name']}_{b['label']}".lower(), "dataset": d["name"], "backbone": b["label"],
            "key": "top1", "what": "top-1", "paper": cfg["paper_gains"].get(d["name"], {}).get(b["label"], "")}
           for d in cfg["datasets"] for b in cfg["backbones"]]
    out += [{"id": f"dsb_gain_{c['class']}_{c['dataset']}_{c['backbone']}".lower(), "dataset": c["dataset"],
             "backbone": c["backbone"], "key": f"acc {c['class']}", "what": f"accuracy of class {c['class']}",
             "paper": c["paper"]} for c in cfg["class_claims"]]
    return out


def state_claims(exp, rows, claims, not_run: str = "") -> None:
    for c in claims:
        description = f"{c['dataset']}, {c['backbone']}: DSB minus plain, {c['what']} > 0 (95% interval of the " \
                      "paired difference above 0)"
        paper = f"+{c['paper']}" if c["paper"] != "" else "positive (Figs. 14-15)"
        if not_run:
            exp.claim(c["id"], description, None, "not run", paper=paper, reason=not_run)
        else:
            exp.claim_interval(c["id"], description, dsb_gain(rows, c["dataset"], c["backbone"], c["key"]),
                               paper=paper, digits=2, signed=True)


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    claims = claim_list(cfg)
    if cfg.get("not_run"):
        return write_not_run(exp, cfg, claims, cfg["not_run"])
    rows, confusions, classes = [], {}, {}
    for spec in cfg["datasets"]:
        train = exp.dataset(spec["name"], "train", seed=cfg["split_seed"])
        test = exp.dataset(spec["name"], "test", seed=cfg["split_seed"])
        classes[spec["name"]] = list(train.classes)
        for seed in cfg["seeds"]:
            for backbone in cfg["backbones"]:
                for method, weighting in (("plain", "none"), ("dsb", "dsb")):
                    trainer = exp.train(train, seed=seed, backbone=backbone["backbone"], loss="ce",
                                        weighting=weighting, **{k: cfg[k] for k in TRAIN_KEYS if k in cfg})
                    metrics = exp.evaluate(trainer, test)
                    key = (spec["name"], backbone["label"], method)
                    confusions[key] = confusions.get(key, 0) + metrics["confusion"]
                    rows.append({"dataset": spec["name"], "backbone": backbone["label"], "method": method,
                                 "seed": seed, "top1": 100 * metrics["top1"],
                                 **{f"acc {c}": 100 * a for c, a in zip(train.classes, metrics["per_class"])}})
    exp.table("runs", rows, ["dataset", "backbone", "method", "seed", "top1"],
              title="Every run: test top-1 (%)", note="method plain: cross-entropy; dsb: DSB-CE.")
    exp.table("summary", [summary_row(rows, cfg, d["name"], b["label"]) for d in cfg["datasets"]
                          for b in cfg["backbones"]], SUMMARY_COLUMNS,
              title="DSB against plain training: top-1 (%), mean [95% interval] over seeds, gains paired by seed",
              note="paper gain: D.7.3 (RSSCN7: GoogLeNet +1, ResNet-34 +0.6) and D.7.4 (NWPU-RESISC45: VGG-16 "
                   "+1.8, GoogLeNet +1.6, ResNet-34 +1.2).")
    exp.table("per_class", per_class_rows(rows, cfg, classes), ["dataset", "backbone", "class", "plain", "DSB",
                                                                 "DSB minus plain"],
              title="Per-class test accuracy (%), mean [95% interval] over seeds")
    state_claims(exp, rows, claims)
    for spec in cfg["datasets"]:
        if spec.get("confusion_figure"):
            confusion_figure(exp, spec["name"], cfg["backbones"], confusions, classes[spec["name"]])
    accuracy_figure(exp, rows)
    return exp.finish(split_seed=cfg["split_seed"],
                      confusion={"|".join(k): v.tolist() for k, v in confusions.items()})


def summary_row(rows, cfg, dataset, backbone) -> dict:
    plain, dsb = seed_map(rows, dataset, backbone, "plain"), seed_map(rows, dataset, backbone, "dsb")
    return {"dataset": dataset, "backbone": backbone, "plain top-1": _ci(plain.values()), "DSB top-1": _ci(dsb.values()),
            "DSB minus plain": interval_text(dsb_gain(rows, dataset, backbone), 2, True),
            "paper gain": paper_gain(cfg, dataset, backbone), "seeds": len(plain)}


def paper_gain(cfg, dataset, backbone) -> str:
    """The top-1 gain D.7 prints for a backbone on a set, '' where it prints none."""
    value = cfg["paper_gains"].get(dataset, {}).get(backbone, "")
    return f"+{value}" if value != "" else ""


def per_class_rows(rows, cfg, classes) -> list[dict]:
    return [{"dataset": d["name"], "backbone": b["label"], "class": c,
             "plain": _ci(seed_map(rows, d["name"], b["label"], "plain", f"acc {c}").values()),
             "DSB": _ci(seed_map(rows, d["name"], b["label"], "dsb", f"acc {c}").values()),
             "DSB minus plain": interval_text(dsb_gain(rows, d["name"], b["label"], f"acc {c}"), 2, True)}
            for d in cfg["datasets"] for b in cfg["backbones"] for c in classes[d["name"]]]


def write_not_run(exp, cfg, claims, reason: str) -> int:
    """The paper profile's summary and checks, every value 'not run' with the reason (no scene data here)."""
    rows = [{"dataset": d["name"], "backbone": b["label"], **{c: "not run" for c in SUMMARY_COLUMNS[2:5]},
             "paper gain": paper_gain(cfg, d["name"], b["label"]), "seeds": "not run"}
            for d in cfg["datasets"] for b in cfg["backbones"]]
    exp.table("summary", rows, SUMMARY_COLUMNS, title="DSB against plain training on RSSCN7 / NWPU-RESISC45: not run",
              note=reason)
    state_claims(exp, [], claims, not_run=reason)
    return exp.finish(not_run=reason)


def confusion_figure(exp, dataset, backbones, confusions, classes):
    """Fig. 14: row-normalised confusion matrices (%, summed over seeds), plain left, DSB right, one row a backbone."""
    fig, axes = plt.subplots(len(backbones), 2, figsize=(9, 4 * len(backbones)), squeeze=False)
    for row, backbone in zip(axes, backbones):
        for axis, method in zip(row, ("plain", "dsb")):
            matrix = confusions[(dataset, backbone["label"], method)].astype(float)
            matrix = 100 * matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
            sns.heatmap(matrix, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, ax=axis, square=True,
                        xticklabels=classes, yticklabels=classes, cbar_kws={"label": "% of the true class"})
            axis.set(xlabel="predicted class", ylabel="true class",
                     title=f"{backbone['label']}{'-DSB' if method == 'dsb' else ''} on {dataset}")
    exp.figure(f"confusion_{dataset}", fig)


def accuracy_figure(exp, rows):
    """Fig. 15: top-1 of each backbone with and without DSB, mean over seeds, error bars the 95% interval."""
    frame = pd.DataFrame(rows)
    frame["model"] = np.where(frame["method"] == "dsb", "DSB-CE", "CE")
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.6), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        sns.barplot(frame[frame["dataset"] == dataset], x="backbone", y="top1", hue="model", ax=axis, capsize=0.1,
                    errorbar=lambda v: mean_interval(v, bounds=(0, 100))[1:])
        axis.set(xlabel="backbone", ylabel="test top-1 (%), mean and 95% interval", title=dataset)
        axis.legend(title="loss")
    exp.figure("accuracy", fig)


def _ci(values) -> str:
    return interval_text(mean_interval(list(values), bounds=(0, 100)), digits=2)


if __name__ == "__main__":
    sys.exit(run_script(main))
