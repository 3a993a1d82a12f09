"""Class-wise accuracy against semantic scale: paper Figs. 3-4 and Table 7 (Sec. 3.4.2-3.4.3, App. D.3).

    python experiments/class_bias.py --profile quick   # Table 7's two long-tailed sets and the balanced set
    python experiments/class_bias.py --profile paper --data-dir DATA   # Figs. 3-4 on MNIST(-LT), CIFAR-10/100(-LT)

For each set, backbone and seed: per-class test accuracy, next to the sample-space S (alpha 2 on long-tailed
sets, 1 on the balanced one) and N. Claims: (1) the weak classes are the same across backbones and seeds (mean
pairwise Jaccard overlap of the weakest classes by accuracy; its 95% percentile-bootstrap interval over runs must
lie above the configured threshold); (2) of the two long-tailed sets, the one whose S is closer to the balanced
set's has the class-wise accuracy closer to the balanced set's (per backbone and seed; held when the Clopper-Pearson
interval of the share of runs that agree lies above one half).
The paper profile runs several studies (config `studies`: a test set, its training sets and models each); their
tables, figures and checks carry the study's name. Test sets are read through exp.evaluate, streamed when on disk.
"""
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy.stats import bootstrap  # noqa: E402

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.sets import named_set  # noqa: E402
from semscale.stats import mean_interval, pearson, share_interval  # noqa: E402

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma")
# Engine settings a profile may give (the paper profile's input size); absent ones keep TrainConfig's defaults, so
# the smoke and quick models (and their cache keys) are those they always were.
ENGINE_KEYS = ("image_size", "stem", "amp", "workers", "device")


def jaccard(a, b) -> float:
    return len(set(a) & set(b)) / len(set(a) | set(b))


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    # paper: several studies (Fig. 3's MNIST, CIFAR-10-LT, CIFAR-100-LT; Fig. 4's CIFAR-10 and its Table 6
    # sub-datasets), each a test set with its training sets and models, on top of the shared config; smoke / quick:
    # the config itself is the one study, written as it always was (no name suffixes).
    studies = [{**cfg, **study} for study in cfg.get("studies") or [{}]]
    for study in studies:
        class_bias(exp, study, f"_{study['name']}" if len(studies) > 1 else "")
    return exp.finish()


def class_bias(exp, cfg, tag: str) -> None:
    """One study: per-class accuracy of every (set, backbone, seed) model on the study's test set, beside S and N."""
    test = exp.dataset(cfg["dataset"], "test")
    accuracy, scales, counts, rows = {}, {}, {}, []
    for spec in cfg["sets"]:
        train, alpha = named_set(spec, cfg.get("imbalance", 100), exp.args.data_dir)
        table = measure_dataset(train, alpha=alpha, memory_budget=cfg.get("memory_budget", "4GB"))
        scales[spec], counts[spec] = table.scales.s, train.counts()
        for bb in cfg["backbones"]:
            for seed in cfg["seeds"]:
                trainer = exp.train(train, backbone=bb["backbone"], width=bb["width"], seed=seed,
                                    **{k: cfg[k] for k in TRAIN_KEYS + ENGINE_KEYS if k in cfg})
                acc = exp.evaluate(trainer, test)["per_class"]  # streamed for file datasets
                accuracy[(spec, bb["label"], seed)] = acc
                rows += [{"set": spec, "backbone": bb["label"], "seed": seed, "class": c, "name": train.classes[c],
                          "N": int(counts[spec][c]), "S": scales[spec][c], "accuracy": acc[c]}
                         for c in range(train.num_classes)]
        class_names = train.classes
    on = f" ({cfg['name']})" if tag else ""
    exp.table(f"classwise{tag}", rows, ["set", "backbone", "seed", "class", "name", "N", "S", "accuracy"],
              title=f"Class-wise test accuracy, N and sample-space S{on}")
    figure(exp, cfg, rows, scales, counts, class_names, tag)
    agreement(exp, cfg, accuracy, class_names, tag)
    if not tag or any("table7" in spec for spec in cfg["sets"]):
        closeness(exp, cfg, accuracy, scales, tag)
    correlations = [{"set": spec, "backbone": b, "seed": s, "r(acc, S)": pearson(scales[spec], acc),
                     "r(acc, N)": pearson(counts[spec], acc)} for (spec, b, s), acc in accuracy.items()]
    exp.table(f"correlations{tag}", correlations, list(correlations[0]),
              title=f"Pearson r of class-wise accuracy{on}")


