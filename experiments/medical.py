"""Fundus images: per-class AP on OIA-ODIR and OIA-ODIR-B with and without DSB, paper App. D.6 (Figs. 10-12).

    python experiments/medical.py --profile paper --data-dir DIR   # DIR holds OIA-ODIR/ as released (semscale datasets)
    python experiments/medical.py --profile quick                  # no OIA-ODIR is embedded: every check 'not run'

Fig. 11 (OIA-ODIR, ResNet-50): CE, BS, Focal and LDAM, each against its DSB version. Fig. 12 (OIA-ODIR-B): CE
against DSB-CE with several backbones. Each model is scored by AP, per class and macro (App. D.6.2, after Yang et
al. 2022), on the test split. For every pair: the paired seed difference DSB-X minus X of macro AP, and of the mean
AP of classes C, A and M (the classes D.6.3 / D.6.4 say DSB boosts most), with 95% t-intervals; each is a claim held
when the lower bound is above 0. The quick and smoke profiles have no fundus data: they write the same tables with
every cell and check 'not run' and the reason, rather than a stand-in that is not fundus data.
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

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "schedule", "weight_decay", "device", "amp",
              "augment", "image_size", "pretrained", "stem", "workers", "width")
SUMMARY_COLUMNS = ["dataset", "backbone", "pair", "X macro AP", "DSB-X macro AP", "DSB-X minus X (macro AP)",
                   "DSB-X minus X (C, A, M)", "seeds"]


def pairs(cfg) -> list[dict]:
    """Every compared pair: Fig. 11's losses on the imbalanced set, Fig. 12's backbones on the balanced set."""
    out = [{"dataset": cfg["imbalanced"]["dataset"], "backbone": cfg["imbalanced"]["backbone"], "loss": loss,
            "alpha": cfg["imbalanced"]["alpha"]} for loss in cfg["losses"]]
    out += [{"dataset": cfg["balanced"]["dataset"], "backbone": backbone, "loss": cfg["losses"][0],
             "alpha": cfg["balanced"]["alpha"]} for backbone in cfg["balanced"]["backbones"]]
    return out


def pair_name(pair) -> str:
    return f"{pair['dataset']}_{pair['backbone']['label']}_{pair['loss']['label']}".lower().replace(" ", "")


def seed_map(rows, pair, method: str, key: str) -> dict:
    """{seed: value of `key`} of one pair's runs with (method 'plain') or without ('dsb') re-weighting."""
    return {r["seed"]: r[key] for r in rows if r["pair"] == pair_name(pair) and r["method"] == method}


def focus_ap(per_class_ap, classes, focus) -> float:
    """Mean AP of the focus classes (C, A, M by default), the classes App. D.6 singles out."""
    return float(np.mean([per_class_ap[classes.index(c)] for c in focus]))


def dsb_gain(rows, pair, key: str) -> tuple[float, float, float]:
    """DSB-X minus X of `key` over the seeds both have, paired by seed, AP points (0-100)."""
    plain, dsb = seed_map(rows, pair, "plain", key), seed_map(rows, pair, "dsb", key)
    seeds = sorted(set(plain) & set(dsb))
    if not seeds:
        raise ValueError(f"dsb_gain: no seed has both runs of {pair_name(pair)}")
    return paired_difference([plain[s] for s in seeds], [dsb[s] for s in seeds])


def state_claims(exp, rows, all_pairs, not_run: str = "") -> None:
    """Two claims a pair, threshold 0: DSB-X minus X of macro AP, and of the mean AP of the focus classes."""
    for pair in all_pairs:
        label = f"{pair['dataset']}, {pair['backbone']['label']}: DSB-{pair['loss']['label']} minus " \
                f"{pair['loss']['label']}"
        for key, what in (("macro_ap", "macro AP"), ("focus_ap", "mean AP of classes C, A, M")):
            id = f"dsb_gain_{key}_{pair_name(pair)}"
            description = f"{label}, {what} > 0 (95% interval of the paired difference above 0)"
            if not_run:
                exp.claim(id, description, None, "not run", paper="positive (Figs. 11-12)", reason=not_run)
            else:
                exp.claim_interval(id, description, dsb_gain(rows, pair, key), paper="positive (Figs. 11-12)",
                                   digits=2, signed=True)


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    all_pairs = pairs(cfg)
    if cfg.get("not_run"):
        return write_not_run(exp, all_pairs, cfg["not_run"])
    options = cfg.get("data_options", {})
    splits = {name: (exp.dataset(name, "train", **options), exp.dataset(name, "test", **options))
              for name in dict.fromkeys(p["dataset"] for p in all_pairs)}
    rows = []
    for seed in cfg["seeds"]:
        for pair in all_pairs:
            train, test = splits[pair["dataset"]]
            classes = list(train.classes)
            for method, weighting in (("plain", "none"), ("dsb", "dsb")):
                trainer = exp.train(train, seed=seed, backbone=pair["backbone"]["backbone"],
                                    loss=pair["loss"]["loss"], loss_options=pair["loss"].get("options", {}),
                                    head=pair["loss"].get("head", "linear"), weighting=weighting,
                                    alpha=pair["alpha"], warmup_epochs=cfg["warmup_epochs"],
                                    **{k: cfg[k] for k in TRAIN_KEYS if k in cfg})
                metrics = exp.evaluate(trainer, test)
                ap = 100 * np.asarray(metrics["per_class_ap"])
                rows.append({"pair": pair_name(pair), "dataset": pair["dataset"],
                             "backbone": pair["backbone"]["label"], "loss": pair["loss"]["label"],
                             "method": method, "seed": seed, "top1": 100 * metrics["top1"],
                             "macro_ap": 100 * metrics["macro_ap"],
                             "focus_ap": focus_ap(ap, classes, cfg["focus_classes"]),
                             **{f"AP {c}": value for c, value in zip(classes, ap)}})
    exp.table("runs", rows, ["dataset", "backbone", "loss", "method", "seed", "top1", "macro_ap", "focus_ap"]
              + [f"AP {c}" for c in classes], title="Every run: test top-1, macro AP and per-class AP (%)",
              note="method plain: the loss X; dsb: DSB-X. focus_ap: mean AP of classes "
                   f"{', '.join(cfg['focus_classes'])}.")
    exp.table("summary", [summary_row(rows, pair) for pair in all_pairs], SUMMARY_COLUMNS,
              title="DSB-X against X: AP (%), mean [95% interval] over seeds, differences paired by seed")
    exp.table("per_class_ap", per_class_rows(rows, all_pairs, classes),
              ["dataset", "backbone", "pair", "class", "X", "DSB-X", "DSB-X minus X"],
              title="Figs. 11-12: per-class AP (%), mean [95% interval] over seeds")
    state_claims(exp, rows, all_pairs)
    figure(exp, rows, classes)
    return exp.finish(classes=classes, train_counts={n: t.counts().tolist() for n, (t, _) in splits.items()})


