"""Every paper number kept as data (experiments/paper_values/*.csv) sits in its own cell of the paper's table.

The paper (../shared/paper) prints its tables as tab-separated blocks below a "Table N:" caption, with one or two
header rows (an upper row whose labels span the empty cells to their right, e.g. "S" over the alpha columns) and
label columns on the left that are left empty when they repeat the row above. We parse those blocks into cells
addressed by (row labels, column header path) and look each CSV value up in the cell its table/row/column name.
"""
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ../shared/paper beside a checkout in /work; a worktree one level deeper (/work/wt/<name>) finds it one further up
PAPER = next((base / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md"
              for base in (ROOT, ROOT.parent, ROOT.parent.parent)
              if (base / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md").exists()),
             ROOT.parent / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md")
VALUES = ROOT / "experiments" / "paper_values"
NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?")
needs_paper = pytest.mark.skipif(not PAPER.exists(), reason="../shared/paper is not beside this checkout")


def clean(text: str) -> str:
    """Header or label text without Markdown/LaTeX markup: '$\\alpha=1.5$' -> 'alpha=1.5', '<b>x</b>' -> 'x'."""
    text = re.sub(r"</?b>", "", text).replace("$", "").replace("\\", "")
    return " ".join(text.split())


@dataclass
class PaperCell:
    value: float | None     # the number printed first in the cell ('-' gives None)
    gain: float | None      # the parenthesised change printed after it, as in '21.4(+13.7)'
    text: str


def parse_cell(text: str) -> PaperCell:
    text = clean(text)
    number = NUMBER.match(text)
    gain = re.search(r"\(([-+]\d+(?:\.\d+)?)\)", text)
    return PaperCell(float(number.group()) if number else None, float(gain.group(1)) if gain else None, text)


@dataclass
class PaperTable:
    columns: list           # header path per column, e.g. ('S', 'alpha=1.5')
    cells: dict             # (row labels, column path) -> PaperCell

    def cell(self, row: tuple, column: tuple) -> PaperCell:
        if (row, column) not in self.cells:
            rows = sorted({r for r, _ in self.cells})
            raise KeyError(f"no cell at row {row} / column {column}; rows: {rows}; columns: {self.columns}")
        return self.cells[row, column]


def parse_block(lines: list[str]) -> PaperTable:
    rows = [line.split("\t") for line in lines]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    first_data = next(i for i, r in enumerate(rows) if any(NUMBER.match(clean(c)) for c in r[1:]))
    headers = rows[:first_data]
    labels = next(i for i, c in enumerate(rows[first_data]) if NUMBER.match(clean(c)) or clean(c) == "-")
    levels = []
    for level, header in enumerate(headers):
        filled, current = [], ""
        for text in header:
            # an upper header row spans the empty cells to its right; the lowest row names single columns
            current = clean(text) if text.strip() or level == len(headers) - 1 else current
            filled.append(current)
        levels.append(filled)
    columns = [tuple(level[c] for level in levels if level[c]) for c in range(width)]
    cells, previous = {}, [""] * labels
    for r in rows[first_data:]:
        key = [clean(r[c]) or previous[c] for c in range(labels)]
        previous = key
        for c in range(labels, width):
            if r[c].strip():
                cells[tuple(key), columns[c]] = parse_cell(r[c])
    return PaperTable(columns, cells)


def paper_tables(text: str) -> dict[str, PaperTable]:
    """'Table N' -> its parsed block: the first tab-separated lines within three lines below the caption."""
    lines, tables = text.splitlines(), {}
    for i, line in enumerate(lines):
        caption = re.match(r"(Table \d+):", line)
        if not caption:
            continue
        start = next((j for j in range(i + 1, min(i + 4, len(lines))) if "\t" in lines[j]), None)
        if start is None:
            continue
        end = start
        while end < len(lines) and "\t" in lines[end]:
            end += 1
        tables[caption.group(1)] = parse_block(lines[start:end])
    return tables


# How each CSV names a paper cell. The CSV's row/column names are what the experiments ask for
# (semscale.experiment.paper_value), so they stay; this maps them onto the paper's own labels.
TABLE2_GROUPS = {"ImageNet-LT": "ImageNet-LT(ResNeXt50)", "iNaturalist": "iNaturalist 2018(ResNet50)"}


def paper_address(table: str, row: str, column: str):
    """(row labels, column path, which number of the cell: 'value' or 'gain')."""
    if table == "Table 1":                       # row '<dataset> <model>', column 'S alpha=2' or 'N', "S'", ...
        dataset, model = row.rsplit(" ", 1)
        return (dataset, model), tuple(column.split(" ")), "value"
    if table == "Table 2":                       # row '<method>' or '<method> minus CE', column '<data> <subset>'
        group, subset = column.rsplit(" ", 1)
        method, minus, _ = row.partition(" minus ")
        return (method,), (TABLE2_GROUPS[group], subset), "gain" if minus else "value"
    if table == "Table 10":                      # row '<method>', column '<dataset> it/s'
        dataset = column.removesuffix(" it/s")
        return (dataset,), ("Training speed", row), "value"
    raise AssertionError(f"{table}: add to paper_address how this table's CSV rows and columns name its cells")


def csv_rows():
    files = sorted(VALUES.glob("*.csv"))
    assert files, f"no CSV in {VALUES}"
    for path in files:
        with open(path, newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield path, line, row


@pytest.fixture(scope="module")
def tables():
    return paper_tables(PAPER.read_text())


@needs_paper
def test_parser_reads_known_cells(tables):
    """Cells read off the paper by eye, so a parser that shifts rows or columns fails here first."""
    assert tables["Table 1"].cell(("CIFAR-10", "ResNet-34"), ("S", "alpha=2")).value == 0.6870
    assert tables["Table 1"].cell(("CIFAR-10-LT", "ResNet-18"), ("W",)).value == 0.2957
    dsb = tables["Table 2"].cell(("DSB-CE",), ("ImageNet-LT(ResNeXt50)", "Tail"))
    assert (dsb.value, dsb.gain) == (21.4, 13.7)
    assert tables["Table 2"].cell(("Focal [11]",), ("iNaturalist 2018(ResNet50)", "Head")).value is None
    assert tables["Table 10"].cell(("Cars196",), ("GPU Memory", "DSB-ST")).text == "4097 MB"


@needs_paper
def test_each_paper_value_sits_in_its_own_cell(tables):
    seen = set()
    for path, line, row in csv_rows():
        where = f"{path.name}:{line} {row}"
        key = (row["table"], row["row"], row["column"])
        assert key not in seen, f"{where}: the same cell twice"
        seen.add(key)
        assert path.stem == row["table"].lower().replace(" ", "_"), f"{where}: in the wrong file"
        assert float(row["tolerance"]) >= 0, where
        assert row["table"] in tables, f"{where}: no tab-separated block under '{row['table']}:' in the paper"
        labels, column, part = paper_address(*key)
        cell = tables[row["table"]].cell(labels, column)
        printed = getattr(cell, part)
        assert printed is not None and float(row["value"]) == printed, \
            f"{where}: the paper prints {cell.text!r} at row {labels}, column {column}"


@needs_paper
def test_table2_gains_are_the_differences_of_their_cells(tables):
    """A 'DSB-CE minus CE' value is the printed gain, and that gain is DSB-CE's cell minus CE's cell."""
    table = tables["Table 2"]
    for path, line, row in csv_rows():
        if row["table"] == "Table 2" and " minus " in row["row"]:
            method, base = row["row"].split(" minus ")
            _, column, _ = paper_address(row["table"], row["row"], row["column"])
            difference = table.cell((method,), column).value - table.cell((base,), column).value
            assert float(row["value"]) == pytest.approx(difference, abs=1e-9), f"{path.name}:{line}"


def test_parser_on_a_hand_written_block():
    block = ["Data\tModel\tA\tB\t", "\t\t\tx\ty", "D1\tm1\t1.5\t<b>2</b>\t3(+1.0)", "\tm2\t-\t4\t5"]
    table = parse_block(block)
    assert table.columns == [("Data",), ("Model",), ("A",), ("B", "x"), ("B", "y")]
    assert table.cell(("D1", "m1"), ("A",)).value == 1.5
    assert table.cell(("D1", "m1"), ("B", "x")).value == 2.0
    assert table.cell(("D1", "m1"), ("B", "y")).gain == 1.0
    assert table.cell(("D1", "m2"), ("A",)).value is None
    assert table.cell(("D1", "m2"), ("B", "y")).value == 5.0
