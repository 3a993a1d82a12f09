"""DSB-NSM and DSB-ST against NormSoftmax, SoftTriple and their CB- variants on unseen test classes: paper Sec. 5.3
(Tables 4 and 5) and App. D.5 (D.5.1, D.5.2: Tables 8 and 9).

    python experiments/metric_learning.py --profile quick    # Fashion-MNIST classes 0-4 train / 5-9 test, + LT
    python experiments/metric_learning.py --profile paper    # CUB, Cars196, CIFAR-100(-LT), Cars196-LT, Mini-ImageNet

Deep metric learning trains an embedding (64- or 512-d, TrainConfig.embedding_dim) on the training classes and tests
on classes never seen in training: Recall@K (cosine, query excluded) and NMI (k-means, k = test classes) in percent.
Every setting (data / imbalance, dim, loss, weighting) is trained with the same seeds; each judged pair (DSB-X minus X,
DSB-X minus CB-X, on R@1 and NMI) is the paired seed difference with its 95% t-interval, next to the paper's printed
difference. The claims, fixed before any run (threshold 0): DSB-X beats X on R@1 and on NMI in every setting; DSB-X
beats CB-X on the long-tailed training classes; where a setting trains Table 4's Circle baseline (512-d), DSB-ST beats
it on R@1 and R@2 (the paper states this on Cars196). CB on balanced classes equals the plain loss (equal counts give
equal weights), so it is trained only where the training classes are long-tailed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from semscale.data.builders import subset_with_counts  # noqa: E402
from semscale.data.metric_splits import class_range_split, long_tailed_train  # noqa: E402
from semscale.experiment import Experiment, paper_value, run_script  # noqa: E402
from semscale.stats import interval_text, judge, mean_interval, paired_difference  # noqa: E402

LABELS = {("nsm", "none"): "NormSoftmax", ("nsm", "cb"): "CB-NSM", ("nsm", "dsb"): "DSB-NSM",
          ("st", "none"): "SoftTriple", ("st", "cb"): "CB-ST", ("st", "dsb"): "DSB-ST", ("circle", "none"): "Circle"}
METRICS = {"r1": "R@1", "r2": "R@2", "r4": "R@4", "nmi": "NMI"}
JUDGED_METRICS = ("r1", "nmi")
# Table 4's text: "DSB-ST with 512 embeddings ... R@1 and R@2 exceed the Circle loss by 2.2% and 1.5%" (Cars196).
CIRCLE_METRICS = ("r1", "r2")
TRAIN_KEYS = ("backbone", "width", "epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma",
              "weight_decay", "warmup_epochs", "device", "amp", "augment", "image_size", "pretrained", "stem",
              "workers", "threads", "loss_options")


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    rows, splits = [], {}
    for name in cfg["run"]:
        setting = cfg["settings"][name]
        train, test = load_split(exp, name, setting)
        splits[name] = {"train": train.name, "test": test.name, "train_counts": train.counts().tolist(),
                        "test_classes": test.num_classes}
        for seed in cfg["seeds"]:
            for dim in setting["dims"]:
                for loss in cfg["losses"]:
                    for weighting in setting["weightings"]:
                        rows.append(run_one(exp, cfg, setting, name, train, test, seed, dim, loss, weighting))
            for dim in circle_dims(setting):  # Table 4's Circle baseline (no DSB variant in the paper)
                rows.append(run_one(exp, cfg, setting, name, train, test, seed, dim, "circle", "none"))
    exp.table("runs", rows, ["setting", "dim", "loss", "weighting", "method", "seed", "r1", "r2", "r4", "nmi"],
              title="Recall@K and NMI (%) on the unseen test classes, every run",
              note="Splits (train classes -> test classes, training counts per class): " +
                   "; ".join(f"{n}: {s['train']} {s['train_counts']} -> {s['test']} ({s['test_classes']} classes)"
                             for n, s in splits.items()))
    exp.table("summary", summary_rows(rows), ["setting", "dim", "method", "seeds"] + list(METRICS),
              title="Mean [95% interval] over seeds (%)")
    pairs = judged_pairs(rows, cfg) + circle_pairs(rows, cfg)
    for pair in pairs:
        spec = paper_spec(cfg["settings"][pair["setting"]], pair)
        pair["paper"], gain_row = paper_difference(spec, pair)
        record_checks(exp, spec, pair, gain_row)
    exp.table("pairs", [pair_row(p) for p in pairs],
              ["setting", "dim", "pair", "metric", "difference", "paper", "verdict", "seeds"],
              title="Every judged pair: paired seed difference (points) with its 95% t-interval, the paper's beside",
              note="Rule fixed before any run: held when the interval's lower bound is above 0. Paper: the printed "
                   "gain where the table prints one, else the difference of the two printed rows.")
    figure(exp, pairs)
    return exp.finish(splits=splits)


# ------------------------------------------------------------------ data

def load_split(exp, name: str, setting: dict):
    """(train, test) of one setting. `classes_train` set: an embedded dataset split by class range (train split's
    first k classes / test split's remaining classes, relabelled); else a registered metric split (its own
    classes). `per_class` / `test_per_class`: seeded balanced subsets; `imbalance`: Fig. 8's profile on the training
    classes with N = per_class (or the largest class)."""
    options = dict(setting.get("options") or {})
    if setting.get("classes_train"):
        k = setting["classes_train"]
        train = class_range_split(exp.dataset(setting["dataset"], "train", **options), k, "train")
        test = class_range_split(exp.dataset(setting["dataset"], "test", **options), k, "test")
    else:
        train = exp.dataset(setting["dataset"], "train", **options)
        test = exp.dataset(setting["dataset"], "test")
    seed = setting.get("subset_seed", 0)
    if setting.get("per_class") and not setting.get("imbalance"):
        train = balanced_subset(train, setting["per_class"], seed, f"{train.name}-{setting['per_class']}pc")
    if setting.get("imbalance"):
        train = long_tailed_train(train, setting["imbalance"], seed, setting.get("per_class"),
                                  name=f"{train.name}-lt{setting['imbalance']:g}")
    if setting.get("test_per_class"):
        test = balanced_subset(test, setting["test_per_class"], seed, f"{test.name}-{setting['test_per_class']}pc")
    check_disjoint(train, test, name)
    return train, test


def balanced_subset(data, per_class: int, seed: int, name: str):
    return data.subset(subset_with_counts(data.labels, [per_class] * data.num_classes, seed), name=name)


def check_disjoint(train, test, where: str) -> None:
    """Metric learning tests on unseen classes: no class name may be in both splits."""
    shared = sorted(set(map(str, train.classes)) & set(map(str, test.classes)))
    if shared:
        raise ValueError(f"setting {where}: classes {shared[:5]} are in both the training and the test split; "
                         "metric learning tests on unseen classes")


# ------------------------------------------------------------------ training

def run_one(exp, cfg, setting, name, train, test, seed, dim, loss, weighting) -> dict:
    settings = {k: cfg[k] for k in TRAIN_KEYS if k in cfg}
    options = dict(settings.pop("loss_options", {}) or {}).get(loss, {})
    weighting_options = (cfg.get("weighting_options") or {}).get(weighting, {})
    trainer = exp.train(train, seed=seed, task="metric", loss=loss, loss_options=options, weighting=weighting,
                        weighting_options=weighting_options, alpha=setting["alpha"], embedding_dim=dim, **settings)
    metrics = exp.evaluate(trainer, test)
    recall = metrics["recall_at_k"]
    return {"setting": name, "dim": dim, "loss": loss, "weighting": weighting, "method": LABELS[loss, weighting],
            "seed": seed, "r1": 100 * recall[1], "r2": 100 * recall[2], "r4": 100 * recall[4],
            "nmi": 100 * metrics["nmi"]}


# ------------------------------------------------------------------ claims (pure: tests call these)

def long_tailed(setting: dict) -> bool:
    """Long-tailed training classes: drawn here (imbalance) or by the loader (long_tailed: true)."""
    return bool(setting.get("imbalance") or setting.get("long_tailed"))


def pairs_of(weightings, imbalanced: bool) -> list[tuple[str, str]]:
    """(baseline, method) weightings judged in a setting: DSB-X against X everywhere, against CB-X where the
    training classes are long-tailed and CB was trained."""
    pairs = [("none", "dsb")] if {"none", "dsb"} <= set(weightings) else []
    if imbalanced and {"cb", "dsb"} <= set(weightings):
        pairs.append(("cb", "dsb"))
    return pairs


def judged_pairs(rows: list[dict], cfg: dict) -> list[dict]:
    """One record per (setting, dim, loss, pair, metric): the paired seed difference method minus baseline."""
    records = []
    for name in cfg["run"]:
        setting = cfg["settings"][name]
        for dim in setting["dims"]:
            for loss in cfg["losses"]:
                for base, method in pairs_of(setting["weightings"], long_tailed(setting)):
                    left, right = seed_values(rows, name, dim, loss, base), seed_values(rows, name, dim, loss, method)
                    seeds = sorted(set(left) & set(right))
                    for metric in JUDGED_METRICS:
                        triple = paired_difference([left[s][metric] for s in seeds], [right[s][metric] for s in seeds])
                        records.append({"setting": name, "dim": dim, "loss": loss, "base": LABELS[loss, base],
                                        "method": LABELS[loss, method], "metric": metric, "triple": triple,
                                        "seeds": len(seeds), "verdict": judge(triple[1], 0.0)[0]})
    return records


def circle_dims(setting: dict) -> list:
    return list((setting.get("circle") or {}).get("dims", []))


def circle_pairs(rows: list[dict], cfg: dict) -> list[dict]:
    """DSB-ST minus Circle at each Circle dim, on R@1 and R@2 (Table 4's text), paired over seeds."""
    records = []
    for name in cfg["run"]:
        for dim in circle_dims(cfg["settings"][name]):
            left, right = seed_values(rows, name, dim, "circle", "none"), seed_values(rows, name, dim, "st", "dsb")
            seeds = sorted(set(left) & set(right))
            for metric in CIRCLE_METRICS:
                triple = paired_difference([left[s][metric] for s in seeds], [right[s][metric] for s in seeds])
                records.append({"setting": name, "dim": dim, "loss": "st", "base": "Circle", "method": "DSB-ST",
                                "metric": metric, "triple": triple, "seeds": len(seeds),
                                "verdict": judge(triple[1], 0.0)[0]})
    return records


def paper_spec(setting: dict, pair: dict) -> dict | None:
    """The setting's paper cells; the Circle comparison may name its own column (Table 4 states it on Cars196)."""
    spec = setting.get("paper")
    column = (setting.get("circle") or {}).get("paper_column")
    if spec and pair["base"] == "Circle" and column:
        return {**spec, "column": column}
    return spec


def seed_values(rows, setting, dim, loss, weighting) -> dict:
    return {r["seed"]: r for r in rows if (r["setting"], r["dim"], r["loss"], r["weighting"]) ==
            (setting, dim, loss, weighting)}


def paper_difference(paper: dict | None, pair: dict) -> tuple[float | None, str | None]:
    """(the paper's printed method-minus-baseline difference, the gain row it is printed in or None): the table's
    gain row when it prints one ("<method row> minus <baseline>"), else the difference of its two rows; (None,
    None) when the paper has no such cell (or experiments/paper_values is not merged yet)."""
    if not paper:
        return None, None
    row, column = paper["row"], f"{paper['column']} {METRICS[pair['metric']]}"
    method_row = row.format(dim=pair["dim"], method=pair["method"])
    base_row = row.format(dim=pair["dim"], method=pair["base"])
    try:
        return paper_value(paper["table"], f"{method_row} minus {pair['base']}", column)[0], \
            f"{method_row} minus {pair['base']}"
    except (KeyError, FileNotFoundError):
        pass
    try:
        return paper_value(paper["table"], method_row, column)[0] - paper_value(paper["table"], base_row, column)[0], \
            None
    except (KeyError, FileNotFoundError):
        return None, None


def pair_id(pair: dict) -> str:
    return f"{pair['setting']}_d{pair['dim']}_{pair['method']}_vs_{pair['base']}_{pair['metric']}".lower()


def record_checks(exp, spec: dict | None, pair: dict, gain_row: str | None) -> None:
    """The claim (threshold 0) for every pair; a paper check where the paper prints the gain itself."""
    name = METRICS[pair["metric"]]
    description = (f"{pair['setting']}, dim {pair['dim']}: {pair['method']} {name} > {pair['base']} {name} "
                   "(95% interval of the paired difference above 0)")
    paper = "" if pair["paper"] is None else f"{pair['paper']:+.1f}"
    exp.claim_interval(pair_id(pair), description, pair["triple"], threshold=0.0, paper=paper, digits=2, signed=True)
    if gain_row is not None:
        exp.paper_check("paper_" + pair_id(pair), f"{pair['method']} minus {pair['base']} ({name}, points)",
                        pair["triple"][0], spec["table"], gain_row, f"{spec['column']} {name}",
                        "the paper's data and backbone differ from this profile's")


# ------------------------------------------------------------------ tables and figure

def summary_rows(rows) -> list[dict]:
    keys = sorted({(r["setting"], r["dim"], r["method"]) for r in rows}, key=lambda k: [str(x) for x in k])
    out = []
    for setting, dim, method in keys:
        chosen = [r for r in rows if (r["setting"], r["dim"], r["method"]) == (setting, dim, method)]
        out.append({"setting": setting, "dim": dim, "method": method, "seeds": len(chosen),
                    **{m: interval_text(mean_interval([r[m] for r in chosen], bounds=(0, 100)), 2) for m in METRICS}})
    return out


def pair_row(pair) -> dict:
    verdict = {True: "held", False: "not held", None: "not run"}[pair["verdict"]]
    return {"setting": pair["setting"], "dim": pair["dim"], "pair": f"{pair['method']} minus {pair['base']}",
            "metric": METRICS[pair["metric"]], "difference": interval_text(pair["triple"], 2, signed=True),
            "paper": "" if pair["paper"] is None else f"{pair['paper']:+.1f}", "verdict": verdict,
            "seeds": pair["seeds"]}


def figure(exp, pairs) -> None:
    """Gains (points) of every judged pair with their 95% seed intervals, R@1 and NMI side by side."""
    fig, axes = plt.subplots(1, len(JUDGED_METRICS), figsize=(5 * len(JUDGED_METRICS), 0.4 * len(pairs) + 2),
                             sharey=True)
    for axis, metric in zip(np.atleast_1d(axes), JUDGED_METRICS):
        chosen = [p for p in pairs if p["metric"] == metric]
        names = [f"{p['setting']} d{p['dim']}: {p['method']} - {p['base']}" for p in chosen]
        means = np.array([p["triple"][0] for p in chosen])
        errors = np.array([[p["triple"][0] - p["triple"][1], p["triple"][2] - p["triple"][0]] for p in chosen]).T
        axis.errorbar(means, np.arange(len(chosen)), xerr=np.nan_to_num(errors.reshape(2, -1)), fmt="o", capsize=3)
        papers = [(p["paper"], i) for i, p in enumerate(chosen) if p["paper"] is not None]
        if papers:
            axis.plot(*zip(*papers), "x", color="tab:red", label="paper")
            axis.legend()
        axis.axvline(0, color="grey", lw=0.8)
        axis.set_yticks(np.arange(len(chosen)), names)
        axis.set(xlabel=f"{METRICS[metric]} gain (points), mean and 95% interval over seeds",
                 ylabel="setting, embedding dim, pair", title=f"{METRICS[metric]} on unseen test classes")
    exp.figure("gains", fig)


if __name__ == "__main__":
    sys.exit(run_script(main))
