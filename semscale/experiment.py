"""The experiment framework: profiles, configs beside each script, checks, atomic outputs, cached models.

Each script under experiments/ builds an `Experiment`, reads `exp.config` (the `common` section of the YAML file
beside it, deep-merged with the profile's section, then the --set overrides: `--set a.b=1`, `--set backbones.0.width=8`),
writes tables and figures through it, states its checks, and calls `finish()`. `--print-config` prints the merged
config and exits.
Outputs go to results/<name>/ (quick profile) or results/<name>-<profile>/; nothing outside that folder is touched.

Two kinds of check:
  paper  a value within tolerance of the paper's (meaningful under the paper profile; 'not run' otherwise)
  claim  the paper's qualitative statement (an ordering, a sign, a monotone curve, a bound), under every profile;
         held only when the lower bound of its interval clears the threshold (semscale.stats.judge)
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import report

REPO = Path(__file__).resolve().parent.parent
PAPER_VALUES = REPO / "experiments" / "paper_values"  # one CSV per table
PROFILES = ("smoke", "quick", "paper")
CHECK_COLUMNS = ["id", "kind", "description", "paper", "ours", "difference", "verdict", "reason"]


@dataclass
class Check:
    id: str
    kind: str
    description: str
    paper: str
    ours: str
    difference: str
    verdict: str
    reason: str = ""


def paper_value(table: str, row: str, column: str) -> tuple[float, float]:
    """(value, tolerance) of a number printed in the paper, from experiments/paper_values/<table>.csv."""
    path = PAPER_VALUES / (table.lower().replace(" ", "_") + ".csv")
    with open(path, newline="") as handle:
        for entry in csv.DictReader(handle):
            if (entry["table"], entry["row"], entry["column"]) == (table, row, column):
                return float(entry["value"]), float(entry["tolerance"])
    raise KeyError(f"paper value ({table}, {row}, {column}) is not in {path}")


YAML11_WORDS = ("on", "off", "yes", "no", "y", "n")


def parse_override(text: str):
    """`a.b=value` -> (["a", "b"], value), the value read as YAML (`[0, 1]`, `{label: x, width: 4}`, `3`, `adam`)."""
    import yaml

    key, _, value = text.partition("=")
    if not key or not _:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    if value.strip().lower() in YAML11_WORDS:  # YAML 1.1 reads these as booleans; amp=off means the string "off"
        return key.split("."), value.strip()
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`; nested mappings merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def apply_override(config: dict, path: list[str], value, where: str) -> None:
    """Set config[a][b]... = value; every step must exist (a typo is an error naming the known keys)."""
    node = config
    for depth, step in enumerate(path):
        known = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        index = int(step) if isinstance(node, list) and step.lstrip("-").isdigit() else step
        if index not in known:
            dotted = ".".join(path[:depth + 1])
            raise SystemExit(f"--set {'.'.join(path)}: {dotted} is not a setting of {where} (settings there: "
                             f"{sorted(map(str, known))})")
        if depth == len(path) - 1:
            node[index] = value
        else:
            node = node[index]


def read_config(script: Path) -> tuple[dict, Path]:
    """The sections of the config beside a script: <name>.yaml (a <name>.toml is still read if no YAML exists)."""
    import yaml

    path = script.with_suffix(".yaml")
    if not path.exists() and script.with_suffix(".toml").exists():
        path = script.with_suffix(".toml")
        return tomllib.loads(path.read_text()), path
    try:
        sections = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SystemExit(f"{path}: not valid YAML: {error}") from None
    if not isinstance(sections, dict):
        raise SystemExit(f"{path}: expected sections common / smoke / quick / paper / expected at the top level")
    return sections, path


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return report.format_value(float(value))
    return str(value)


class Experiment:
    def __init__(self, script: str, argv=None, folder: str | None = None):
        self.script = Path(script)
        self.name = self.script.stem
        folder = folder or self.name
        doc = (sys.modules["__main__"].__doc__ or "").strip() if argv is None else ""
        parser = argparse.ArgumentParser(prog=f"python experiments/{self.name}.py", description=doc,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--profile", choices=PROFILES, default="quick",
                            help="smoke: seconds (tests); quick: embedded data on 2 CPU cores; paper: the paper's "
                            "datasets and settings")
        parser.add_argument("--set", action="append", type=parse_override, default=[], metavar="KEY=VALUE",
                            help="override a config value, nested with dots, the value in YAML (seeds=[0,1], "
                            "epochs=3, backbones.0.width=8)")
        parser.add_argument("--print-config", action="store_true", help="print the merged config (YAML) and exit")
        parser.add_argument("--out", default=None, help="output folder (default results/<name>[-<profile>])")
        parser.add_argument("--force", action="store_true", help="retrain cached models")
        parser.add_argument("--strict", action="store_true", help="exit 1 when a check is not held")
        parser.add_argument("--data-dir", default=None, help="folder searched first for datasets")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
        self.args = parser.parse_args(argv)
        self.profile = self.args.profile
        sections, config_path = read_config(self.script)
        if self.profile not in sections:
            raise SystemExit(f"{config_path}: no {self.profile} section")
        self.config = merge(sections.get("common") or {}, sections[self.profile] or {})
        for path, value in self.args.set:
            apply_override(self.config, path, value, self.name)
        self.expected = sections.get("expected", {})
        if self.args.print_config:
            import yaml

            print(yaml.safe_dump({"profile": self.profile, "config": self.config}, sort_keys=False,
                                 default_flow_style=None), end="")
            raise SystemExit(0)
        default = REPO / "results" / (folder if self.profile == "quick" else f"{folder}-{self.profile}")
        self.out = Path(self.args.out) if self.args.out else default
        self.checks: list[Check] = []
        self.started = time.time()
        self.progress = not self.args.quiet
        self._forced: set = set()

    # ------------------------------------------------------------------ outputs

    def table(self, name: str, rows: list[dict], columns: list[str], title: str = "", note: str = "") -> None:
        provenance = f"Profile {self.profile}; see record.json for commit, seeds and date."
        report.write_table(rows, columns, self.out / name, title=title, note=(note + "\n\n" + provenance).strip())

    def figure(self, name: str, figure) -> None:
        report.save_figure(figure, self.out / f"{name}.png")

    # ------------------------------------------------------------------ checks

    def claim(self, id: str, description: str, held, ours, paper="", reason: str = "") -> None:
        """A qualitative claim: held True/False, or None when it cannot be evaluated (reason says why)."""
        verdict = "not run" if held is None else ("held" if held else "not held")
        self.checks.append(Check(id, "claim", description, _fmt(paper), _fmt(ours), "", verdict, reason))

    def claim_interval(self, id: str, description: str, triple, threshold: float = 0.0, paper="", digits: int = 3,
                       signed: bool = False, note: str = "") -> None:
        """A claim judged by the one rule: held when the interval's lower bound clears the threshold."""
        from .stats import interval_text, judge

        held, reason = judge(triple[1], threshold)
        self.claim(id, description, held, interval_text(triple, digits, signed), paper,
                   "; ".join(part for part in (reason, note) if part))

    def paper_check(self, id: str, description: str, ours, table: str, row: str, column: str,
                    reason_off_profile: str = "", undefined_reason: str = "") -> None:
        """Within tolerance of the paper's number; judged only under the paper profile (other data otherwise)."""
        value, tolerance = paper_value(table, row, column)
        if ours is None or (isinstance(ours, float) and np.isnan(ours)):
            self.checks.append(Check(id, "paper", description, _fmt(value), "undefined", "", "not run",
                                     undefined_reason or "no value measured"))
            return
        difference = float(ours) - value
        if self.profile != "paper":
            self.checks.append(Check(id, "paper", description, _fmt(value), _fmt(ours), _fmt(difference), "not run",
                                     reason_off_profile or f"{self.profile} profile uses other data than the paper"))
            return
        verdict = "held" if abs(difference) <= tolerance else "not held"
        self.checks.append(Check(id, "paper", description, _fmt(value), _fmt(ours), _fmt(difference), verdict,
                                 f"tolerance {tolerance}"))

    # ------------------------------------------------------------------ finish

    def finish(self, **record) -> int:
        rows = [asdict(c) for c in self.checks]
        self.table("checks", rows, CHECK_COLUMNS, title=f"{self.name}: checks ({self.profile})")
        report.write_json(self.out / "config.json", {"profile": self.profile, "config": self.config,
                                                     "expected": self.expected})
        report.write_json(self.out / "record.json", report.run_record(
            experiment=self.name, profile=self.profile, command=" ".join([sys.executable] + sys.argv),
            seeds=self.config.get("seeds", self.config.get("seed")), wall_seconds=round(time.time() - self.started, 1),
            **record))
        print(report.markdown_table(rows, ["id", "paper", "ours", "difference", "verdict", "reason"]))
        failed = [c for c in self.checks if c.verdict == "not held"]
        print(f"{self.name}: {sum(c.verdict == 'held' for c in self.checks)} held, {len(failed)} not held, "
              f"{sum(c.verdict == 'not run' for c in self.checks)} not run -> {self.out}")
        return 1 if (self.args.strict and failed) else 0

    # ------------------------------------------------------------------ data and models

    def dataset(self, name: str, split: str = "train", **options):
        """A registered dataset (semscale datasets) or a folder; options go to load_dataset (in_memory=False
        streams a folder instead of reading it into memory)."""
        from .data import load_dataset

        return load_dataset(name, split, root=self.args.data_dir, **options)

    def train(self, train_set, **settings):
        """A fitted Trainer for this training set and TrainConfig settings, cached by a hash of both."""
        from .features import trained
        from .train import TrainConfig

        config = TrainConfig(**settings)
        force = self.args.force and config.key() not in self._forced  # retrain once per run, then reuse
        self._forced.add(config.key())
        return trained(train_set, config, progress=self.progress, force=force)

    def evaluate(self, trainer, test_set, groups: dict | None = None) -> dict:
        """Test metrics of a trained model on any dataset, in memory or streamed (engine.evaluation.evaluate: the
        loss's inference rule applied; head / middle / tail by the paper's training-count bands). `groups`: more
        splits of the classes, {name: a head / middle / tail name per class}, each reported as metrics[name]."""
        from .engine.evaluation import evaluate
        from .evaluate import confusion_group_accuracy

        metrics = evaluate(trainer.network, trainer.config, test_set, None, trainer.counts, trainer.criterion)
        for name, split in (groups or {}).items():
            metrics[name] = confusion_group_accuracy(metrics["confusion"], split)
        return metrics

    def features(self, trainer, dataset) -> np.ndarray:
        """The 64-d pool features (App. F.2) of every sample, streamed with the run's evaluation transform."""
        from .features import extract_features

        return extract_features(trainer.network, dataset, config=trainer.config)

    def classifier_results(self, trainer, train_set, test_set, alpha: float) -> dict:
        """Per-class test accuracy and the feature-space scale table (64-d pooled training features) of a model."""
        from .evaluate import classification_metrics
        from .features import extract_features
        from .measure import measure
        from .train import predict, to_tensor_images

        scores = predict(trainer.network, to_tensor_images(test_set.images))
        metrics = classification_metrics(test_set.labels, scores)
        features = extract_features(trainer.network, train_set.images)
        table = measure(features, train_set.labels, train_set.num_classes, train_set.classes, alpha=alpha,
                        name=train_set.name, space="feature")
        return {"metrics": metrics, "feature_table": table}


def run_script(main) -> int:
    """An experiment script's entry point (`sys.exit(run_script(main))`): its main(), where a dataset that is missing
    or malformed on disk or an image file that cannot be decoded, the user's to fix, ends with the loader's message
    (the folders searched, the file or line at fault) and exit status 2 instead of a traceback. Any other error
    keeps its traceback: it is ours."""
    from .data.base import USER_FAULTS, error_text

    try:
        return main()
    except USER_FAULTS as error:
        print(f"{Path(sys.argv[0]).name}: error: {error_text(error)}", file=sys.stderr)
        return 2
