"""Semantic scale as a data tool: paper App. I (pizza selection, I.1; stopping data collection, I.2).

    python experiments/data_tools.py --profile quick

I.1: per class, the pizza subset (largest sample volume of `candidates` random draws of `per_class` images) and a
plain random subset of the same size; a model trained on each (same seed); S' and test top-1 compared, paired
over seeds. I.2: each class collected `step` images at a time in a random order; the curve of its volume and the
point where the relative growth first falls below `threshold`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.sample_space import sample_vectors  # noqa: E402
from semscale.selection import collection_curve, pizza_subset  # noqa: E402
from semscale.stats import mean_interval  # noqa: E402
from semscale.volume import volume  # noqa: E402

TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "lr_gamma", "width")


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    data, test = exp.dataset(cfg["dataset"], "train"), exp.dataset(cfg["dataset"], "test")
    vectors = sample_vectors(data.images)
    members = [np.flatnonzero(data.labels == c) for c in range(data.num_classes)]
    rows = []
    for seed in cfg["seeds"]:
        rng = np.random.default_rng(seed)
        chosen = {"pizza": [], "random": []}
        for idx in members:
            chosen["pizza"].append(idx[pizza_subset(vectors[idx], cfg["per_class"], cfg["candidates"], rng)])
            chosen["random"].append(rng.choice(idx, size=cfg["per_class"], replace=False))
        for method, parts in chosen.items():
            subset = data.subset(np.sort(np.concatenate(parts)), name=f"{data.name}-{method}{cfg['per_class']}")
            mean_volume = float(np.mean([volume(vectors[p]) for p in parts]))
            trainer = exp.train(subset, seed=seed, **{k: cfg[k] for k in TRAIN_KEYS})
            top1 = exp.classifier_results(trainer, subset, test, 1.0)["metrics"]["top1"]
            rows.append({"seed": seed, "method": method, "images": len(subset.labels),
                         "mean class volume": mean_volume, "top1": top1})
    exp.table("pizza", rows, ["seed", "method", "images", "mean class volume", "top1"],
              title=f"Pizza selection ({cfg['candidates']} candidates) against random subsets, "
                    f"{cfg['per_class']} images a class")
    for claim in pizza_claims(rows):
        exp.claim_interval(**claim)
    stopping(exp, cfg, data, vectors, members)
    return exp.finish()


def pizza_claims(rows) -> list[dict]:
    """Pizza minus random, paired by seed: mean class volume and top-1 (within -1..1), each held when the 95%
    t-interval over seeds is above 0."""
    claims = []
    for key, label, bounds in (("mean class volume", "volume", None), ("top1", "top-1", (-1.0, 1.0))):
        by_seed = {}
        for row in rows:
            by_seed.setdefault(row["seed"], {})[row["method"]] = row[key]
        diff = [pair["pizza"] - pair["random"] for _, pair in sorted(by_seed.items())]
        claims.append({"id": f"pizza_{label}", "triple": mean_interval(diff, bounds=bounds), "digits": 4,
                       "signed": True, "description": f"pizza subsets have a larger {label} than random ones "
                       "(paired over seeds; 95% interval above 0)"})
    return claims


def stopping(exp, cfg, data, vectors, members):
    rng = np.random.default_rng(0)
    fig, axis = plt.subplots(figsize=(6, 4))
    rows = []
    for c, idx in enumerate(members):
        sizes, values, stop = collection_curve(vectors[rng.permutation(idx)], cfg["step"], cfg["threshold"])
        line, = axis.plot(sizes, values, label=data.classes[c])
        if stop is not None:
            axis.plot([stop], [values[sizes.index(stop)]], "o", color=line.get_color())
        rows.append({"class": data.classes[c], "available": len(idx), "stop at n": stop if stop else "never"})
    axis.set_xscale("log")
    axis.set_xlabel("samples collected")
    axis.set_ylabel("sample volume (bits)")
    axis.set_title(f"App. I.2: stop when growth < {cfg['threshold']:.0%} (dots)")
    axis.legend(fontsize=6, ncol=2)
    exp.figure("stopping_rule", fig)
    exp.table("stopping_rule", rows, ["class", "available", "stop at n"],
              title=f"Data collection stopping rule: {cfg['step']} at a time, threshold {cfg['threshold']}")
    stopped = [r for r in rows if r["stop at n"] != "never"]
    exp.claim("stopping_rule_stops", "the stopping rule stops before every class's data runs out",
              len(stopped) == len(rows), f"{len(stopped)}/{len(rows)} classes")


if __name__ == "__main__":
    sys.exit(run_script(main))
