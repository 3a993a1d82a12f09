"""Per-class accuracy against N, E_n, W, S' and S: paper Table 1 (Sec. 3.4.1, App. D.2, H.1).

    python experiments/pearson.py --profile quick   # Fashion-MNIST-LT (imbalance 200) and Fashion-MNIST, 2 CNNs, 3 seeds

For a long-tailed and a sample-balanced training set, each backbone and seed: train (Adam, lr 0.01 x 0.98 a
epoch, batch 64, no augmentation), take per-class test accuracy and correlate it with each predictor. S is
computed in the sample space (Alg. 1, the same for every run) and in the feature space (64-d pooled features of the
run's own model on its training set). Pearson r is reported on Fisher's z: tanh of the mean z over seeds and a 95%
interval whose variance is 1/(C-3) (each r comes from C classes) plus the seed spread. N's r on balanced data is
undefined. Claims: on long-tailed data r(S, acc) > r(N, acc) and > r(E_n, acc), a dependent comparison on the same
classes (Steiger's test on z, paired over seeds); on balanced data r(S', acc) > 0 and r(S, acc) > 0. Each is held
only when its interval's lower bound is above 0. Paper checks compare the feature-space values with Table 1 (judged
under --profile paper).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.scales import effective_number  # noqa: E402
from semscale.sets import named_set  # noqa: E402
from semscale.stats import correlation_interval, dependent_difference_interval, interval_text, pearson  # noqa: E402,E501

BASELINES = ("N", "E_n")
TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma")


def predictors(table, counts, alphas, beta) -> dict:
    values = {"N": counts.astype(float), "E_n": effective_number(counts, beta),
              "W": table.with_alpha(1.0).w, "S'": table.scales.s_prime}
    for alpha in alphas:
        values[f"S alpha={alpha:g}"] = table.with_alpha(alpha).s
    return values


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    test = exp.dataset(cfg["dataset"], "test")
    runs, pairs = [], []
    sets = {"long-tailed": f"{cfg['dataset']}-lt", "balanced": cfg["dataset"]}
    for kind, spec in sets.items():
        train, _ = named_set(spec, cfg["imbalance"], exp.args.data_dir)
        counts = train.counts()
        sample_values = predictors(measure_dataset(train), counts, cfg["alphas"], cfg["beta"])
        for index, bb in enumerate(cfg["backbones"]):
            for seed in cfg["seeds"]:
                trainer = exp.train(train, backbone=bb["backbone"], width=bb["width"], seed=seed,
                                    **{k: cfg[k] for k in TRAIN_KEYS})
                result = exp.classifier_results(trainer, train, test, alpha=1.0)
                accuracy = result["metrics"]["per_class"]
                feature_values = predictors(result["feature_table"], counts, cfg["alphas"], cfg["beta"])
                for space, values in (("sample", sample_values), ("feature", feature_values)):
                    where = {"set": kind, "dataset": train.name, "backbone": bb["label"], "index": index,
                             "seed": seed, "space": space}
                    runs += [{**where, "predictor": name, "r": pearson(v, accuracy)} for name, v in values.items()]
                    claimed = values[f"S alpha={_claim_alpha(cfg, kind):g}"]
                    pairs += [{**where, "predictor": name, "r with S": pearson(claimed, values[name])}
                              for name in BASELINES]
    exp.table("runs", runs, ["set", "dataset", "backbone", "seed", "space", "predictor", "r"],
              title="Pearson r between per-class test accuracy and each predictor, every run")
    exp.table("predictor_correlations", pairs, ["set", "dataset", "backbone", "seed", "space", "predictor",
                                                "r with S"],
              title="Pearson r between the claimed S and each baseline predictor across classes (for Steiger's test)")
    summary = summarise(exp, runs, test.num_classes)
    for claim in claims(runs, pairs, cfg, test.num_classes):
        exp.claim_interval(**claim)
    exp.table("table1", summary, ["set", "backbone", "space", "predictor", "r (mean [95%])", "seeds", "paper"],
              title="Table 1 on our data: Pearson r (Fisher z: tanh of the mean z, 95% interval over classes and seeds)",
              note="paper: Table 1's value for the same cell on CIFAR-10(-LT) with ResNet-18 (first backbone) or "
                   "ResNet-34 (second). 'undefined': the predictor is constant (N, E_n on balanced data).")
    figure(exp, runs, test.num_classes)
    return exp.finish()


def figure(exp, runs, classes: int):
    """Table 1 as a figure: r per predictor (tanh of the mean Fisher z over seeds, bars: its 95% interval)."""
    data = pd.DataFrame(runs).dropna(subset=["r"])
    grid = sns.catplot(data, kind="point", x="predictor", y="r", hue="backbone", row="space", col="set",
                       estimator=lambda v: correlation_interval(v, classes)[0],
                       errorbar=lambda v: correlation_interval(v, classes)[1:], linestyle="none",
                       dodge=0.3 if data["backbone"].nunique() > 1 else False,
                       height=3.2, aspect=1.6)
    grid.set_axis_labels("predictor", "Pearson r with per-class accuracy")
    grid.set_titles("{col_name} set, {row_name} space")
    for axis in grid.axes.flat:
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_ylim(-1, 1)
        axis.tick_params(axis="x", labelrotation=30)
    grid.figure.suptitle(f"Table 1 on our data (95% intervals over {classes} classes and the seeds)", y=1.02)
    exp.figure("table1", grid.figure)


def summarise(exp, runs, classes: int) -> list[dict]:
    cfg = exp.config
    paper_rows = {("long-tailed", 0): "CIFAR-10-LT ResNet-18", ("long-tailed", 1): "CIFAR-10-LT ResNet-34",
                  ("balanced", 0): "CIFAR-10 ResNet-18", ("balanced", 1): "CIFAR-10 ResNet-34"}
    from semscale.experiment import paper_value

    summary, groups = [], {}
    for run in runs:
        groups.setdefault((run["set"], run["index"], run["backbone"], run["space"], run["predictor"]), []).append(run)
    for (kind, index, label, space, predictor), members in groups.items():
        rs = np.array([m["r"] for m in members])
        paper = paper_rows.get((kind, index))
        column = {"N": "N", "E_n": "E_n", "W": "W", "S'": "S'"}.get(predictor, predictor.replace("S alpha=", "S alpha="))
        paper_r = paper_value("Table 1", paper, column)[0] if paper else None
        interval = correlation_interval(rs, classes)
        summary.append({"set": kind, "backbone": label, "space": space, "predictor": predictor,
                        "r (mean [95%])": interval_text(interval), "seeds": len(rs),
                        "paper": "" if paper_r is None else paper_r})
        if space == "feature" and paper and predictor in ("N", "S'", f"S alpha={_claim_alpha(cfg, kind):g}"):
            exp.paper_check(f"table1_{kind}_{label}_{predictor}", f"r(accuracy, {predictor}), {kind}, {label}, "
                            "feature space", None if np.isnan(interval[0]) else interval[0],
                            "Table 1", paper, column, undefined_reason="the predictor is constant on balanced data, "
                            "so Pearson's r is undefined (the paper prints a number)")
    return summary


def claims(runs, pairs, cfg, classes: int) -> list[dict]:
    """Table 1's claims per backbone and space, as intervals for Experiment.claim_interval (threshold 0)."""
    def rs(kind, index, space, predictor, rows=runs, column="r"):
        chosen = sorted((r for r in rows if (r["set"], r["index"], r["space"], r["predictor"]) ==
                         (kind, index, space, predictor)), key=lambda r: r["seed"])
        return np.array([r[column] for r in chosen])

    out = []
    for kind, index, label, space in sorted({(r["set"], r["index"], r["backbone"], r["space"]) for r in runs}):
        alpha = _claim_alpha(cfg, kind)
        claimed = f"S alpha={alpha:g}"
        if kind == "long-tailed":
            for baseline in BASELINES:
                triple = dependent_difference_interval(rs(kind, index, space, claimed), rs(kind, index, space, baseline),
                                                       rs(kind, index, space, baseline, pairs, "r with S"), classes)
                out.append({"id": f"lt_S_beats_{baseline}_{label}_{space}", "triple": triple, "signed": True,
                            "description": f"long-tailed, {label}, {space} space: r(S, acc) > r({baseline}, acc), alpha "
                            f"{alpha:g} (z(r_S) - z(r_{baseline}), Steiger's dependent test over {classes} classes, "
                            "paired over seeds; 95% interval above 0)"})
        else:
            for name in ("S'", claimed):
                out.append({"id": f"balanced_{name}_positive_{label}_{space}",
                            "triple": correlation_interval(rs(kind, index, space, name), classes),
                            "description": f"balanced, {label}, {space} space: r({name}, acc) > 0 (Fisher z over "
                            f"{classes} classes and the seeds; 95% interval above 0)"})
    return out


def _claim_alpha(cfg, kind):
    return cfg["claim_alpha_long_tailed"] if kind == "long-tailed" else cfg["claim_alpha_balanced"]



if __name__ == "__main__":
    sys.exit(run_script(main))
