"""Long-tailed classification with every Table 2 loss, with and without DSB: paper Sec. 5.1 Table 2 (loss rows),
App. H.1 Fig. 17 (DSB-X-1, no inter-class interference) and App. H.2 Fig. 18 (CDB-CE).

    python experiments/lt_classification.py --profile quick     # Fashion-MNIST-LT (imbalance 100), 23 rows x 5 seeds
    python experiments/lt_classification.py --profile paper --data-dir DATA   # ImageNet-LT and iNaturalist 2018

Each row of the YAML ({label, loss, weighting, options}) is trained with the same seeds on the same long-tailed
training set and evaluated on the test set: overall top-1 and head / middle / tail accuracy, with the classes in
thirds by training count and in the paper's bands (>100 / 20-100 / <20 training images). Tables: runs (every row
and seed), summary (mean [95% t-interval] per row), gains (every pair of the YAML: the paired difference over
seeds, method minus baseline, beside the paper's Table 2 difference, printed or computed from its two cells).
Claims (one rule: held when the interval's lower bound is above 0): each DSB-X beats X overall; DSB beats CB and
CDB; the tail gain of DSB-CE over CE exceeds its head and its middle gain (paired over seeds, thirds).
"""
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from semscale import report  # noqa: E402
from semscale.data import long_tailed_indices  # noqa: E402
from semscale.experiment import Experiment, paper_value, run_script  # noqa: E402
from semscale.scales import split_terciles  # noqa: E402
from semscale.stats import gain_difference, interval_text, mean_interval, paired_difference  # noqa: E402
from semscale.train import TrainConfig  # noqa: E402

TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")
ROW_KEYS = ("label", "paper", "drw_fraction", "teacher_row")   # row keys that are not TrainConfig fields
DATASET_KEYS = ("name", "label", "imbalance", "n_max", "test_split", "paper_column", "row_options")
THIRDS, BANDS = ("head", "middle", "tail"), ("head_band", "middle_band", "tail_band")
GROUPS = ("overall",) + THIRDS + BANDS
PAPER_GROUP = {"overall": "Overall", "head": "Head", "middle": "Middle", "tail": "Tail", "head_band": "Head",
               "middle_band": "Middle", "tail_band": "Tail"}


def row_config(row: dict, settings: dict) -> dict:
    """TrainConfig keyword arguments of one YAML row on top of the profile's settings. `drw_fraction` f starts the
    deferred stage at epoch round(f * epochs) + 1: a CB weighting's weights (LDAM-DRW: 0.8, epoch 161 of 200 in Cao
    et al.'s release) and RIDE's frequency-aware diversity (its reweight_epoch; the release starts both at epoch 80
    of 100), RIDE's also under MBJ (method_options.base ride)."""
    label = row.get("label")
    if not label:
        raise SystemExit(f"lt_classification.yaml: row {row} has no label")
    unknown = sorted(set(row) - set(ROW_KEYS) - set(TRAIN_FIELDS))
    if unknown:
        raise SystemExit(f"lt_classification.yaml: row {label!r} has unknown option(s) {unknown}; a row takes "
                         f"{', '.join(ROW_KEYS)} and TrainConfig fields ({', '.join(TRAIN_FIELDS)})")
    config = {**settings, **{k: v for k, v in row.items() if k in TRAIN_FIELDS}}
    if "drw_fraction" in row:
        fraction = float(row["drw_fraction"])
        options = dict(config.get("method_options", {}))
        ride = config.get("method") == "ride" or (config.get("method") == "mbj" and options.get("base") == "ride")
        if (config.get("weighting") != "cb" and not ride) or not 0 < fraction < 1:
            raise SystemExit(f"lt_classification.yaml: row {label!r}: drw_fraction defers a 'cb' weighting or RIDE's "
                             f"frequency-aware stage and must lie in (0, 1); got weighting "
                             f"{config.get('weighting')!r}, method {config.get('method')!r}, fraction {fraction}")
        start = int(round(fraction * config.get("epochs", TrainConfig.epochs))) + 1
        if config.get("weighting") == "cb":
            config["weighting_options"] = {**config.get("weighting_options", {}), "start_epoch": start}
        if config.get("method") == "ride":
            config["method_options"] = {**options, "reweight_epoch": start - 1}
        elif ride:
            config["method_options"] = {**options, "base_options": {**options.get("base_options", {}),
                                                                    "reweight_epoch": start - 1}}
    return config


