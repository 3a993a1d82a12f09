"""Compare two results folders already on disk, number by number (the rules of semscale.regression).

    python experiments/regression.py OLD NEW [--out FILE] [--title TEXT]

For instance two commits' results/ (from `git archive`). Lists every number of NEW's tables that moved beyond its
tolerance from OLD's and every changed verdict, and says how many tables are identical cell for cell (timings
aside); exits 1 when something moved. `python experiments/run_all.py --compare` reruns and compares in one go.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from semscale.regression import compare_folders, identical_tables, report  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Every number of RERUN's tables that moved beyond its tolerance "
                                     "from COMMITTED's, and every changed verdict (the rules of semscale.regression).")
    parser.add_argument("committed", type=Path, help="the results folder compared against")
    parser.add_argument("rerun", type=Path, help="the results folder of the rerun")
    parser.add_argument("--out", type=Path, default=None, help="also write OUT.csv and OUT.md")
    parser.add_argument("--title", default="Regression check", help="the table's title (what was compared)")
    args = parser.parse_args(argv)
    for folder in (args.committed, args.rerun):
        if not folder.is_dir():
            parser.error(f"{folder}: not a folder; give two results folders")
    folders = sorted(p.name for p in args.committed.iterdir() if p.is_dir() and p.name not in ("timing",))
    compared, moved = compare_folders(args.committed, args.rerun, folders)
    report(compared, moved, args.title, args.out, identical_tables(args.committed, args.rerun, folders))
    return 1 if moved else 0


if __name__ == "__main__":
    raise SystemExit(main())
