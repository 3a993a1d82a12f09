"""Matching children to parents by semantic scale: paper App. K, Table 12.

    python experiments/hierarchy.py --profile quick   # Fashion-MNIST: tops, footwear, other

Each class's training images are split in two (seeded): one half gives the child data (a model is trained on
the children, App. K step 1), the other half the parent data (each parent: parent_size images drawn equally from
its member classes), so no image is in both. Features of both come from the trained model (step 2). For each child
and parent, the ratio of the parent's volume after mixing the child in to before (steps 3-7); the predicted
parent is the one with the smallest ratio. Claim: every child's smallest ratio is its true parent.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.features import extract_features  # noqa: E402
from semscale.volume import volume  # noqa: E402


def hierarchy_of(cfg, dataset) -> dict:
    if cfg["parents"] == "coarse":
        coarse = dataset.extras["coarse_labels"]
        names = dataset.extras["coarse_classes"]
        return {names[p]: sorted(set(dataset.labels[coarse == p].tolist())) for p in np.unique(coarse)}
    return {name: list(members) for name, members in cfg["parents"].items()}


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    data = exp.dataset(cfg["dataset"], "train")
    parents = hierarchy_of(cfg, data)
    rng = np.random.default_rng(cfg["split_seed"])
    child_idx, parent_pool = [], {}
    for c in range(data.num_classes):
        members = rng.permutation(np.flatnonzero(data.labels == c))
        child_idx.append(members[:cfg["child_per_class"]])
        parent_pool[c] = members[cfg["child_per_class"]:]
    children = data.subset(np.sort(np.concatenate(child_idx)), name=f"{data.name}-children")
    settings = {k: cfg[k] for k in ("epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay", "width")}
    trainer = exp.train(children, backbone=cfg.get("backbone", "small_cnn"), seed=0, **settings)
    child_features = extract_features(trainer.network, children.images)
    parent_features = {}
    for name, members in parents.items():
        share = cfg["parent_size"] // len(members)
        picked = np.concatenate([rng.choice(parent_pool[c], size=share, replace=False) for c in members])
        parent_features[name] = extract_features(trainer.network, data.images[picked])
    before = {name: volume(f) for name, f in parent_features.items()}
    rows, correct = [], 0
    for c in range(data.num_classes):
        mine = child_features[children.labels == c]
        ratios = {name: volume(np.concatenate([parent_features[name], mine])) / before[name] for name in parents}
        predicted = min(ratios, key=ratios.get)
        truth = next(name for name, members in parents.items() if c in members)
        correct += predicted == truth
        rows.append({"child": data.classes[c], **{f"ratio {n}": r for n, r in ratios.items()},
                     "predicted parent": predicted, "real parent": truth, "match": predicted == truth})
    exp.table("table12", rows, list(rows[0]), title="Ratio of each parent's semantic scale after/before mixing in "
              "a child (Table 12 on our data)", note=f"Parents: {parents}. Feature space: 64-d pooled features "
              "of a model trained on the children.")
    exp.claim("smallest_ratio_is_true_parent", "every child's smallest ratio is its true parent",
              correct == data.num_classes, f"{correct}/{data.num_classes} children matched", paper="7/7")
    return exp.finish()


if __name__ == "__main__":
    sys.exit(run_script(main))