def with_teacher(row: dict, config: dict, checkpoints: dict) -> dict:
    """A row with `teacher_row: LABEL` (DiVE) distils the finished model of that row, same seed, trained before it:
    its checkpoint goes to the method as teacher_checkpoint (semscale/engine/teacher.py)."""
    teacher = row.get("teacher_row")
    if teacher is None:
        return config
    if teacher not in checkpoints:
        raise SystemExit(f"lt_classification.yaml: row {row['label']!r}: teacher_row {teacher!r} must be a row listed "
                         f"before it (rows trained so far: {', '.join(checkpoints) or 'none'})")
    return {**config, "method_options": {**config.get("method_options", {}),
                                         "teacher_checkpoint": str(checkpoints[teacher])}}


def rows_of(cfg: dict, entry: dict) -> list[dict]:
    """The rows of this profile (rows + extra_rows) with the dataset's row_options merged into them."""
    rows = list(cfg["rows"]) + list(cfg.get("extra_rows") or [])
    labels = [r.get("label") for r in rows]
    duplicated = sorted({l for l in labels if labels.count(l) > 1})
    if duplicated:
        raise SystemExit(f"lt_classification.yaml: row label(s) {duplicated} appear twice")
    extra = entry.get("row_options") or {}
    missing = sorted(set(extra) - set(labels))
    if missing:
        raise SystemExit(f"lt_classification.yaml: dataset {entry['name']!r} row_options name rows {missing} that "
                         f"are not rows ({labels})")
    return [{**row, **extra.get(row["label"], {})} for row in rows]


def profile_settings(cfg: dict, entry: dict) -> dict:
    """TrainConfig settings of the profile, the dataset entry's own (backbone, batch size) on top."""
    unknown = sorted(set(entry) - set(DATASET_KEYS) - set(TRAIN_FIELDS))
    if unknown:
        raise SystemExit(f"lt_classification.yaml: dataset {entry.get('name')!r} has unknown key(s) {unknown}")
    settings = {k: cfg[k] for k in TRAIN_FIELDS if k in cfg}
    settings.update({k: v for k, v in entry.items() if k in TRAIN_FIELDS})
    return settings


def load_sets(exp, entry: dict, subset_seed: int):
    """(train, test, kept indices or None): a long-tailed subset (Fig. 8 profile) when `imbalance` is given."""
    train = exp.dataset(entry["name"], "train")
    test = exp.dataset(entry["name"], entry.get("test_split", "test"))
    if entry.get("imbalance") is None:
        return train, test, None
    kept = long_tailed_indices(train.labels, entry["imbalance"], seed=subset_seed, n_max=entry.get("n_max"))
    return train.subset(kept, name=f"{train.name}-lt{entry['imbalance']}"), test, kept


def run_record(metrics: dict) -> dict:
    """Accuracy points of one evaluation: overall, thirds by training count and the paper's bands (nan if empty)."""
    values = {"overall": 100 * metrics["top1"]}
    values.update({g: 100 * metrics["thirds"][g] for g in THIRDS})
    values.update({f"{g}_band": 100 * metrics[g] for g in THIRDS})
    return values


def seed_values(runs: list[dict], dataset: str, label: str, group: str) -> np.ndarray:
    """A row's values of one group, ordered by seed (the pairing of every paired difference)."""
    chosen = sorted((r for r in runs if r["dataset"] == dataset and r["row"] == label), key=lambda r: r["seed"])
    return np.array([r[group] for r in chosen], dtype=np.float64)


def gain(baseline, method) -> tuple[float, float, float]:
    """Method minus baseline over paired seeds, accuracy points, with its 95% t-interval."""
    return paired_difference(baseline, method)


def gain_contrast(baseline: dict, method: dict, group: str = "tail", other: str = "head") -> tuple[float, float, float]:
    """(group gain - other gain) over paired seeds: the 'tail gain is the largest' claim (Sec. 5.1) per comparison.
    baseline / method: {group: per-seed accuracies}."""
    gains = {g: np.asarray(method[g]) - np.asarray(baseline[g]) for g in (group, other)}
    return gain_difference(gains[group], gains[other])


