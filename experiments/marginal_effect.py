"""The marginal effect of semantic scale: paper Fig. 2, Table 6, App. J (Sec. 3.3, App. D.1).

    python experiments/marginal_effect.py --profile quick   # Fashion-MNIST, m = 50..6000 a class, 2 CNNs

Nested sub-datasets with m samples a class (a larger m adds samples to a smaller one's, App. J). Part 1: the
sample-space volume of each class against m. Part 2: a model trained from scratch on each sub-dataset (every
point is its own model), its top-1 on the full test set, against the sum over classes of S' (volumes divided by
the largest volume over all classes and sub-datasets).

Claims per backbone, on Fisher's z over the sub-datasets and seeds: r(sum S', top-1) above min_correlation (the
paper's statement), and the marginal effect proper: the partial correlation of sum S' with top-1 given log m above
0. The sum of S' grows with m by construction, so r(sum S', top-1) is met by log m alone; only the partial
correlation says whether semantic scale carries information about accuracy beyond the sample count.
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

from semscale.data import nested_subsets  # noqa: E402
from semscale.experiment import Experiment  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.stats import correlation_interval, mean_interval, partial_correlation, pearson  # noqa: E402

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma")


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    full, test = exp.dataset(cfg["dataset"], "train"), exp.dataset(cfg["dataset"], "test")
    subsets = nested_subsets(full.labels, cfg["sizes"], cfg["subset_seed"])
    sizes = sorted(subsets)
    volumes = np.array([measure_dataset(full.subset(subsets[m])).scales.volume for m in sizes])  # (sizes, C)
    s_prime = volumes / volumes.max()
    curve_rows = [{"m": m, "class": c, "name": full.classes[c], "volume": volumes[i, c], "S_prime": s_prime[i, c]}
                  for i, m in enumerate(sizes) for c in range(full.num_classes)]
    exp.table("curves", curve_rows, ["m", "class", "name", "volume", "S_prime"],
              title="Sample-space volume of each class against samples per class m (nested sub-datasets)")
    slopes = np.diff(volumes, axis=0) / np.diff(sizes)[:, None]
    rises = volumes[-1] > volumes[0]
    saturates = slopes[-1] < slopes[0]
    exp.claim("curves_rise", "every class's volume is larger at the largest m than at the smallest",
              bool(rises.all()), f"{int(rises.sum())}/{len(rises)} classes")
    exp.claim("curves_saturate", "every class's slope per added sample is smaller in the last interval than the "
              "first (concave, saturating)", bool(saturates.all()), f"{int(saturates.sum())}/{len(saturates)} classes")

    accuracy_rows, total = [], s_prime.sum(1)
    for bb in cfg["backbones"]:
        top1_by_seed = []
        for seed in cfg["seeds"]:
            top1 = []
            for i, m in enumerate(sizes):
                train = full.subset(subsets[m], name=f"{full.name}-balanced{m}")
                trainer = exp.train(train, backbone=bb["backbone"], width=bb["width"], seed=seed,
                                    **{k: cfg[k] for k in TRAIN_KEYS})
                top1.append(exp.classifier_results(trainer, train, test, 1.0)["metrics"]["top1"])
                accuracy_rows.append({"backbone": bb["label"], "seed": seed, "m": m, "C x m": m * full.num_classes,
                                      "sum S'": total[i], "top1": top1[-1]})
            top1_by_seed.append(top1)
        for claim in accuracy_claims(bb["label"], sizes, total, top1_by_seed, cfg["min_correlation"]):
            exp.claim_interval(**claim)
    exp.table("accuracy", accuracy_rows, ["backbone", "seed", "m", "C x m", "sum S'", "top1"],
              title="Sum of S' and top-1 of a model trained from scratch on each sub-dataset")
    plot(exp, full.classes, sizes, s_prime, total, accuracy_rows)
    return exp.finish()


def accuracy_claims(label, sizes, total, top1_by_seed, min_correlation) -> list[dict]:
    """Fig. 2's claims for one backbone: r(sum S', top-1) > min_correlation, and the partial correlation of sum S'
    with top-1 given log m > 0 (intervals on Fisher's z over the len(sizes) sub-datasets and the seeds)."""
    log_m = np.log(np.asarray(sizes, dtype=float))
    rs = [pearson(total, top1) for top1 in top1_by_seed]
    partials = [partial_correlation(total, top1, log_m) for top1 in top1_by_seed]
    by_count = correlation_interval([pearson(log_m, top1) for top1 in top1_by_seed], len(sizes))
    return [
        {"id": f"sum_tracks_accuracy_{label}", "triple": correlation_interval(rs, len(sizes)),
         "threshold": min_correlation,
         "description": f"{label}: Pearson r(sum of S', top-1) across {len(sizes)} sub-datasets > {min_correlation} "
         f"(Fisher z over sub-datasets and {len(rs)} seed(s); lower bound above the threshold)",
         "note": f"log m alone: r(log m, top-1) = {by_count[0]:.3f}"},
        {"id": f"scale_beyond_count_{label}", "triple": correlation_interval(partials, len(sizes), controls=1),
         "description": f"{label}: sum of S' tracks top-1 beyond the sample count: partial r(sum S', top-1 | log m) > "
         "0 (Fisher z; lower bound above 0)"},
    ]


def plot(exp, classes, sizes, s_prime, total, accuracy_rows):
    """Fig. 2: left, S' of every class against m; right, top-1 against m per backbone (mean over seeds, band: 95%
    t-interval) with the sum of S' on a second axis."""
    curves = pd.DataFrame([{"m": m, "class": name, "S'": s_prime[i, c]} for i, m in enumerate(sizes)
                           for c, name in enumerate(classes)])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    sns.lineplot(curves, x="m", y="S'", hue="class", marker="o", ax=left)
    left.set(xscale="log", xlabel="samples per class m", ylabel="S' (sample volume / largest)",
             title="Semantic scale against m")
    left.legend(title="class", fontsize=6, ncol=2)
    accuracy = pd.DataFrame(accuracy_rows)
    sns.lineplot(accuracy, x="m", y="top1", hue="backbone", marker="s", ax=right,
                 errorbar=lambda v: mean_interval(v, bounds=(0, 1))[1:])
    right.set(xscale="log", xlabel="samples per class m", ylabel="top-1 (mean over seeds, 95% interval)",
              title="Sum of S' and accuracy (Fig. 2 right)")
    twin = right.twinx()
    twin.plot(sizes, total, "k--", label="sum of S' (right axis)")
    twin.set_ylabel("sum of S' over classes")
    handles, labels = right.get_legend_handles_labels()
    extra_handles, extra_labels = twin.get_legend_handles_labels()
    right.legend(handles + extra_handles, labels + extra_labels, fontsize=7, loc="lower right")
    exp.figure("marginal_effect", fig)


if __name__ == "__main__":
    sys.exit(main())
