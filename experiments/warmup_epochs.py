"""The effect of n, the last epoch of stage 2 (TrainConfig.warmup_epochs), on DSB-X: paper Sec. 4.2 and Fig. 5.

    python experiments/warmup_epochs.py --profile quick     # Fashion-MNIST-LT (imbalance 100), small CNN, 5 seeds
    python experiments/warmup_epochs.py --profile paper     # CIFAR-10-LT and CIFAR-100-LT, ResNet-18 (CIFAR stem)

For every loss X (CE and Focal) and every n of the grid, DSB-X is trained with the same seeds, and the plain loss X
(no re-weighting) beside it as the reference. Reported: top-1 for each n with its 95% seed interval (the Fig. 5
curve), and the paper's claim "a larger n does not hurt the model performance" as a non-inferiority claim fixed
before any run: the paired seed difference top-1(largest n) minus top-1(n = 5, or the smallest n when 5 is not in
the grid) has a 95% t-interval whose lower bound is above -margin (the margin, in accuracy points, is in the YAML
with its reason). One rule, threshold = -margin.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from semscale.data import long_tailed_indices  # noqa: E402
from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.stats import interval_text, mean_interval, paired_difference  # noqa: E402

TRAIN_KEYS = ("backbone", "width", "epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma", "alpha",
              "momentum", "weight_decay", "device", "amp", "augment", "image_size", "stem", "pretrained", "workers")
PLAIN = "plain"  # the `n` column of the runs without re-weighting (n plays no part in them)


def reference_n(grid, preferred: int = 5) -> int:
    """The n every larger n is compared with: the paper's n = 5 (Sec. 4.2) when the grid has it, else the smallest."""
    grid = sorted(int(n) for n in grid)
    return preferred if preferred in grid else grid[0]


def seed_values(rows, dataset: str, loss: str, n) -> dict:
    """{seed: top-1} of one dataset, loss and n (or PLAIN) from the runs table."""
    return {r["seed"]: r["top1"] for r in rows if (r["dataset"], r["loss"], r["n"]) == (dataset, loss, n)}


def paired_by_seed(baseline: dict, method: dict) -> tuple[float, float, float]:
    """method minus baseline over the seeds both have, paired by seed (stats.paired_difference)."""
    seeds = sorted(set(baseline) & set(method))
    if not seeds:
        raise ValueError("paired_by_seed: the two sets of runs share no seed")
    return paired_difference([baseline[s] for s in seeds], [method[s] for s in seeds])


def noninferiority(rows, dataset: str, loss: str, grid, margin: float):
    """(largest n, reference n, paired difference largest minus reference, threshold -margin)."""
    largest, reference = max(int(n) for n in grid), reference_n(grid)
    difference = paired_by_seed(seed_values(rows, dataset, loss, reference), seed_values(rows, dataset, loss, largest))
    return largest, reference, difference, -float(margin)