def paper_difference(method_row: str, baseline_row: str, column: str) -> tuple[float, str]:
    """The paper's Table 2 difference: (value, 'printed') when the table prints '<method> minus <baseline>', else
    (value, 'computed from the two cells'), else (nan, why)."""
    try:
        return paper_value("Table 2", f"{method_row} minus {baseline_row}", column)[0], "printed"
    except KeyError:
        pass
    try:
        cells = [paper_value("Table 2", row, column)[0] for row in (method_row, baseline_row)]
    except KeyError:
        return float("nan"), "not in Table 2 ('-' cell or a figure-only row)"
    return round(cells[0] - cells[1], 2), "computed from the two cells (not printed)"


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    runs, record = [], {"subset_seed": cfg["subset_seed"], "datasets": {}}
    for entry in cfg["datasets"]:
        train, test, kept = load_sets(exp, entry, cfg["subset_seed"])
        counts = train.counts()
        record["datasets"][entry["label"]] = {"train_counts": counts.tolist(), "test_size": len(test.labels)}
        if kept is not None:
            report.write_json(exp.out / f"subset_{entry['name']}.json",
                              {"seed": cfg["subset_seed"], "imbalance": entry["imbalance"], "n_max": entry.get("n_max"),
                               "kept_indices": np.asarray(kept).tolist()})
        settings, thirds = profile_settings(cfg, entry), split_terciles(counts)
        for seed in cfg["seeds"]:
            checkpoints = {}   # row label -> its finished model (a teacher_row's teacher)
            for row in rows_of(cfg, entry):
                trainer = exp.train(train, seed=seed, **with_teacher(row, row_config(row, settings), checkpoints))
                checkpoints[row["label"]] = trainer.checkpoint
                metrics = exp.evaluate(trainer, test, groups={"thirds": thirds})
                runs.append({"dataset": entry["label"], "row": row["label"], "seed": seed, **run_record(metrics),
                             "macro_ap": metrics["macro_ap"]})
    exp.table("runs", runs, ["dataset", "row", "seed", *GROUPS, "macro_ap"], title="Every row and seed",
              note="Accuracy (%). head / middle / tail: classes in thirds by training count; *_band: the paper's "
                   ">100 / 20-100 / <20 training images (nan when a band is empty). Training counts and the subset "
                   "draw: record.json and subset_*.json.")
    summary = summarise(runs)
    exp.table("summary", summary, ["dataset", "row", *GROUPS, "seeds"], title="Mean [95% interval] over seeds")
    gains = judge_pairs(exp, cfg, runs)
    exp.table("gains", gains, ["dataset", "pair", "group", "ours", "paper column", "paper", "paper source"],
              title="Paired differences over seeds, method minus baseline (accuracy points)",
              note="ours: mean [95% t-interval] of the per-seed differences. paper: Table 2's difference for the "
                   "paper's rows (printed, or computed from its two cells where it prints none); the paper's groups "
                   "are the >100 / 20-100 / <20 bands, given beside both our thirds and our bands.")
    figures(exp, runs, cfg)
    return exp.finish(**record)


def summarise(runs: list[dict]) -> list[dict]:
    summary = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        for label in dict.fromkeys(r["row"] for r in runs if r["dataset"] == dataset):
            entry = {"dataset": dataset, "row": label, "seeds": len(seed_values(runs, dataset, label, "overall"))}
            for group in GROUPS:
                values = seed_values(runs, dataset, label, group)
                entry[group] = interval_text(mean_interval(values, bounds=(0, 100)), 2) \
                    if np.isfinite(values).all() else "undefined"
            summary.append(entry)
    return summary


def judge_pairs(exp, cfg: dict, runs: list[dict]) -> list[dict]:
    """The gains table and the claims: every YAML pair on every dataset (see the YAML's claim list)."""
    paper_rows = {r["label"]: r.get("paper", r["label"]) for r in list(cfg["rows"]) + list(cfg.get("extra_rows") or [])}
    present = {(r["dataset"], r["row"]) for r in runs}
    table = []
    for entry in cfg["datasets"]:
        dataset, column = entry["label"], entry.get("paper_column", "ImageNet-LT")
        for pair in cfg["pairs"]:
            method, baseline = pair["method"], pair["baseline"]
            id_ = f"{dataset}:{method}_vs_{baseline}".replace(" ", "_")
            if not {(dataset, method), (dataset, baseline)} <= present:
                if pair.get("claim") == "beats":
                    exp.claim(id_, f"{method} beats {baseline} overall on {dataset}", None, "", reason="a row of "
                              "this pair is not among this run's rows")
                continue
            name = f"{paper_rows[method]} minus {paper_rows[baseline]}"
            for group in GROUPS:
                triple = gain(seed_values(runs, dataset, baseline, group), seed_values(runs, dataset, method, group))
                paper, source = paper_difference(paper_rows[method], paper_rows[baseline],
                                                 f"{column} {PAPER_GROUP[group]}")
                table.append({"dataset": dataset, "pair": name, "group": group, "ours": interval_text(triple, 2, True),
                              "paper column": f"{column} {PAPER_GROUP[group]}", "paper": paper, "paper source": source})
                if group == "overall" and pair.get("claim") == "beats":
                    exp.claim_interval(id_, f"{method} overall > {baseline} overall on {dataset} (95% interval of "
                                       "the paired difference above 0)", triple, paper=_signed(paper), digits=2,
                                       signed=True, note="" if source == "printed" else f"paper: {source}")
                if group in ("overall", "tail_band") and source == "printed":
                    exp.paper_check(f"{id_}:{group}", f"{name}, {group} (points)", triple[0], "Table 2", name,
                                    f"{column} {PAPER_GROUP[group]}",
                                    f"{dataset} is not {column}: our data and model differ")
        for pair in cfg.get("tail_largest") or []:
            tail_claims(exp, runs, dataset, pair["method"], pair["baseline"], present)
    return table


