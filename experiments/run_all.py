"""Run every experiment under one profile, one progress line each, then write results/REPORT.md.

    python experiments/run_all.py --profile quick [--strict] [--only NAME ...]
    python experiments/run_all.py --profile quick --compare [--only NAME ...]   # regression check

Each experiment runs in its own process (a crash in one does not stop the others) and writes only its own
folder; the report collects their checks. --strict exits 1 when any check is not held or an experiment failed.

--compare reruns the experiments into a fresh folder with a fresh model cache (nothing reused), leaves results/
untouched, and reports every number that moved beyond its tolerance from the committed results beside the paper's
value (semscale/regression.py: the committed seed interval for trained numbers, a float tolerance for
deterministic ones) and every claim whose verdict changed, and how many tables are the same cell for cell, timing
columns aside (the same seeds on the same machine kind should give the same cells); COMPARE.md / COMPARE.csv in the
rerun folder. It exits 1 when anything moved.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from semscale.report import atomic_write_bytes, atomic_write_text, git_commit, markdown_table  # noqa: E402

# (script, what it reproduces, quick-profile budget in minutes: about the minutes measured alone on a 2-core VM,
#  results/timing/quick_run_empty_cache.md; lt_classification 25.2 and bench_dsb 8.6 there)
EXPERIMENTS = [
    ("stanford", "App. C, Fig. 6: scaled point clouds; ranking vs the scale s", 2),
    ("radar", "Fig. 7, App. D.4: S and N per class", 2),
    ("marginal_effect", "Fig. 2, Table 6, App. J: marginal effect of semantic scale", 10),
    ("pearson", "Table 1: correlation of per-class accuracy with N, E_n, W, S', S", 10),
    ("class_bias", "Figs. 3-4, Table 7: class-wise accuracy against S", 8),
    ("hierarchy", "App. K, Table 12: can S capture the class hierarchy?", 4),
    ("data_tools", "App. I: pizza selection and the data-collection stopping rule", 4),
    ("lt_classification", "Sec. 5.1, Table 2, Figs. 17-18: the loss rows with and without DSB on long-tailed data", 27),
    ("balanced_classification", "Sec. 5.2, Table 3, Fig. 19: CE against DSB-CE across backbones on balanced data", 14),
    ("warmup_epochs", "Sec. 4.2, Fig. 5: the stage-2 length n does not hurt", 7),
    ("metric_learning", "Sec. 5.3, Tables 4, 5, 8, 9: NormSoftmax and SoftTriple with CB and DSB", 12),
    ("generalized_long_tail", "App. H.3, Table 11: CLT / GLT / ALT with and without DSB", 8),
    ("medical", "App. D.6, Figs. 10-12: OIA-ODIR and OIA-ODIR-B (the user's data; not embedded)", 1),
    ("remote_sensing", "App. D.7, Figs. 14-15: RSSCN7 and NWPU-RESISC45 (the user's data; not embedded)", 1),
    ("bench_dsb", "App. F.2, Table 10: speed and memory of the dynamic framework", 9),
]


FOLDERS = {"bench_dsb": "bench"}  # the benchmark writes results/bench/


def output_dir(results: Path, name: str, profile: str) -> Path:
    folder = FOLDERS.get(name, name)
    return results / (folder if profile == "quick" else f"{folder}-{profile}")


def read_checks(folder: Path) -> list[dict]:
    path = folder / "checks.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_report(results: Path, profile: str, outcomes: list[dict]) -> Path:
    lines = [f"# Replication report ({profile} profile)\n",
             f"Assembled at commit `{git_commit()}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
             f"`python experiments/run_all.py --profile {profile}`. Every number below comes from the experiment's "
             "own folder; the commit and date columns are those of the run that wrote it (its record.json also has "
             "the seeds, wall time and machine).\n",
             "A `claim` is the paper's qualitative statement checked on our data, held only when the lower bound of "
             "its 95% interval clears the claim's threshold (correlations on Fisher's z over classes and seeds, "
             "accuracies and their paired differences as t-intervals over seeds kept inside their range; "
             "semscale/stats.py); a `paper` check compares with the paper's printed number and is judged only "
             "under the paper profile.\n",
             "## Summary\n"]
    summary = [{"experiment": f"[{o['name']}]({o['link']}/)", "reproduces": o["what"], "status": o["status"],
                "held": o["held"], "not held": o["not_held"], "not run": o["not_run"],
                "minutes": f"{o['seconds'] / 60:.1f}", "commit": o["record"].get("commit", "")[:10],
                "date": o["record"].get("date", "")[:10]} for o in outcomes]
    lines.append(markdown_table(summary, list(summary[0])))
    for o in outcomes:
        lines.append(f"\n## {o['name']}: {o['what']}\n")
        folder = results / o["link"]
        figures = sorted(p.name for p in folder.glob("*.png"))
        tables = sorted(p.name for p in folder.glob("*.md") if p.name != "checks.md")
        if tables:
            lines.append("Tables: " + ", ".join(f"[{t}]({o['link']}/{t})" for t in tables) + "\n")
        for figure in figures[:4]:
            lines.append(f"\n![{figure}]({o['link']}/{figure})\n")
        if o["checks"]:
            lines.append("\n" + markdown_table(o["checks"], ["id", "kind", "description", "paper", "ours",
                                                             "verdict", "reason"]))
        elif o["status"] != "ok":
            lines.append(f"\nFailed: {o['error']}\n")
    lines += gpu_section(results)
    name = "REPORT.md" if profile == "quick" else f"REPORT-{profile}.md"
    if profile == "quick" and results == ROOT / "results":
        update_readme(lines[1], markdown_table(summary, list(summary[0])), outcomes)
        copy_key_figures(results)
    return atomic_write_text(results / name, "\n".join(lines) + "\n")


def gpu_section(results: Path) -> list[str]:
    """bench_dsb's run on a GPU machine (results/bench_gpu, written there by hand: run_all never has a GPU here),
    with its own machine, commit and date; nothing when there is none."""
    folder = results / "bench_gpu"
    if not (folder / "checks.csv").exists():
        return []
    with open(folder / "checks.csv", newline="") as handle:
        checks = list(csv.DictReader(handle))
    record = json.loads((folder / "record.json").read_text()) if (folder / "record.json").exists() else {}
    return [f"\n## bench_dsb on a GPU ({record.get('gpu', 'GPU')}, {record.get('date', '')[:10]})\n",
            "Not rerun by this script (no GPU here): the one run of `experiments/bench_dsb.py --profile quick` on a "
            "lent GPU machine; its [README](bench_gpu/README.md) says which commit ran and what each number means.\n",
            "\n" + markdown_table(checks, ["id", "description", "ours", "verdict", "reason"])]


README_START, README_END = "<!-- report:start -->", "<!-- report:end -->"

# The paper's figures, as reproduced by the quick profile: figures/<name> <- results/<experiment folder>/<file>.
KEY_FIGURES = {
    "fig2_marginal_effect.png": "marginal_effect/marginal_effect.png",
    "fig3_4_classwise_accuracy.png": "class_bias/classwise.png",
    "fig6_point_clouds.png": "stanford/point_clouds.png",
    "fig7_radar_fashion-mnist.png": "radar/radar_fashion-mnist.png",
    "fig7_radar_fashion-mnist-lt.png": "radar/radar_fashion-mnist-lt.png",
    "appI_stopping_rule.png": "data_tools/stopping_rule.png",
    "table2_lt_gains.png": "lt_classification/gains_fashion_mnist_lt.png",
    "table3_balanced_gains.png": "balanced_classification/gains.png",
    "fig5_warmup_epochs.png": "warmup_epochs/top1_by_n.png",
    "tables4-9_metric_gains.png": "metric_learning/gains.png",
    "table11_glt_protocols.png": "generalized_long_tail/protocols.png",
}


def copy_key_figures(results: Path) -> None:
    for name, source in KEY_FIGURES.items():
        if (results / source).exists():
            atomic_write_bytes(ROOT / "figures" / name, (results / source).read_bytes())


def update_readme(provenance: str, summary: str, outcomes: list[dict]) -> None:
    """Replace the README's report block with this run's summary, its claims and links to the key figures."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return
    rows = [{"experiment": o["name"], "claim": c["description"], "ours": c["ours"], "verdict": c["verdict"]}
            for o in outcomes for c in o["checks"] if c["kind"] == "claim"]
    block = "\n".join([README_START, "", provenance, summary.replace("](", "](results/"), "<details><summary>Every "
                        "claim checked on the quick profile</summary>\n", markdown_table(rows, list(rows[0])) if rows
                        else "", "</details>\n", README_END])
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    atomic_write_text(readme, text[:start] + block + text[end:])


