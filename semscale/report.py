"""Everything that writes results: atomic files, tables (pandas DataFrames written as CSV and Markdown), figures
(300 dpi PNG plus PDF), and the run's record."""
from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def format_value(value, digits: int = 4) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "undefined" if np.isnan(value) else str(value)
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.2e}"  # tiny differences stay visible instead of rounding to 0.0000
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


def as_frame(rows, columns: list[str] | None = None):
    """A pandas DataFrame from a list of row dicts (only `columns`, in that order) or from a DataFrame."""
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return rows if columns is None else rows.loc[:, list(columns)]
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    # dtype object keeps each cell's Python type (an int column with a gap stays ints); a missing key is "".
    return pd.DataFrame([[row.get(c, "") for c in columns] for row in rows], columns=list(columns), dtype=object)


def markdown_table(rows, columns: list[str] | None = None, digits: int = 4) -> str:
    """A Markdown table of rows (dicts or a DataFrame), floats rounded to `digits` (format_value)."""
    frame = as_frame(rows, columns)
    head = "| " + " | ".join(map(str, frame.columns)) + " |\n|" + "|".join("---" for _ in frame.columns) + "|\n"
    body = "".join("| " + " | ".join(format_value(v, digits) for v in row) + " |\n"
                   for row in frame.itertuples(index=False, name=None))
    return head + body


def csv_text(rows, columns: list[str] | None = None) -> str:
    """Full-precision CSV (floats as Python's repr, nan as 'nan')."""
    frame = as_frame(rows, columns)
    return frame.to_csv(index=False, lineterminator="\n", na_rep="nan", float_format=None)


def write_table(rows, columns: list[str] | None, stem, title: str = "", note: str = "") -> tuple[Path, Path]:
    """stem.csv (full precision) and stem.md (rounded, with a title and a provenance note), from row dicts or a
    DataFrame."""
    stem = Path(stem)
    frame = as_frame(rows, columns)
    csv_path = atomic_write_text(stem.with_suffix(".csv"), csv_text(frame))
    parts = [f"# {title}\n\n" if title else "", markdown_table(frame), f"\n{note}\n" if note else ""]
    md_path = atomic_write_text(stem.with_suffix(".md"), "".join(parts))
    return csv_path, md_path


FIGURE_DPI = 300


def save_figure(figure, path) -> Path:
    """The figure as a 300 dpi PNG at `path` and a vector PDF beside it (same stem); returns the PNG's path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    for target, kind in ((path.with_suffix(".png"), "png"), (path.with_suffix(".pdf"), "pdf")):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=FIGURE_DPI, bbox_inches="tight")
        atomic_write_bytes(target, buffer.getvalue())
    plt.close(figure)
    return path.with_suffix(".png")


SOURCE_PATHS = ("semscale", "experiments", "tests", "run_all.sh", "run_tests.sh", "requirements.txt", "pyproject.toml")


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        # Dirty means changed code or settings; the outputs a run rewrites (results/, figures/, README) do not count.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    """/proc/cpuinfo's "model name" (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_record(**fields) -> dict:
    """Commit, date, machine (CPU and GPU model, cores, threads), the training-code hash that keys cached models,
    and whatever the caller adds (profile, seeds, settings, wall time)."""
    import torch

    from .features import training_code_hash

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
            "cpu": cpu_model(), "gpu": gpu, "usable_cores": cores, "torch_threads": torch.get_num_threads(),
            "SEMSCALE_THREADS": os.environ.get("SEMSCALE_THREADS", ""),
            "training_code_hash": training_code_hash(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__, **fields}


def write_json(path, payload: dict) -> Path:
    """Strict JSON (any parser reads it): a NaN or infinity, an undefined metric such as the accuracy of a band
    with no class, is written as null, not as Python's NaN."""
    text = json.dumps(_finite_or_null(payload), indent=2, default=_json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _finite_or_null(value):
    if isinstance(value, float):  # numpy's float64 too
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    return value


def _json_default(value):
    if isinstance(value, np.ndarray):
        return _finite_or_null(value.tolist())
    if isinstance(value, (np.integer, np.floating)):
        return _finite_or_null(value.item())
    return str(value)


def radar_figure(class_names, scales, counts, title: str = ""):
    """Paper Fig. 7: S and N per class on one radar chart, each max-normalised so both fit one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(class_names)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    closed = np.concatenate([angles, angles[:1]])
    figure, axis = plt.subplots(figsize=(6, 6), subplot_kw={"projection": "polar"})
    for values, label, colour in ((scales, "semantic scale S (max-normalised)", "tab:red"),
                                  (counts, "sample count N (max-normalised)", "tab:blue")):
        values = np.asarray(values, dtype=float)
        values = values / values.max() if values.max() > 0 else values
        axis.plot(closed, np.concatenate([values, values[:1]]), color=colour, label=label)
        axis.fill(closed, np.concatenate([values, values[:1]]), color=colour, alpha=0.15)
    axis.set_xticks(angles)
    axis.set_xticklabels([str(n) for n in class_names], fontsize=8)
    axis.set_ylim(0, 1.05)
    axis.set_title(title, pad=20)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8)
    return figure
