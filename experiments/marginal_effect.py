"""The marginal effect of semantic scale: paper Fig. 2, Table 6, App. J (Sec. 3.3, App. D.1).

    python experiments/marginal_effect.py --profile quick   # Fashion-MNIST, m = 50..6000 a class, 2 CNNs
    python experiments/marginal_effect.py --profile paper --data-dir DATA   # Table 6: CIFAR-10/100, Mini-ImageNet

Nested sub-datasets with m samples a class (a larger m adds samples to a smaller one's, App. J). Part 1: the
sample-space volume of each class against m. Part 2: a model trained from scratch on each sub-dataset (every
point is its own model), its top-1 on the full test set, against the sum over classes of S' (volumes divided by
the largest volume over all classes and sub-datasets).

Claims per backbone, on Fisher's z over the sub-datasets and seeds: r(sum S', top-1) above min_correlation (the
paper's statement), and the marginal effect proper: the partial correlation of sum S' with top-1 given log m above
0. The sum of S' grows with m by construction, so r(sum S', top-1) is met by log m alone; only the partial
correlation says whether semantic scale carries information about accuracy beyond the sample count.
The paper profile runs Table 6's three datasets (config `datasets`); their tables and checks carry the dataset's
name, and Fig. 2 gets a row per dataset. Mini-ImageNet's images stay on disk: measured and evaluated streamed.
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
from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.measure import measure_dataset  # noqa: E402
from semscale.stats import correlation_interval, mean_interval, partial_correlation, pearson  # noqa: E402

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma")
# Engine settings a profile may give (the paper profile's input size and stem); absent ones keep TrainConfig's
# defaults, so the smoke and quick models (and their cache keys) are those they always were.
ENGINE_KEYS = ("image_size", "stem", "amp", "workers", "device")
FIRST_CLASSES = 10  # Fig. 2 (left) draws the curves of the first ten classes of each dataset


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    # paper: Table 6's three datasets, each entry (dataset, sizes, image_size, ...) on top of the shared config;
    # smoke / quick: the one dataset of the config itself, written as it always was (no name suffixes).
    parts = [{**cfg, **part} for part in cfg.get("datasets") or [{}]]
    several = len(parts) > 1
    panels = [marginal_effect(exp, part, f"_{part['dataset']}" if several else "") for part in parts]
    plot(exp, panels)
    return exp.finish()


def train_settings(cfg: dict) -> dict:
    return {k: cfg[k] for k in TRAIN_KEYS + ENGINE_KEYS if k in cfg}


def marginal_effect(exp, cfg, tag: str) -> dict:
    """Part 1 (volumes against m) and part 2 (a model per sub-dataset) for one dataset; tables, claims and the
    figure panel's data. `tag` ("" or "_<dataset>") names this dataset's tables and checks when there are several."""
    full, test = exp.dataset(cfg["dataset"], "train"), exp.dataset(cfg["dataset"], "test")
    subsets = nested_subsets(full.labels, cfg["sizes"], cfg["subset_seed"])
    sizes = sorted(subsets)
    budget = cfg.get("memory_budget", "4GB")  # file datasets stream through measure_dataset in blocks of classes
    volumes = np.array([measure_dataset(full.subset(subsets[m]), memory_budget=budget).scales.volume
                        for m in sizes])  # (sizes, C)
    s_prime = volumes / volumes.max()
    curve_rows = [{"m": m, "class": c, "name": full.classes[c], "volume": volumes[i, c], "S_prime": s_prime[i, c]}
                  for i, m in enumerate(sizes) for c in range(full.num_classes)]
    on = f" ({full.name})" if tag else ""
    exp.table(f"curves{tag}", curve_rows, ["m", "class", "name", "volume", "S_prime"],
              title=f"Sample-space volume of each class against samples per class m (nested sub-datasets){on}")
    curve_claims(exp, volumes, sizes, tag, f"{cfg['dataset']}: " if tag else "")

    accuracy_rows, total = [], s_prime.sum(1)
    for bb in cfg["backbones"]:
        top1_by_seed = []
        for seed in cfg["seeds"]:
            top1 = []
            for i, m in enumerate(sizes):
                train = full.subset(subsets[m], name=f"{full.name}-balanced{m}")
                trainer = exp.train(train, backbone=bb["backbone"], width=bb["width"], seed=seed,
                                    **train_settings(cfg))
                top1.append(exp.evaluate(trainer, test)["top1"])  # streamed for file datasets
                accuracy_rows.append({"backbone": bb["label"], "seed": seed, "m": m, "C x m": m * full.num_classes,
                                      "sum S'": total[i], "top1": top1[-1]})
            top1_by_seed.append(top1)
        for claim in accuracy_claims(bb["label"] + tag, sizes, total, top1_by_seed, cfg["min_correlation"]):
            exp.claim_interval(**claim)
    exp.table(f"accuracy{tag}", accuracy_rows, ["backbone", "seed", "m", "C x m", "sum S'", "top1"],
              title=f"Sum of S' and top-1 of a model trained from scratch on each sub-dataset{on}")
    return {"name": full.name, "classes": full.classes, "sizes": sizes, "s_prime": s_prime, "total": total,
            "accuracy_rows": accuracy_rows}


def curve_claims(exp, volumes, sizes, tag: str, prefix: str) -> None:
    """Fig. 2 left: every curve rises (needs two sizes) and saturates (needs three: last interval against first)."""
    rises = volumes[-1] > volumes[0]
    exp.claim(f"curves_rise{tag}", f"{prefix}every class's volume is larger at the largest m than at the smallest",
              bool(rises.all()) if len(sizes) > 1 else None, f"{int(rises.sum())}/{len(rises)} classes",
              reason="" if len(sizes) > 1 else "one sub-dataset: nothing to compare")
    if len(sizes) < 3:
        exp.claim(f"curves_saturate{tag}", f"{prefix}every class's slope per added sample is smaller in the last "
                  "interval than the first (concave, saturating)", None, "", reason="needs three sub-datasets")
        return
    slopes = np.diff(volumes, axis=0) / np.diff(sizes)[:, None]
    saturates = slopes[-1] < slopes[0]
    exp.claim(f"curves_saturate{tag}", f"{prefix}every class's slope per added sample is smaller in the last "
              "interval than the first (concave, saturating)", bool(saturates.all()),
              f"{int(saturates.sum())}/{len(saturates)} classes")


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


def plot(exp, panels):
    """Fig. 2, a row per dataset: left, S' of the first ten classes against m; right, top-1 against m per backbone
    (mean over seeds, band: 95% t-interval) with the sum of S' on a second axis."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4 * len(panels)), squeeze=False)
    for (left, right), panel in zip(axes, panels):
        sizes, s_prime, total = panel["sizes"], panel["s_prime"], panel["total"]
        curves = pd.DataFrame([{"m": m, "class": name, "S'": s_prime[i, c]} for i, m in enumerate(sizes)
                               for c, name in enumerate(panel["classes"][:FIRST_CLASSES])])
        on = f" ({panel['name']})" if len(panels) > 1 else ""
        sns.lineplot(curves, x="m", y="S'", hue="class", marker="o", ax=left)
        left.set(xscale="log", xlabel="samples per class m", ylabel="S' (sample volume / largest)",
                 title=f"Semantic scale against m{on}")
        left.legend(title="class", fontsize=6, ncol=2)
        accuracy = pd.DataFrame(panel["accuracy_rows"])
        sns.lineplot(accuracy, x="m", y="top1", hue="backbone", marker="s", ax=right,
                     errorbar=lambda v: mean_interval(v, bounds=(0, 1))[1:])
        right.set(xscale="log", xlabel="samples per class m", ylabel="top-1 (mean over seeds, 95% interval)",
                  title=f"Sum of S' and accuracy (Fig. 2 right){on}")
        twin = right.twinx()
        twin.plot(sizes, total, "k--", label="sum of S' (right axis)")
        twin.set_ylabel("sum of S' over classes")
        handles, labels = right.get_legend_handles_labels()
        extra_handles, extra_labels = twin.get_legend_handles_labels()
        right.legend(handles + extra_handles, labels + extra_labels, fontsize=7, loc="lower right")
    exp.figure("marginal_effect", fig)


if __name__ == "__main__":
    sys.exit(run_script(main))