def summary_row(rows, pair) -> dict:
    plain, dsb = seed_map(rows, pair, "plain", "macro_ap"), seed_map(rows, pair, "dsb", "macro_ap")
    return {"dataset": pair["dataset"], "backbone": pair["backbone"]["label"],
            "pair": f"DSB-{pair['loss']['label']} vs {pair['loss']['label']}",
            "X macro AP": _ci(plain.values()), "DSB-X macro AP": _ci(dsb.values()),
            "DSB-X minus X (macro AP)": interval_text(dsb_gain(rows, pair, "macro_ap"), 2, True),
            "DSB-X minus X (C, A, M)": interval_text(dsb_gain(rows, pair, "focus_ap"), 2, True), "seeds": len(plain)}


def per_class_rows(rows, all_pairs, classes) -> list[dict]:
    out = []
    for pair in all_pairs:
        for c in classes:
            key = f"AP {c}"
            out.append({"dataset": pair["dataset"], "backbone": pair["backbone"]["label"],
                        "pair": f"DSB-{pair['loss']['label']} vs {pair['loss']['label']}", "class": c,
                        "X": _ci(seed_map(rows, pair, "plain", key).values()),
                        "DSB-X": _ci(seed_map(rows, pair, "dsb", key).values()),
                        "DSB-X minus X": interval_text(dsb_gain(rows, pair, key), 2, True)})
    return out


def write_not_run(exp, all_pairs, reason: str) -> int:
    """The tables and checks of the paper profile, every value 'not run' with the reason (no data here)."""
    exp.table("summary", [{"dataset": p["dataset"], "backbone": p["backbone"]["label"],
                           "pair": f"DSB-{p['loss']['label']} vs {p['loss']['label']}",
                           **{c: "not run" for c in SUMMARY_COLUMNS[3:]}} for p in all_pairs], SUMMARY_COLUMNS,
              title="DSB-X against X on OIA-ODIR / OIA-ODIR-B: not run", note=reason)
    state_claims(exp, [], all_pairs, not_run=reason)
    return exp.finish(not_run=reason)


def figure(exp, rows, classes):
    """Per-class AP of X and DSB-X for each pair (Figs. 11-12): mean over seeds, error bars the 95% interval."""
    frame = pd.DataFrame(rows)
    frame["pair"] = frame["dataset"] + ", " + frame["backbone"] + ", " + frame["loss"]
    frame["model"] = np.where(frame["method"] == "dsb", "DSB-X", "X")
    long = frame.melt(id_vars=["pair", "model", "seed"], value_vars=[f"AP {c}" for c in classes],
                      var_name="class", value_name="AP")
    long["class"] = long["class"].str.removeprefix("AP ")
    names = list(dict.fromkeys(long["pair"]))
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.6 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        sns.barplot(long[long["pair"] == name], x="class", y="AP", hue="model", ax=axis, capsize=0.1,
                    errorbar=lambda v: mean_interval(v, bounds=(0, 100))[1:])
        axis.set(xlabel="class (N D G C A H M)", ylabel="test AP (%), mean and 95% interval", title=name)
        axis.legend(title="loss X of the pair", fontsize=7)
    exp.figure("per_class_ap", fig)


def _ci(values) -> str:
    return interval_text(mean_interval(list(values), bounds=(0, 100)), digits=2)


if __name__ == "__main__":
    sys.exit(run_script(main))
