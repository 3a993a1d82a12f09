"""Every paper number kept as data is printed in the paper (../shared/paper), so none is typed in wrong."""
import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT.parent / "shared" / "paper" / "delving-into-semantic-scale-imbalance.md"


@pytest.mark.skipif(not PAPER.exists(), reason="../shared/paper is not beside this checkout")
def test_paper_values_appear_in_the_paper():
    printed = {float(x) for x in re.findall(r"(?<![\w.])\d+\.\d+", PAPER.read_text())}
    files = sorted((ROOT / "experiments" / "paper_values").glob("*.csv"))
    assert files
    for path in files:
        for row in csv.DictReader(open(path)):
            assert float(row["value"]) in printed, f"{path.name}: {row} is not a number printed in the paper"
