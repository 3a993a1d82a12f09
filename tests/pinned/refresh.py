"""Copy a smoke run's tables into tests/pinned/intel-r-xeon-r-processor/smoke/ (after a deliberate change of results, said in the commit).

    python experiments/run_all.py --profile smoke --results /tmp/smoke && python tests/pinned/refresh.py /tmp/smoke

Only the CSV tables are pinned (checks.csv with its verdicts included); figures, records and Markdown are not.
"""
import shutil
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / "intel-r-xeon-r-processor" / "smoke"


def main(source: str) -> None:
    folders = sorted(p for p in Path(source).iterdir() if p.is_dir() and p.name.endswith("-smoke"))
    if not folders:
        raise SystemExit(f"{source}: no <experiment>-smoke folders; run the smoke profile into it first")
    shutil.rmtree(TARGET, ignore_errors=True)
    for folder in folders:
        for table in sorted(folder.glob("*.csv")):
            (TARGET / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(table, TARGET / folder.name / table.name)
    print(f"pinned {sum(1 for _ in TARGET.rglob('*.csv'))} tables from {len(folders)} folders into {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
