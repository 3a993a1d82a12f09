"""The paper's tables as cells: a parser for the tab-separated blocks below each "Table N:" caption.

One to three header rows (an upper row whose labels span the empty cells to their right, e.g. "S" over the alpha
columns, or the imbalance factors 10 / 50 / 200 of Tables 5 and 8) and label columns on the left that are left
empty when they repeat the row above. Blocks become cells addressed by (row labels, column header path). Two quirks
of Table 11 are handled explicitly: its '< Accuracy Precision >' header and its last row printed without the group
cell. Used by tests/test_paper_values.py.
"""
import re
from dataclasses import dataclass

NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?")


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


def first_number(row: list[str], default: int | None = None) -> int:
    """Index of the row's first number or '-' cell: the label cells lie before it."""
    found = (i for i, c in enumerate(row) if NUMBER.match(clean(c)) or clean(c) == "-")
    return next(found) if default is None else next(found, default)


# IFL's header '< Accuracy Precision >' (Table 11): every span of that header row ('Overall' under each protocol)
# holds one column per name, in turn, each cell pair being <accuracy, precision>
PAIRED = re.compile(r"^<\s*(.+?)\s*>$")


def paired_level(header: list[str], labels: int, names: list[str]) -> list[str]:
    level, start = [], None
    for c, text in enumerate(header):
        if c >= labels and text.strip():
            start = c
        level.append(names[(c - start) % len(names)] if c >= labels and start is not None else "")
    return level


def parse_block(lines: list[str]) -> PaperTable:
    rows = [line.split("\t") for line in lines]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    # the first data row has numbers in two neighbouring cells; a header row's numbers ('10', '50', '200' as
    # imbalance factors in Tables 5 and 8) each head a span, so an empty cell follows them
    numeric = [[bool(NUMBER.match(clean(c))) for c in r] for r in rows]
    first_data = next((i for i, n in enumerate(numeric) if any(a and b for a, b in zip(n, n[1:]))), None)
    if first_data is None:
        raise ValueError(f"table block starting {lines[0][:60]!r}: no row with two neighbouring numbers")
    headers = rows[:first_data]
    labels = first_number(rows[first_data])
    levels = []
    for level, header in enumerate(headers):
        paired = PAIRED.match(clean(header[0]))
        filled, current = [], ""
        for text in header:
            # an upper header row spans the empty cells to its right; the lowest row names single columns
            current = clean(text) if text.strip() or (level == len(headers) - 1 and not paired) else current
            filled.append(current)
        levels.append(filled)
        if paired:
            levels.append(paired_level(header, labels, paired.group(1).split()))
    columns = [tuple(level[c] for level in levels if level[c]) for c in range(width)]
    cells, previous = {}, [""] * labels
    for line, r in enumerate(rows[first_data:], start=first_data + 1):
        missing = labels - first_number(r, default=labels)
        if missing > 0:
            # a row printed without its outer label cells (Table 11's last row 'DSB-LWS', no leading tab): its
            # label is the innermost one, the outer ones repeat the row above, and its numbers sit one cell right
            if any(c.strip() for c in r[width - missing:]):
                raise ValueError(f"table block row {line} ({r}): {missing} label cell(s) missing and no empty cell at "
                                 f"its end to shift into; fix the row's tabs")
            r = [""] * missing + r[:width - missing]
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