def tail_claims(exp, runs, dataset, method, baseline, present) -> None:
    """Sec. 5.1: 'the largest improvement for the tail subset': tail gain above head gain and above middle gain."""
    for other in ("head", "middle"):
        id_ = f"{dataset}:{method}_vs_{baseline}_tail_gain_above_{other}".replace(" ", "_")
        description = f"({method} minus {baseline}) tail gain > {other} gain on {dataset} (thirds; paired interval)"
        if not {(dataset, method), (dataset, baseline)} <= present:
            exp.claim(id_, description, None, "", reason="a row of this pair is not among this run's rows")
            continue
        base = {g: seed_values(runs, dataset, baseline, g) for g in THIRDS}
        ours = {g: seed_values(runs, dataset, method, g) for g in THIRDS}
        exp.claim_interval(id_, description, gain_contrast(base, ours, "tail", other), digits=2, signed=True,
                           paper="ImageNet-LT DSB-CE: tail +13.7, overall +4.8")


def figures(exp, runs: list[dict], cfg: dict) -> None:
    """Fig. 18 style: accuracy per row (bars per group, error bars the 95% seed interval); gains per group."""
    frame = pd.DataFrame(runs)
    interval = lambda v: mean_interval(v, bounds=(0, 100))[1:]  # noqa: E731
    for dataset, part in frame.groupby("dataset", sort=False):
        long = part.melt(id_vars=["row", "seed"], value_vars=["overall", *THIRDS], var_name="classes",
                         value_name="accuracy")
        fig, axis = plt.subplots(figsize=(max(6, 0.7 * part["row"].nunique()), 4))
        sns.barplot(long, x="row", y="accuracy", hue="classes", ax=axis, errorbar=interval, capsize=0.1)
        axis.set(xlabel="row (loss and weighting)", ylabel="test accuracy (%), mean and 95% seed interval",
                 title=f"{dataset}: overall and head / middle / tail (thirds by training count)")
        axis.tick_params(axis="x", rotation=60)
        exp.figure(f"accuracy_{_slug(dataset)}", fig)
        diffs = []
        for pair in cfg["pairs"]:
            if {pair["method"], pair["baseline"]} <= set(part["row"]):
                for group in ("overall", *THIRDS):
                    base = seed_values(runs, dataset, pair["baseline"], group)
                    for seed, value in zip(sorted(part["seed"].unique()),
                                           seed_values(runs, dataset, pair["method"], group) - base):
                        diffs.append({"pair": f"{pair['method']} minus {pair['baseline']}", "classes": group,
                                      "seed": seed, "gain": value})
        if diffs:
            fig, axis = plt.subplots(figsize=(max(6, 0.9 * len(cfg["pairs"])), 4))
            sns.barplot(pd.DataFrame(diffs), x="pair", y="gain", hue="classes", ax=axis, capsize=0.1,
                        errorbar=lambda v: mean_interval(v, bounds=(-100, 100))[1:])
            axis.axhline(0, color="black", linewidth=0.8)
            axis.set(xlabel="pair (method minus baseline)", ylabel="gain (accuracy points), mean and 95% paired "
                     "seed interval", title=f"{dataset}: gains per class group")
            axis.tick_params(axis="x", rotation=60)
            exp.figure(f"gains_{_slug(dataset)}", fig)


def _signed(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:+.1f}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower()


if __name__ == "__main__":
    sys.exit(run_script(main))
