"""Semantic scale S against sample count N per class, as radar charts (paper Fig. 7, App. D.4).

    python experiments/radar.py --profile quick
    python experiments/radar.py --profile paper --data-dir DATA   # Sec. 3.4's sets; Fig. 7's CUB, Cars, Mini-ImageNet

Sample-space S (Alg. 1) for each set in the config; alpha = 2 on long-tailed sets, 1 on balanced ones.
Claim: semantic scale imbalance is prevalent, also on sample-balanced sets (max S / min S above min_spread).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.measure import COLUMNS, measure_dataset  # noqa: E402
from semscale.report import radar_figure  # noqa: E402
from semscale.sets import named_set  # noqa: E402


def main(argv=None) -> int:
    exp = Experiment(__file__, argv)
    cfg = exp.config
    summary = []
    for spec in cfg["sets"]:
        train, alpha = named_set(spec, cfg["imbalance"], exp.args.data_dir)
        # File datasets (CUB, Cars196, Mini-ImageNet) stream through Alg. 1's sample space, never held in memory.
        table = measure_dataset(train, alpha=alpha, memory_budget=cfg.get("memory_budget", "4GB"))
        rows = table.rows()
        exp.table(f"scales_{spec}", rows, COLUMNS, title=f"{train.name}: sample-space semantic scales (alpha {alpha})")
        exp.figure(f"radar_{spec}", radar_figure(table.class_names, table.scales.s, table.counts,
                                                 f"{train.name} (alpha {alpha})"))
        s = table.scales.s
        spread = float(s.max() / s.min())
        balanced = bool(table.counts.max() <= 1.1 * table.counts.min())  # digits: 174-183 a class
        summary.append({"set": train.name, "classes": len(s), "balanced N": balanced, "alpha": alpha,
                        "max S / min S": spread, "max N / min N": float(table.counts.max() / table.counts.min()),
                        "weakest by S": ", ".join(table.weakest(3))})
        if balanced:
            exp.claim(f"imbalance_{spec}", f"{train.name}: S is imbalanced although N is balanced "
                      f"(max S / min S > {cfg['min_spread']})", spread > cfg["min_spread"], f"{spread:.2f}")
    exp.table("summary", summary, list(summary[0]), title="Semantic scale imbalance per set (sample space)")
    plt.close("all")
    return exp.finish()


if __name__ == "__main__":
    sys.exit(run_script(main))
