"""Table 11 (paper App. H.3): every long-tailed method of the GLT benchmark with and without DSB under its three
protocols (Tang et al. 2022): CLT, GLT and ALT, accuracy and macro precision.

    python experiments/generalized_long_tail.py --profile quick    # attribute-wise long-tailed Fashion-MNIST, 5 seeds
    python experiments/generalized_long_tail.py --profile paper --data-dir DATA   # MSCOCO-GLT, ResNeXt-50

Quick: the benchmark is built from Fashion-MNIST by the rule of semscale/data/attribute_long_tail.py (attributes =
a seeded per-class k-means of the pixels; Train-GLT long-tailed over classes and attributes, Train-CBL over
attributes only; Test-CBL balanced over classes, Test-GBL over classes and attributes). Paper: MSCOCO-GLT's own
splits through semscale.data.glt.glt_protocol. The YAML lists the rows run (all 14 of Table 11; cRT+IFL and LWS+IFL
train stage 1 by IFL). Each row is trained once per seed and training set and evaluated on its
protocols' test sets. Tables: runs (every method, protocol, seed), summary (mean [95% t-interval] over seeds), dsb_pairs
(the paired DSB-X minus X difference per protocol and metric, Table 11's difference beside); a DSB gain is held when
the interval's lower bound is above 0.
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

from semscale.data.attribute_long_tail import PROTOCOLS, attribute_long_tailed_benchmark  # noqa: E402
from semscale.experiment import Experiment, paper_value, run_script  # noqa: E402
from semscale.stats import interval_text, mean_interval, paired_difference  # noqa: E402

TRAIN_KEYS = ("backbone", "width", "epochs", "batch_size", "optimizer", "lr", "momentum", "schedule", "lr_gamma",
              "alpha", "warmup_epochs", "weight_decay", "stem", "image_size", "augment", "amp", "pretrained")
METRICS = {"accuracy": "Accuracy", "precision": "Precision"}   # runs.csv column -> Table 11's column word
TABLE = "Table 11"


def macro_precision(confusion) -> float:
    """Mean over classes of TP / (samples predicted as the class), a class never predicted counting 0 (the
    confusion matrix's rows are true classes, columns predictions); scikit-learn's macro precision, zero_division 0."""
    confusion = np.asarray(confusion, dtype=np.float64)
    predicted = confusion.sum(0)
    per_class = np.divide(np.diag(confusion), predicted, out=np.zeros(len(predicted)), where=predicted > 0)
    return float(per_class.mean())


def protocol_plan(exp, cfg) -> list[tuple]:
    """[(training set, {protocol: test set})]: one training per set, evaluated on every protocol that uses it."""
    if cfg["dataset"] == "mscoco-glt":
        from semscale.data.glt import glt_protocol

        options = {"root": exp.args.data_dir, "remap": cfg.get("remap") or None}
        train, clt = glt_protocol("mscoco-glt", "CLT", **options)
        _, glt = glt_protocol("mscoco-glt", "GLT", **options)
        cbl_train, alt = glt_protocol("mscoco-glt", "ALT", **options)
        # Both annotation files name their splits alike; tell the Train-CBL file's apart in the tables.
        cbl_train.name, alt.name = "mscoco-glt-cbl_train", "mscoco-glt-cbl_test_bbl"
        return [(train, {"CLT": clt, "GLT": glt}), (cbl_train, {"ALT": alt})]
    sets = attribute_long_tailed_benchmark(exp.dataset(cfg["dataset"], "train"), exp.dataset(cfg["dataset"], "test"),
                                           **cfg["benchmark"])
    plan = {}
    for protocol, (train_name, test_name) in PROTOCOLS.items():
        plan.setdefault(train_name, (sets[train_name], {}))[1][protocol] = sets[test_name]
    return list(plan.values())


def pair_differences(rows: list[dict], pairs, protocols) -> list[dict]:
    """Per (base, DSB) pair, protocol and metric: DSB minus base paired by seed (semscale.stats.paired_difference).
    Pairs whose rows did not both run are skipped."""
    frame = pd.DataFrame(rows)
    result = []
    for base, dsb in pairs:
        for protocol in protocols:
            both = [frame[(frame.method == m) & (frame.protocol == protocol)].set_index("seed") for m in (base, dsb)]
            if any(part.empty for part in both):
                continue
            if sorted(both[0].index) != sorted(both[1].index):
                raise ValueError(f"{dsb} and {base} on {protocol}: seeds {sorted(both[1].index)} against "
                                 f"{sorted(both[0].index)}; a paired difference needs the same seeds")
            seeds = sorted(both[0].index)
            for metric in METRICS:
                triple = paired_difference(both[0].loc[seeds, metric], both[1].loc[seeds, metric])
                result.append({"base": base, "dsb": dsb, "protocol": protocol, "metric": metric, "triple": triple,
                               "seeds": len(seeds)})
    return result


def paper_difference(base: str, dsb: str, protocol: str, metric: str) -> float:
    """Table 11's DSB row minus its base row (the paper prints no gains for Table 11)."""
    column = f"{protocol} {METRICS[metric]}"
    return round(paper_value(TABLE, dsb, column)[0] - paper_value(TABLE, base, column)[0], 2)


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    plan = protocol_plan(exp, cfg)
    methods = cfg["methods"]
    common = {k: cfg[k] for k in TRAIN_KEYS if k in cfg}
    rows = []
    for seed in cfg["seeds"]:
        for method, settings in methods.items():
            for train, tests in plan:
                trainer = exp.train(train, seed=seed, **{**common, **settings})
                for protocol, test in tests.items():
                    metrics = exp.evaluate(trainer, test)
                    rows.append({"method": method, "protocol": protocol, "seed": seed, "train": train.name,
                                 "test": test.name, "accuracy": 100 * metrics["top1"],
                                 "precision": 100 * macro_precision(metrics["confusion"])})
    exp.table("runs", rows, ["method", "protocol", "seed", "train", "test", "accuracy", "precision"],
              title="Table 11's methods under CLT / GLT / ALT, every seed (accuracy and macro precision, %)",
              note=sets_note(plan) + " " + left_out_note(cfg))
    protocols = list(PROTOCOLS)
    summary_table(exp, rows, methods, protocols)
    differences = pair_differences(rows, cfg["pairs"], protocols)
    pair_rows = []
    for entry in differences:
        paper = paper_difference(entry["base"], entry["dsb"], entry["protocol"], entry["metric"])
        name = f"{entry['dsb']} minus {entry['base']}"
        pair_rows.append({"pair": name, "protocol": entry["protocol"], "metric": entry["metric"],
                          "ours": interval_text(entry["triple"], 2, signed=True), "paper": f"{paper:+.2f}",
                          "seeds": entry["seeds"]})
        exp.claim_interval(f"{entry['dsb']}_{entry['protocol']}_{entry['metric']}".replace("+", "_plus_"),
                           f"{name}, {entry['protocol']} {entry['metric']} > 0 (paired 95% interval above 0)",
                           entry["triple"], paper=f"{paper:+.2f}", digits=2, signed=True)
    exp.table("dsb_pairs", pair_rows, ["pair", "protocol", "metric", "ours", "paper", "seeds"],
              title="DSB-X minus X, paired by seed: mean [95% interval] (points); paper: Table 11's rows subtracted",
              note="Held when the interval's lower bound is above 0 (decided before any run).")
    paper_checks(exp, rows, protocols)
    figure(exp, rows, protocols)
    return exp.finish(rows_run=list(methods), rows_left_out=left_out_note(cfg),
                      training_sets={t.name: t.counts().tolist() for t, _ in plan})


def summary_table(exp, rows, methods, protocols) -> None:
    frame = pd.DataFrame(rows)
    summary = []
    for method in methods:
        entry = {"method": method}
        for protocol in protocols:
            part = frame[(frame.method == method) & (frame.protocol == protocol)]
            for metric, word in METRICS.items():
                entry[f"{protocol} {word}"] = interval_text(mean_interval(part[metric], bounds=(0, 100)), 2)
        summary.append(entry)
    columns = ["method"] + [f"{p} {w}" for p in protocols for w in METRICS.values()]
    exp.table("summary", summary, columns, title="Table 11: mean [95% t-interval] over seeds (%)",
              note="Accuracy = top-1; precision = macro precision (a class never predicted counts 0).")


def paper_checks(exp, rows, protocols) -> None:
    """Each measured cell against Table 11's (judged under the paper profile only)."""
    frame = pd.DataFrame(rows)
    for (method, protocol), part in frame.groupby(["method", "protocol"], sort=False):
        for metric, word in METRICS.items():
            exp.paper_check(f"table11_{method}_{protocol}_{metric}".replace("+", "_plus_"),
                            f"{method}, {protocol} {word} (%)", float(part[metric].mean()), TABLE, method,
                            f"{protocol} {word}", f"the {exp.profile} profile's benchmark is built from "
                            f"{exp.config['dataset']}, not MSCOCO-GLT, with another backbone")


def sets_note(plan) -> str:
    return "Training sets: " + "; ".join(f"{t.name} ({len(t)} images, per class {t.counts().tolist()}) for "
                                         f"{', '.join(tests)}" for t, tests in plan) + "."


def left_out_note(cfg) -> str:
    left_out = cfg.get("not_expressible") or []
    return f"Not expressible with the existing methods, left out: {', '.join(left_out)}." if left_out else \
        "Every row of Table 11 runs."


def figure(exp, rows, protocols) -> None:
    """Accuracy and precision of every row under each protocol: mean over seeds, error bars the 95% t-interval."""
    long = pd.DataFrame(rows).melt(id_vars=["method", "protocol", "seed"], value_vars=list(METRICS),
                                   var_name="metric", value_name="percent")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    for axis, metric in zip(axes, METRICS):
        sns.barplot(long[long.metric == metric], x="protocol", y="percent", hue="method", order=protocols, ax=axis,
                    errorbar=lambda v: mean_interval(v, bounds=(0, 100))[1:], capsize=0.05)
        axis.set(xlabel="protocol (CLT: Train-GLT / Test-CBL; GLT: Train-GLT / Test-GBL; ALT: Train-CBL / Test-GBL)",
                 ylabel=f"test {metric} (%), mean and 95% interval", title=f"{METRICS[metric]} by protocol")
        axis.legend(fontsize=6, ncol=2, title="method")
    exp.figure("protocols", fig)


if __name__ == "__main__":
    sys.exit(run_script(main))