def failure_line(name: str, stderr: str) -> str:
    """What a failed script said, on one line: its own 'NAME.py: error: ...' message (run_script's, for a dataset
    missing or malformed on disk) with the indented lines after it (the folders searched), else the last line (a
    traceback's exception)."""
    lines = stderr.strip().splitlines() or ["?"]
    own = [i for i, line in enumerate(lines) if line.startswith(f"{name}.py: error: ")]
    if not own:
        return lines[-1]
    first, listed = own[-1], []
    for line in lines[own[-1] + 1:]:
        if not line.startswith("  "):
            break
        listed.append(line.strip())
    return " ".join([lines[first], ", ".join(listed)]) if listed else lines[first]


def run_experiments(selected, results: Path, profile: str, env=None) -> list[dict]:
    """Run the selected experiments into results/<folder>; an outcome (status, checks, record) for every experiment."""
    outcomes = []
    for number, (name, what, budget) in enumerate(EXPERIMENTS, 1):
        folder = output_dir(results, name, profile)
        outcome = {"name": name, "what": what, "link": folder.name, "seconds": 0.0,
                   "status": "ok", "error": ""}
        if (name, what, budget) in selected:
            print(f"[{number}/{len(EXPERIMENTS)}] {name} (budget {budget} min) ...", end=" ", flush=True)
            started = time.time()
            run = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--profile",
                                  profile, "--quiet", "--out", str(folder)], cwd=ROOT, capture_output=True,
                                 text=True, env=env)
            outcome["seconds"] = time.time() - started
            if run.returncode != 0:
                outcome["status"], outcome["error"] = "failed", failure_line(name, run.stderr)
        elif (folder / "record.json").exists():
            outcome["seconds"] = json.loads((folder / "record.json").read_text()).get("wall_seconds", 0.0)
            outcome["status"] = "ok"
        else:
            outcome["status"] = "not run"
        checks = read_checks(folder)
        outcome["record"] = json.loads((folder / "record.json").read_text()) if (folder / "record.json").exists() \
            else {}
        outcome.update(checks=checks, held=sum(c["verdict"] == "held" for c in checks),
                       not_held=sum(c["verdict"] == "not held" for c in checks),
                       not_run=sum(c["verdict"] == "not run" for c in checks))
        if (name, what, budget) in selected:
            over = " OVER BUDGET" if outcome["seconds"] > 60 * budget and profile == "quick" else ""
            print(f"{outcome['status']} in {outcome['seconds'] / 60:.1f} min{over}: {outcome['held']} held, "
                  f"{outcome['not_held']} not held, {outcome['not_run']} not run"
                  + (f" ({outcome['error']})" if outcome["error"] else ""), flush=True)
        outcomes.append(outcome)
    return outcomes