def state_claims(exp, rows, datasets, losses, grid, margin: float) -> None:
    """One non-inferiority claim per dataset and loss: largest n against the reference n, threshold -margin."""
    for dataset in datasets:
        for loss in losses:
            largest, reference, difference, threshold = noninferiority(rows, dataset, loss, grid, margin)
            exp.claim_interval(f"larger_n_not_worse_{loss.lower()}_{dataset}",
                               f"{dataset}, DSB-{loss}: top-1(n={largest}) minus top-1(n={reference}) > -{margin} "
                               f"points (non-inferiority, margin {margin})", difference, threshold=threshold,
                               paper="larger n does not hurt (Sec. 4.2)", digits=2, signed=True)


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    grid = sorted(int(n) for n in cfg["warmup_grid"])
    if max(grid) >= cfg["epochs"]:
        raise SystemExit(f"warmup_epochs: the largest n ({max(grid)}) must be below epochs ({cfg['epochs']}), or "
                         "stage 3 (epochs > n, the re-weighting) never runs; raise epochs or shrink warmup_grid")
    settings = {k: cfg[k] for k in TRAIN_KEYS if k in cfg}
    rows, counts_of = [], {}
    for spec in cfg["datasets"]:
        train, test = long_tailed_pair(exp, spec)
        counts_of[train.name] = train.counts().tolist()
        for seed in cfg["seeds"]:
            for loss in cfg["losses"]:
                runs = [(PLAIN, "none", cfg.get("plain_warmup", 5))] + [(n, "dsb", n) for n in grid]
                for n, weighting, warmup in runs:
                    trainer = exp.train(train, seed=seed, loss=loss["loss"], loss_options=loss.get("options", {}),
                                        weighting=weighting, warmup_epochs=warmup, **settings)
                    metrics = exp.evaluate(trainer, test)
                    rows.append({"dataset": train.name, "loss": loss["label"], "n": n, "seed": seed,
                                 "top1": 100 * metrics["top1"], "head": 100 * metrics["head"],
                                 "middle": 100 * metrics["middle"], "tail": 100 * metrics["tail"],
                                 "seconds": round(sum(h.get("seconds", 0.0) for h in trainer.history), 2)})
    exp.table("runs", rows, ["dataset", "loss", "n", "seed", "top1", "head", "middle", "tail", "seconds"],
              title="Top-1 of DSB-X for each n, and of the plain loss X (n = plain), every seed",
              note="head / middle / tail: the paper's >100 / 20-100 / <20 training images (nan when a group is "
                   "empty). Training counts: " + "; ".join(f"{k}: {v}" for k, v in counts_of.items()))
    curve = curve_rows(rows, cfg, grid)
    exp.table("curve", curve, ["dataset", "loss", "n", "top1", "minus plain", "minus reference n", "seeds"],
              title="Fig. 5: top-1 against n, mean [95% interval] over seeds",
              note=f"minus plain: DSB-X(n) minus X; minus reference n: DSB-X(n) minus DSB-X(n = {reference_n(grid)}); "
                   "both paired by seed.")
    state_claims(exp, rows, list(counts_of), [loss["label"] for loss in cfg["losses"]], grid, cfg["margin"])
    figure(exp, rows, cfg, grid)
    return exp.finish(train_counts=counts_of, warmup_grid=grid, reference_n=reference_n(grid),
                      margin=cfg["margin"], kept_indices_seed=0)


def long_tailed_pair(exp, spec):
    """(long-tailed training subset, full test set) of a dataset: Fig. 8's profile, n_max images in class 0."""
    full = exp.dataset(spec["name"], "train")
    test = exp.dataset(spec["name"], "test")
    kept = long_tailed_indices(full.labels, spec["imbalance"], seed=0, n_max=spec.get("n_max"))
    suffix = f"-lt{spec['imbalance']}" + (f"-max{spec['n_max']}" if spec.get("n_max") else "")
    return full.subset(kept, name=full.name + suffix), test


def curve_rows(rows, cfg, grid):
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for loss in cfg["losses"]:
            plain = seed_values(rows, dataset, loss["label"], PLAIN)
            reference = seed_values(rows, dataset, loss["label"], reference_n(grid))
            out.append({"dataset": dataset, "loss": loss["label"], "n": PLAIN, "top1": _ci(plain.values(), True),
                        "minus plain": "", "minus reference n": "", "seeds": len(plain)})
            for n in grid:
                values = seed_values(rows, dataset, loss["label"], n)
                out.append({"dataset": dataset, "loss": loss["label"], "n": n, "top1": _ci(values.values(), True),
                            "minus plain": interval_text(paired_by_seed(plain, values), 2, True),
                            "minus reference n": interval_text(paired_by_seed(reference, values), 2, True),
                            "seeds": len(values)})
    return out


def figure(exp, rows, cfg, grid):
    """Top-1 against n for each loss (mean, error bars the 95% seed interval), the plain loss as a dashed line."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.8), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        for index, loss in enumerate(cfg["losses"]):
            colour = f"C{index}"
            stats = [mean_interval(list(seed_values(rows, dataset, loss["label"], n).values()), bounds=(0, 100))
                     for n in grid]
            means = np.array([s[0] for s in stats])
            spread = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
            axis.errorbar(grid, means, yerr=np.nan_to_num(spread), marker="o", capsize=3, color=colour,
                          label=f"DSB-{loss['label']}")
            plain = mean_interval(list(seed_values(rows, dataset, loss["label"], PLAIN).values()), bounds=(0, 100))
            axis.axhline(plain[0], color=colour, linestyle="--", label=f"{loss['label']} (no DSB)")
            if np.isfinite(plain[1]):
                axis.axhspan(plain[1], plain[2], color=colour, alpha=0.12)
        axis.set(xlabel="n (last epoch of stage 2; re-weighting from epoch n + 1)",
                 ylabel="test top-1 (%), mean and 95% interval over seeds", title=dataset, xticks=grid)
        axis.legend(fontsize=7)
    exp.figure("top1_by_n", fig)


def _ci(values, bounded=False) -> str:
    return interval_text(mean_interval(list(values), bounds=(0, 100) if bounded else None), digits=2)


if __name__ == "__main__":
    sys.exit(run_script(main))