def figure(exp, cfg, rows, scales, counts, class_names, tag: str = ""):
    """Figs. 3-4: per set, class-wise accuracy (mean over backbones and seeds, error bar: 95% t-interval) beside S and N,
    each max-normalised."""
    sets = cfg["sets"]
    data = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.8), squeeze=False)
    for axis, spec in zip(axes[0], sets):
        sns.barplot(data[data["set"] == spec], x="name", y="accuracy", order=class_names, color="tab:gray", alpha=0.6,
                    errorbar=lambda v: mean_interval(v, bounds=(0, 1))[1:], label="accuracy (mean, 95% interval)",
                    ax=axis)
        x = np.arange(len(class_names))
        axis.plot(x, scales[spec] / scales[spec].max(), "o-", color="tab:red", label="S (max-normalised)")
        axis.plot(x, counts[spec] / counts[spec].max(), "s--", color="tab:blue", label="N (max-normalised)")
        axis.set_xticks(x, class_names, rotation=60, fontsize=7)
        axis.set(title=spec, ylim=(0, 1.05), xlabel="class", ylabel="test accuracy; S and N / their largest")
        axis.legend(fontsize=7, loc="lower left")
    fig.suptitle("Class-wise accuracy against S and N (Figs. 3-4)" + (f": {cfg['name']}" if tag else ""))
    exp.figure(f"classwise{tag}", fig)


def mean_pairwise_jaccard(weakest: list[tuple]) -> float:
    """Mean Jaccard overlap over every pair of runs' weakest-class sets."""
    pairs = list(itertools.combinations(weakest, 2))
    return float(np.mean([jaccard(a, b) for a, b in pairs])) if pairs else float("nan")


def agreement_interval(weakest: list[tuple], resamples: int = 2000) -> tuple[float, float, float]:
    """(mean pairwise Jaccard, low, high): 95% percentile bootstrap over runs (a resample's pairs of distinct runs)."""
    if len(weakest) < 2:
        return float("nan"), float("nan"), float("nan")
    point = mean_pairwise_jaccard(weakest)
    if len(weakest) < 3:
        return point, float("nan"), float("nan")  # a resample of two runs has at most one pair: no spread to read

    def statistic(index):
        chosen = np.asarray(index, dtype=int)
        values = [jaccard(weakest[a], weakest[b]) for i, a in enumerate(chosen) for b in chosen[i + 1:] if a != b]
        return np.mean(values) if values else point

    result = bootstrap((np.arange(len(weakest)),), statistic, vectorized=False, n_resamples=resamples,
                       method="percentile", rng=np.random.default_rng(0))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def agreement(exp, cfg, accuracy, class_names, tag: str = ""):
    """The weakest classes agree across the runs of each set; with `pool_sets` (Fig. 4 bottom right: ResNet-18 on
    Table 6's CIFAR-10 sub-datasets), also across all runs of all the study's sets."""
    k = cfg["weakest"]
    out = []
    groups = [(spec, [spec]) for spec in cfg["sets"]]
    if cfg.get("pool_sets"):
        groups.append(("across_sets", list(cfg["sets"])))
    for spec, members in groups:
        weakest = [tuple(np.argsort(acc, kind="stable")[:k]) for key, acc in accuracy.items() if key[0] in members]
        triple = agreement_interval(weakest)
        votes = np.bincount(np.concatenate([list(w) for w in weakest]), minlength=len(class_names))
        out.append({"set": spec, "runs": len(weakest), f"mean Jaccard of weakest {k}": triple[0],
                    "95% interval": f"[{triple[1]:.2f}, {triple[2]:.2f}]",
                    "most often weakest": ", ".join(class_names[c] for c in np.argsort(-votes)[:k])})
        runs = "sets, backbones and seeds" if len(members) > 1 else "backbones and seeds"
        exp.claim_interval(f"same_weak_classes_{spec}{tag}", f"{spec}: the weakest {k} classes agree across {runs} "
                           f"(mean Jaccard, bootstrap over runs; lower bound > {cfg['agreement_threshold']})",
                           triple, cfg["agreement_threshold"], digits=2)
    exp.table(f"weak_class_agreement{tag}", out, list(out[0]), title="Are the weak classes the same across runs?"
              + (f" ({cfg['name']})" if tag else ""))


def closeness(exp, cfg, accuracy, scales, tag: str = ""):
    long_tailed = [s for s in cfg["sets"] if "table7" in s]
    balanced = [s for s in cfg["sets"] if "table7" not in s]
    if len(long_tailed) != 2 or len(balanced) != 1:
        exp.claim(f"closer_scales_closer_accuracy{tag}", "the set with S closer to the balanced set's has closer "
                  "class-wise accuracy", None, "", reason="needs two Table 7 sets and a balanced set")
        return
    (lt1, lt2), base = long_tailed, balanced[0]
    scale_gap = {s: float(np.linalg.norm(scales[s] - scales[base])) for s in long_tailed}
    closer = min(long_tailed, key=scale_gap.get)
    agree = []
    for (spec, b, seed), acc in accuracy.items():
        if spec != base:
            continue
        gaps = {s: float(np.linalg.norm(accuracy[(s, b, seed)] - acc)) for s in long_tailed}
        agree.append(min(gaps, key=gaps.get) == closer)
    exp.claim_interval(f"closer_scales_closer_accuracy{tag}", f"{closer} has S closer to {base}'s (distances "
                       f"{scale_gap[lt1]:.3f} vs {scale_gap[lt2]:.3f}) and so closer class-wise accuracy: share of "
                       "backbone-seed runs that agree (Clopper-Pearson lower bound > 0.5)",
                       share_interval(sum(agree), len(agree)), 0.5, digits=2,
                       note=f"{sum(agree)}/{len(agree)} runs")


if __name__ == "__main__":
    sys.exit(run_script(main))