def compare(selected, committed: Path, profile: str, rerun: Path | None, keep_cache: bool) -> int:
    """Rerun into `rerun` (a fresh folder) with a fresh model cache, then report what moved from `committed`."""
    from semscale.regression import compare_folders, identical_tables, report

    rerun = Path(rerun) if rerun else Path(tempfile.mkdtemp(prefix=f"semscale-rerun-{profile}-"))
    env = dict(os.environ)
    if not keep_cache:  # a cached model would be reused and agree with itself: train everything again
        from semscale.data.paths import cache_dir

        cache = rerun / ".cache"
        cache.mkdir(parents=True, exist_ok=True)
        if (cache_dir() / "pointclouds").exists() and not (cache / "pointclouds").exists():
            (cache / "pointclouds").symlink_to(cache_dir() / "pointclouds")  # data, not models
        env["SEMSCALE_CACHE"] = str(cache)
    outcomes = run_experiments(selected, rerun, profile, env)
    folders = [output_dir(rerun, name, profile).name for name, _, _ in selected]
    compared, moved = compare_folders(committed, rerun, folders)
    report(compared, moved, f"Regression check ({profile}): rerun at `{git_commit()}` against {committed}",
           rerun / "COMPARE", identical_tables(committed, rerun, folders))
    print(f"comparison: {rerun / 'COMPARE.md'}")
    failed = any(o["status"] == "failed" for o in outcomes)
    return 1 if moved or failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["smoke", "quick", "paper"], default="quick")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check is not held or a run failed")
    parser.add_argument("--only", nargs="*", default=None, help="run only these experiments (report keeps others)")
    parser.add_argument("--results", default=str(ROOT / "results"), help="results folder (default results/); with "
                        "--compare, the committed results compared against")
    parser.add_argument("--compare", action="store_true", help="rerun into a fresh folder and report every number "
                        "that moved beyond its tolerance from --results")
    parser.add_argument("--rerun-into", default=None, help="with --compare: the rerun's folder (default: a new "
                        "temporary folder)")
    parser.add_argument("--keep-cache", action="store_true", help="with --compare: reuse cached models")
    args = parser.parse_args(argv)
    results = Path(args.results).resolve()
    unknown = set(args.only or []) - {e[0] for e in EXPERIMENTS}
    if unknown:
        parser.error(f"--only: unknown experiment(s) {sorted(unknown)}; known: {[e[0] for e in EXPERIMENTS]}")
    selected = [e for e in EXPERIMENTS if args.only is None or e[0] in args.only]
    if args.compare:
        return compare(selected, results, args.profile, args.rerun_into, args.keep_cache)
    outcomes = run_experiments(selected, results, args.profile)
    report = write_report(results, args.profile, outcomes)
    print(f"report: {report}")
    failed = any(o["status"] == "failed" for o in outcomes)
    not_held = any(o["not_held"] for o in outcomes)
    return 1 if failed or (args.strict and not_held) else 0


if __name__ == "__main__":
    sys.exit(main())
