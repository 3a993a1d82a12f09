"""Result tables (pandas, CSV + Markdown), figures (300 dpi PNG + PDF) and the run record."""
import csv
import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from semscale import report  # noqa: E402

ROWS = [{"name": "a", "value": 0.1, "count": 1}, {"name": "b", "value": float("nan"), "count": 2},
        {"name": "c", "value": np.float64(1 / 3)}, {"name": "d", "value": 1e-9, "count": np.int64(3)}]


def _reference_csv(rows, columns):
    # The standard library's writer, floats as repr: what the CSV files looked like before pandas.
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: repr(float(v)) if isinstance(v, float) else v for c, v in row.items()})
    return buffer.getvalue()


def test_csv_is_full_precision_and_keeps_types():
    text = report.csv_text(ROWS, ["name", "value", "count"])
    assert text == _reference_csv(ROWS, ["name", "value", "count"])
    back = pd.read_csv(io.StringIO(text))
    assert back["value"].iloc[2] == 1 / 3 and np.isnan(back["value"].iloc[1])


def test_markdown_rounds_and_leaves_gaps_empty():
    lines = report.markdown_table(ROWS, ["name", "value", "count"]).splitlines()
    assert lines[0] == "| name | value | count |"
    assert lines[2] == "| a | 0.1000 | 1 |" and lines[3] == "| b | undefined | 2 |"
    assert lines[4] == "| c | 0.3333 |  |" and lines[5] == "| d | 1.00e-09 | 3 |"


def test_write_table_from_rows_or_dataframe(tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})
    report.write_table(frame, None, tmp_path / "t", title="T", note="provenance")
    assert (tmp_path / "t.csv").read_text() == "x,y\n1,0.5\n2,0.25\n"
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("# T\n\n| x | y |") and md.rstrip().endswith("provenance")
    report.write_table(ROWS, ["value", "name"], tmp_path / "u")  # a column subset, in the given order
    assert (tmp_path / "u.csv").read_text().splitlines()[:2] == ["value,name", "0.1,a"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_figures_are_300_dpi_png_and_pdf(tmp_path):
    figure, axis = plt.subplots(figsize=(2, 1))
    axis.plot([0, 1], [0, 1])
    path = report.save_figure(figure, tmp_path / "f.png")
    assert path == tmp_path / "f.png"
    with Image.open(path) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.5)
        assert image.size[0] >= 2 * 300 * 0.8  # 2 inches wide at 300 dpi, less what bbox_inches trims
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def test_run_record_names_machine_and_code(monkeypatch):
    monkeypatch.setenv("SEMSCALE_THREADS", "1")
    record = report.run_record(profile="smoke")
    assert record["profile"] == "smoke" and record["SEMSCALE_THREADS"] == "1"
    assert record["cpu"] and record["cpu"] != "unknown" and record["gpu"]
    assert len(record["training_code_hash"]) == 12 and record["torch_threads"] >= 1


def test_model_cache_key_covers_the_training_code(monkeypatch, tmp_path):
    from semscale import features

    names = {p.relative_to(p.parents[1] if p.parent.name != "semscale" else p.parent).as_posix()
             for p in features.training_code_files()}
    for needed in ("train.py", "engine/trainer.py", "pool.py", "weighting.py", "models/network.py",
                   "losses/registry.py", "methods/base.py", "moments.py", "volume.py", "scales.py", "sample_space.py",
                   "transforms.py"):
        assert needed in names
    assert not {"cli.py", "report.py", "stats.py", "experiment.py"} & names
    assert not any(n.startswith("data/") for n in names)
    # The hash moves with the content of any of these files.
    before = features.training_code_hash()
    real_read = type(features.training_code_files()[0]).read_bytes

    def edited(path):
        data = real_read(path)
        return data + b"# edited\n" if path.name == "weighting.py" else data

    monkeypatch.setattr(type(features.training_code_files()[0]), "read_bytes", edited)
    assert features.training_code_hash() != before
    monkeypatch.undo()

    class Config:
        def key(self):
            return "k"

    class Data:
        labels = np.zeros(3, dtype=np.int64)
        images = np.zeros((3, 2, 2, 1), dtype=np.uint8)

    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path))
    assert features.model_path(Data(), Config()).name.endswith(f"-k-{before}.pt")


def test_json_is_strict_undefined_numbers_are_null(tmp_path):
    import json

    from semscale.report import write_json

    payload = {"head": float("nan"), "top1": 0.5, "per_class": np.array([0.25, np.nan, np.inf]),
               "history": [{"tail": np.float64("nan"), "epoch": 1}], "scale": np.float32(-np.inf), "n": np.int64(3)}
    path = write_json(tmp_path / "m.json", payload)

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    back = json.loads(path.read_text(), parse_constant=refuse)
    assert back == {"head": None, "top1": 0.5, "per_class": [0.25, None, None], "history": [{"tail": None, "epoch": 1}],
                    "scale": None, "n": 3}
