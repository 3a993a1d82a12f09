"""The marginal effect of semantic scale: paper Fig. 2, Table 6, App. J (Sec. 3.3, App. D.1).

    python experiments/marginal_effect.py --profile quick   # Fashion-MNIST, m = 50..6000 a class, 2 CNNs

Nested sub-datasets with m samples a class (a larger m adds samples to a smaller one's, App. J). Part 1: the
sample-space volume of each class against m. Part 2: a model trained from scratch on each sub-dataset (every
point is its own model), its top-1 on the full test set, against the sum over classes of S' (volumes divided by
the largest volume over all classes and sub-datasets).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from semscale.data import nested_subsets  # noqa: E402
from semscale.experiment import Experiment  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.stats import pearson  # noqa: E402

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
        for seed in cfg["seeds"]:
            top1 = []
            for i, m in enumerate(sizes):
                train = full.subset(subsets[m], name=f"{full.name}-balanced{m}")
                trainer = exp.train(train, backbone=bb["backbone"], width=bb["width"], seed=seed,
                                    **{k: cfg[k] for k in TRAIN_KEYS})
                top1.append(exp.classifier_results(trainer, train, test, 1.0)["metrics"]["top1"])
                accuracy_rows.append({"backbone": bb["label"], "seed": seed, "m": m, "C x m": m * full.num_classes,
                                      "sum S'": total[i], "top1": top1[-1]})
            r = pearson(total, top1)
            exp.claim(f"sum_tracks_accuracy_{bb['label']}_seed{seed}", f"{bb['label']}: Pearson r(sum of S', top-1) "
                      f"across sub-datasets > {cfg['min_correlation']}", bool(r > cfg["min_correlation"]), f"{r:.3f}")
    exp.table("accuracy", accuracy_rows, ["backbone", "seed", "m", "C x m", "sum S'", "top1"],
              title="Sum of S' and top-1 of a model trained from scratch on each sub-dataset")
    plot(exp, full.classes, sizes, s_prime, total, accuracy_rows)
    return exp.finish()


def plot(exp, classes, sizes, s_prime, total, accuracy_rows):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for c, name in enumerate(classes):
        left.plot(sizes, s_prime[:, c], marker=".", label=name)
    left.set_xlabel("samples per class m")
    left.set_ylabel("S' (sample volume / max)")
    left.set_xscale("log")
    left.legend(fontsize=6, ncol=2)
    left.set_title("Semantic scale against m")
    right.plot(sizes, total, "k-o", label="sum of S'")
    right.set_xscale("log")
    right.set_xlabel("samples per class m")
    right.set_ylabel("sum of S'")
    twin = right.twinx()
    labels = sorted({(r["backbone"], r["seed"]) for r in accuracy_rows})
    for backbone, seed in labels:
        points = [r for r in accuracy_rows if (r["backbone"], r["seed"]) == (backbone, seed)]
        twin.plot([p["m"] for p in points], [p["top1"] for p in points], "--s", label=f"top-1 {backbone} s{seed}")
    twin.set_ylabel("top-1")
    twin.legend(fontsize=7, loc="lower right")
    right.set_title("Sum of S' and accuracy (Fig. 2 right)")
    exp.figure("marginal_effect", fig)


if __name__ == "__main__":
    sys.exit(main())
