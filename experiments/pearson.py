"""Per-class accuracy against N, E_n, W, S' and S: paper Table 1 (Sec. 3.4.1, App. D.2, H.1).

    python experiments/pearson.py --profile quick   # Fashion-MNIST-LT (imbalance 200) and Fashion-MNIST, 2 CNNs, 3 seeds

For a long-tailed and a sample-balanced training set, each backbone and seed: train (Adam, lr 0.01 x 0.98 a
epoch, batch 64, no augmentation), take per-class test accuracy and correlate it with each predictor. S is
computed in the sample space (Alg. 1, the same for every run) and in the feature space (64-d pooled features of the
run's own model on its training set). Pearson r is reported as mean and 95% interval over seeds; N's r on balanced
data is undefined. Paper checks compare the feature-space values with Table 1 (judged under --profile paper).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from semscale.experiment import Experiment  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.scales import effective_number  # noqa: E402
from semscale.sets import named_set  # noqa: E402
from semscale.stats import mean_interval, pearson  # noqa: E402

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
    runs = []
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
                    for name, v in values.items():
                        runs.append({"set": kind, "dataset": train.name, "backbone": bb["label"], "index": index,
                                     "seed": seed, "space": space, "predictor": name, "r": pearson(v, accuracy)})
    exp.table("runs", runs, ["set", "dataset", "backbone", "seed", "space", "predictor", "r"],
              title="Pearson r between per-class test accuracy and each predictor, every run")
    summary = summarise(exp, runs)
    exp.table("table1", summary, ["set", "backbone", "space", "predictor", "r (mean [95%])", "seeds", "paper"],
              title="Table 1 on our data: Pearson r (mean and 95% interval over seeds)",
              note="paper: Table 1's value for the same cell on CIFAR-10(-LT) with ResNet-18 (first backbone) or "
                   "ResNet-34 (second). 'undefined': the predictor is constant (N, E_n on balanced data).")
    return exp.finish()


def summarise(exp, runs) -> list[dict]:
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
        if np.isnan(rs).all():
            text = "undefined"
        else:
            mean, low, high = mean_interval(rs)
            text = f"{mean:.3f} [{low:.3f}, {high:.3f}]" if np.isfinite(low) else f"{mean:.3f}"
        summary.append({"set": kind, "backbone": label, "space": space, "predictor": predictor,
                        "r (mean [95%])": text, "seeds": len(rs), "paper": "" if paper_r is None else paper_r})
        if space == "feature" and paper and predictor in ("N", "S'", f"S alpha={_claim_alpha(cfg, kind):g}"):
            exp.paper_check(f"table1_{kind}_{label}_{predictor}", f"r(accuracy, {predictor}), {kind}, {label}, "
                            "feature space", float(np.nanmean(rs)) if not np.isnan(rs).all() else None,
                            "Table 1", paper, column, undefined_reason="the predictor is constant on balanced data, "
                            "so Pearson's r is undefined (the paper prints a number)")
    # Claims, per backbone and space.
    for (kind, index, label, space, predictor), members in groups.items():
        alpha = _claim_alpha(cfg, kind)
        if predictor != f"S alpha={alpha:g}":
            continue
        s = np.array([m["r"] for m in members])
        if kind == "long-tailed":
            for baseline in ("N", "E_n"):
                other = np.array([m["r"] for m in groups[(kind, index, label, space, baseline)]])
                mean, low, _ = mean_interval(s - other)
                held = bool(low > 0) if np.isfinite(low) else None
                exp.claim(f"lt_S_beats_{baseline}_{label}_{space}", f"long-tailed, {label}, {space} space: r(S, acc) "
                          f"> r({baseline}, acc), alpha {alpha:g} (95% interval of the difference above 0)", held,
                          f"{mean:+.3f} [{low:+.3f}]", reason=_reason(held, mean))
        else:
            for name, values in (("S'", np.array([m["r"] for m in groups[(kind, index, label, space, "S'")]])),
                                 (f"S alpha={alpha:g}", s)):
                mean, low, _ = mean_interval(values)
                held = bool(low > 0) if np.isfinite(low) else None
                exp.claim(f"balanced_{name}_positive_{label}_{space}", f"balanced, {label}, {space} space: "
                          f"r({name}, acc) > 0 (95% interval above 0)", held, f"{mean:.3f} [{low:.3f}]",
                          reason=_reason(held, mean))
    return summary


def _claim_alpha(cfg, kind):
    return cfg["claim_alpha_long_tailed"] if kind == "long-tailed" else cfg["claim_alpha_balanced"]


def _reason(held, mean):
    if held is None:
        return "one seed: no interval"
    return "" if held else ("mean in the claimed direction but the interval includes 0" if mean > 0 else
                            "the opposite of the claim on average")


if __name__ == "__main__":
    sys.exit(main())
