"""Every paper number kept as data (experiments/paper_values/*.csv) sits in its own cell of the paper's table.

The paper (../shared/paper) prints its tables as tab-separated blocks below a "Table N:" caption, with one to three
header rows (an upper row whose labels span the empty cells to their right, e.g. "S" over the alpha columns, or the
imbalance factors 10 / 50 / 200 of Tables 5 and 8) and label columns on the left that are left empty when they
repeat the row above. We parse those blocks into cells addressed by (row labels, column header path) and look each
CSV value up in the cell its table/row/column name. Two quirks of Table 11 are handled explicitly: its
'< Accuracy Precision >' header and its last row printed without the group cell.
"""
import csv
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_tables import parse_block, paper_tables  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# ../shared/paper beside a checkout in /work; a worktree one level deeper (/work/wt/<name>) finds it one further up
PAPER = next((base / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md"
              for base in (ROOT, ROOT.parent, ROOT.parent.parent)
              if (base / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md").exists()),
             ROOT.parent / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md")
VALUES = ROOT / "experiments" / "paper_values"
needs_paper = pytest.mark.skipif(not PAPER.exists(), reason="../shared/paper is not beside this checkout")


# How each CSV names a paper cell. The CSV's row/column names are what the experiments ask for
# (semscale.experiment.paper_value, Experiment.paper_check), so they stay; this maps them onto the paper's own labels,
# which carry citations ('CB-CE [11]'), spaces ('cRT + IFL [56]') and one typo ('BLSOftmax'). A name not listed
# is printed as is.
COLUMN_GROUPS = {
    "Table 2": {"ImageNet-LT": "ImageNet-LT(ResNeXt50)", "iNaturalist": "iNaturalist 2018(ResNet50)"},
    "Table 3": {"ImageNet": "ImageNet Top-1 Acc(%)", "CIFAR-100": "CIFAR-100 Top-1 Acc(%)"},
    "Table 8": {"Cars196-LT": "Long-tailed Cars196"},
}
ROW_LABELS = {
    "Table 2": {"BBN": "BBN [80]", "DiVE": "DIVE [18]", "CB-CE": "CB-CE [11]", "DSB-CE+IFL": "DSB-CE+IFL [56]",
                "Focal": "Focal [11]", "CB-Focal": "CB-Focal [11]", "LDAM": "LDAM [4]", "BS": "BS [43]",
                "LADE": "LADE [19]", "PaCo": "PaCo [10]", "MBJ": "MBJ [35]", "RIDE": "RIDE [65]",
                "MBJ+RIDE": "MBJ+RIDE [35]"},
    "Table 3": {"VGG16": "VGG16 [48]", "BN-Inception": "BN-Inception [53]", "DenseNet-201": "DenseNet-201 [22]",
                "SE-ResNet-50": "SE-ResNet-50 [21]", "ResNeXt-101": "ResNeXt-101 [70]"},
    "Table 11": {"cRT": "cRT [27]", "LWS": "LWS [27]", "Deconfound-TDE": "Deconfound-TDE [55]",
                 "BLSoftmax": "BLSOftmax [43]", "BBN": "BBN [80]", "LDAM": "LDAM [4]",
                 "BLSoftmax+IFL": "BLSOftmax + IFL [56]", "DSB-BLSoftmax": "DSB-BLSOftmax",
                 "DSB-BLSoftmax+IFL": "DSB-BLSOftmax + IFL", "cRT+IFL": "cRT + IFL [56]", "LWS+IFL": "LWS + IFL [56]"},
}
TABLE11_GROUP = "Re-balance"   # Table 11's one group label, printed on its first row only
DIM = re.compile(r"^(dim \d+) (\S+)$")   # Tables 4, 5, 8: 'dim 64 DSB-NSM' -> embedding size, method


def gain_rows(row: str) -> tuple[str, str]:
    """'dim 512 DSB-ST minus SoftTriple' -> ('dim 512 DSB-ST', 'dim 512 SoftTriple'): a gain's method and base row."""
    method, _, base = row.partition(" minus ")
    dim = DIM.match(method)
    return method, f"{dim.group(1)} {base}" if dim else base


def paper_address(table: str, row: str, column: str):
    """(row labels, column path, which number of the cell: 'value' or 'gain').

    A row '<method> minus <base>' names the gain printed in <method>'s cell, '21.4(+13.7)'."""
    method, minus, _ = row.partition(" minus ")
    part = "gain" if minus else "value"
    label = ROW_LABELS.get(table, {}).get(method, method)
    group, _, rest = column.partition(" ")
    path = (COLUMN_GROUPS.get(table, {}).get(group, group),) + tuple(rest.split(" ")) if rest else (column,)
    if table == "Table 1":                       # row '<dataset> <model>', column 'S alpha=2' or 'N', "S'", ...
        dataset, model = row.rsplit(" ", 1)
        return (dataset, model), tuple(column.split(" ")), "value"
    if table in ("Table 2", "Table 3", "Table 9"):   # row '<method>', column '<data> <subset, metric or CE/Delta>'
        return (label,), path, part
    if table in ("Table 4", "Table 5", "Table 8"):   # row 'dim <d> <method>', column '<data> [<factor>] <metric>'
        dim = DIM.match(method)
        assert dim, f"{table} row {row!r}: expected 'dim <size> <method>'"
        return (dim.group(1), dim.group(2)), path, part
    if table == "Table 11":                      # row '<method>', column '<protocol> <Accuracy|Precision>'
        protocol, metric = column.split(" ")
        return (TABLE11_GROUP, label), (protocol, "Overall", metric), part
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
def test_parser_reads_known_cells_of_tables_2_to_11(tables):
    """More cells read by eye, one or more per table the experiments check against."""
    inat, imagenet_lt = "iNaturalist 2018(ResNet50)", "ImageNet-LT(ResNeXt50)"
    assert tables["Table 2"].cell(("DIVE [18]",), (inat, "Middle")).value == 70.0
    assert tables["Table 2"].cell(("CB-Focal [11]",), (inat, "Overall")).value == 61.2
    assert tables["Table 2"].cell(("MBJ+RIDE [35]",), (imagenet_lt, "Overall")).value == 57.7
    ride = tables["Table 2"].cell(("DSB+RIDE",), (inat, "Tail"))
    assert (ride.value, ride.gain) == (74.2, 1.1)
    assert tables["Table 3"].cell(("ResNet-18",), ("ImageNet Top-1 Acc(%)", "DSB-CE")).value == 71.2
    assert tables["Table 3"].cell(("SE-ResNet-50 [21]",), ("CIFAR-100 Top-1 Acc(%)", "Delta")).value == 0.7
    spaced = tables["Table 4"].cell(("dim 64", "DSB-NSM"), ("CUB-2011", "NMI"))     # printed '66.5 (+1.2)'
    assert (spaced.value, spaced.gain) == (66.5, 1.2)
    last = tables["Table 4"].cell(("dim 512", "DSB-ST"), ("Cars196", "NMI"))
    assert (last.value, last.gain) == (71.1, 1.0)
    assert tables["Table 4"].cell(("dim 512", "Circle"), ("CUB-2011", "NMI")).value is None
    assert tables["Table 9"].cell(("SoftTriple",), ("CIFAR-100", "NMI")).value == 52.0
    assert tables["Table 9"].cell(("DSB-ST",), ("Mini-ImageNet", "NMI")).gain == 1.5


@needs_paper
def test_imbalance_factor_header_rows_of_tables_5_and_8(tables):
    """Their imbalance factors (10, 50, 200) are header numbers, not data; Table 8 prints 'Imbalance factor' on the
    metric row and leaves the factors' row unlabelled."""
    dims = {("dim 64", m) for m in ("NormSoftmax", "CB-NSM", "DSB-NSM", "SoftTriple", "CB-ST", "DSB-ST")}
    for table in ("Table 5", "Table 8"):
        assert {r for r, _ in tables[table].cells} == dims, table
    assert tables["Table 5"].cell(("dim 64", "CB-ST"), ("CIFAR-100-LT", "50", "R@2")).value == 62.8
    assert tables["Table 5"].cell(("dim 64", "SoftTriple"), ("CIFAR-100-LT", "200", "NMI")).value == 55.4
    assert tables["Table 5"].cell(("dim 64", "NormSoftmax"), ("CIFAR-100-LT", "10", "R@1")).value == 54.6
    assert tables["Table 8"].cell(("dim 64", "DSB-ST"), ("Long-tailed Cars196", "20", "NMI")).value == 59.7
    assert tables["Table 8"].cell(("dim 64", "CB-NSM"), ("Long-tailed Cars196", "50", "R@1")).value == 61.7
    assert tables["Table 8"].cell(("dim 64", "NormSoftmax"), ("Long-tailed Cars196", "10", "R@1")).value == 66.4


@needs_paper
def test_table11_pairs_and_its_last_row_without_group_cell(tables):
    """Table 11's '< Accuracy Precision >' splits each protocol's 'Overall' into two columns, and its last row
    'DSB-LWS' is printed without the group cell (no leading tab): it still belongs to 'Re-balance', numbers unshifted."""
    table = tables["Table 11"]
    assert table.cell(("Re-balance", "cRT [27]"), ("CLT", "Overall", "Precision")).value == 75.84
    assert table.cell(("Re-balance", "LWS + IFL [56]"), ("ALT", "Overall", "Precision")).value == 52.90
    assert table.cell(("Re-balance", "DSB-LWS"), ("CLT", "Overall", "Accuracy")).value == 76.55
    assert table.cell(("Re-balance", "DSB-LWS"), ("GLT", "Overall", "Precision")).value == 72.15
    assert table.cell(("Re-balance", "DSB-LWS"), ("ALT", "Overall", "Precision")).value == 51.16
    assert len([r for r, _ in table.cells if r == ("Re-balance", "DSB-LWS")]) == 6
    assert paper_address("Table 11", "DSB-LWS", "ALT Precision") == \
        (("Re-balance", "DSB-LWS"), ("ALT", "Overall", "Precision"), "value")


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


# Tables kept whole: every number they print (value or gain) is a CSV row
COMPLETE = ("Table 2", "Table 3", "Table 4", "Table 5", "Table 8", "Table 9", "Table 11")


@needs_paper
def test_every_printed_number_of_the_complete_tables_is_kept(tables):
    kept = {(row["table"],) + paper_address(row["table"], row["row"], row["column"]) for _, _, row in csv_rows()}
    for table in COMPLETE:
        for (labels, column), cell in tables[table].cells.items():
            for part in ("value", "gain"):
                if getattr(cell, part) is not None:
                    assert (table, labels, column, part) in kept, \
                        f"{table}: the {part} in {cell.text!r} at row {labels}, column {column} is in no CSV row"


# The names other experiments call paper_check with (tables' row names besides the '<method> minus <base>' gains)
ROW_NAMES = {
    "Table 2": ["BBN", "DiVE", "CE", "CB-CE", "DSB-CE", "DSB-CE+IFL", "Focal", "CB-Focal", "DSB-Focal", "LDAM",
                "DSB-LDAM", "BS", "DSB-BS", "LADE", "DSB-LADE", "PaCo", "DSB-PaCo", "MBJ", "DSB+MBJ", "RIDE",
                "MBJ+RIDE", "DSB+RIDE"],
    "Table 3": ["VGG16", "BN-Inception", "ResNet-18", "ResNet-34", "ResNet-50", "DenseNet-201", "SE-ResNet-50",
                "ResNeXt-101"],
    "Table 4": [f"dim {d} {m}" for d, methods in ((64, ("NormSoftmax", "DSB-NSM", "SoftTriple", "DSB-ST")),
                                                  (512, ("Circle", "NormSoftmax", "DSB-NSM", "DSB-ST"))) for m in methods],
    "Table 5": [f"dim 64 {m}" for m in ("NormSoftmax", "CB-NSM", "DSB-NSM", "SoftTriple", "CB-ST", "DSB-ST")],
    "Table 9": ["NormSoftmax", "DSB-NSM", "SoftTriple", "DSB-ST"],
    "Table 11": ["cRT", "LWS", "Deconfound-TDE", "BLSoftmax", "BBN", "LDAM", "DSB-LDAM", "BLSoftmax+IFL",
                 "DSB-BLSoftmax", "DSB-BLSoftmax+IFL", "cRT+IFL", "DSB-cRT", "LWS+IFL", "DSB-LWS"],
}
ROW_NAMES["Table 8"] = ROW_NAMES["Table 5"]


def test_row_names_are_the_agreed_ones():
    """The experiments' paper_check calls name rows exactly so; a renamed CSV row would break them."""
    names = {}
    for _, _, row in csv_rows():
        if " minus " not in row["row"]:
            names.setdefault(row["table"], []).append(row["row"])
    for table, expected in ROW_NAMES.items():
        assert list(dict.fromkeys(names[table])) == expected, table


# A printed gain whose base row the paper does not print: Table 4's dim-512 DSB-ST gains are over a SoftTriple
# with 512 dimensions that has no row (the dim-512 block prints Circle, NormSoftmax, DSB-NSM and DSB-ST only)
BASE_NOT_PRINTED = {("Table 4", "dim 512 SoftTriple")}


@needs_paper
def test_printed_gains_are_the_differences_of_their_cells(tables):
    """A '<method> minus <base>' value is the gain printed in <method>'s cell, and that gain is <method>'s cell
    minus <base>'s cell (Tables 2, 4 and 9); the one base the paper leaves out is listed above."""
    missing = set()
    for path, line, row in csv_rows():
        if " minus " not in row["row"]:
            continue
        table = tables[row["table"]]
        method, base = (paper_address(row["table"], name, row["column"]) for name in gain_rows(row["row"]))
        if (base[0], base[1]) not in table.cells:
            missing.add((row["table"], gain_rows(row["row"])[1]))
            continue
        difference = table.cell(*method[:2]).value - table.cell(*base[:2]).value
        assert float(row["value"]) == pytest.approx(difference, abs=1e-9), f"{path.name}:{line} {row}"
    assert missing == BASE_NOT_PRINTED


@needs_paper
def test_table3_delta_is_dsb_ce_minus_ce(tables):
    table = tables["Table 3"]
    for labels in {r for r, _ in table.cells}:
        for data in ("ImageNet Top-1 Acc(%)", "CIFAR-100 Top-1 Acc(%)"):
            ce, dsb, delta = (table.cell(labels, (data, c)).value for c in ("CE", "DSB-CE", "Delta"))
            assert delta == pytest.approx(dsb - ce, abs=1e-9), (labels, data)


def test_paper_value_reads_the_new_tables():
    from semscale.experiment import paper_value

    assert paper_value("Table 2", "DSB-CE minus CE", "ImageNet-LT Overall") == (4.8, 1.5)
    assert paper_value("Table 4", "dim 512 DSB-ST minus SoftTriple", "Cars196 NMI") == (1.0, 1.5)
    assert paper_value("Table 8", "dim 64 CB-NSM", "Cars196-LT 50 R@1") == (61.7, 1.5)
    assert paper_value("Table 11", "DSB-LWS", "ALT Precision") == (51.16, 1.5)


def test_parser_on_a_hand_written_block():
    block = ["Data\tModel\tA\tB\t", "\t\t\tx\ty", "D1\tm1\t1.5\t<b>2</b>\t3(+1.0)", "\tm2\t-\t4\t5"]
    table = parse_block(block)
    assert table.columns == [("Data",), ("Model",), ("A",), ("B", "x"), ("B", "y")]
    assert table.cell(("D1", "m1"), ("A",)).value == 1.5
    assert table.cell(("D1", "m1"), ("B", "x")).value == 2.0
    assert table.cell(("D1", "m1"), ("B", "y")).gain == 1.0
    assert table.cell(("D1", "m2"), ("A",)).value is None
    assert table.cell(("D1", "m2"), ("B", "y")).value == 5.0


def test_parser_on_numeric_headers_pairs_and_a_row_without_its_group():
    """Number headers spanning columns (Tables 5, 8), '< a b >' pairs and a row missing its group cell (Table 11)."""
    spans = parse_block(["Set\t\tD\t\t\t", "Factor\t\t10\t\t50\t", "Metric\t\tr\tn\tr\tn",
                         "g\tm1\t1\t2\t3\t4", "\tm2\t5\t6\t7\t8"])
    assert spans.cell(("g", "m2"), ("D", "50", "r")).value == 7.0
    assert {r for r, _ in spans.cells} == {("g", "m1"), ("g", "m2")}
    pairs = parse_block(["P\t\tX\t\tY\t", "< a b >\t\to\t\to\t", "g\tm1\t1\t2\t3\t4", "m2\t5\t6\t7\t8\t"])
    assert pairs.cell(("g", "m1"), ("Y", "o", "a")).value == 3.0
    assert pairs.cell(("g", "m2"), ("X", "o", "b")).value == 6.0
    assert pairs.cell(("g", "m2"), ("Y", "o", "b")).value == 8.0
    with pytest.raises(ValueError, match="label cell"):
        parse_block(["P\tQ\tX\tY", "g\tm1\t1\t2", "m2\t5\t6\t7"])
