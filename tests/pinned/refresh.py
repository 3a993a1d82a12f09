"""Pin this machine kind's numbers into tests/pinned/<kind>/ (tests/machine_pins.py), after a deliberate change of
results (said in the commit) or on a machine kind that has no pins yet.

    python experiments/run_all.py --profile smoke --results /tmp/smoke && python tests/pinned/refresh.py /tmp/smoke
    python tests/pinned/refresh.py --engine    # the old Trainer (690f5da) on this kind, run from a git worktree

Only the CSV tables of the smoke run are pinned (checks.csv with its verdicts included); figures, records and
Markdown are not. The engine pin is written by the Trainer as it was before the engine existed, so that
tests/test_engine_regression.py compares today's engine with it; it needs the repository's history.
"""
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from machine_pins import PINNED, folder_for, kind_folders, kind_name, this_machine  # noqa: E402

OLD_TRAINER = "690f5da"  # the last commit of the in-memory Trainer, before the engine


def kind_folder() -> Path:
    """This kind's folder, created with its machine.json when the kind is new."""
    machine = this_machine()
    folder = folder_for(machine)
    if folder is None:
        folder = PINNED / kind_name(machine)
        folder.mkdir(parents=True)
        record = {**machine, "written": datetime.date.today().isoformat()}
        (folder / "machine.json").write_text(json.dumps(record, indent=1) + "\n")
    return folder


def pin_smoke(source: str) -> None:
    folders = sorted(p for p in Path(source).iterdir() if p.is_dir() and p.name.endswith("-smoke"))
    if not folders:
        raise SystemExit(f"{source}: no <experiment>-smoke folders; run the smoke profile into it first")
    target = kind_folder() / "smoke"
    shutil.rmtree(target, ignore_errors=True)
    for folder in folders:
        for table in sorted(folder.glob("*.csv")):
            (target / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(table, target / folder.name / table.name)
    print(f"pinned {sum(1 for _ in target.rglob('*.csv'))} tables from {len(folders)} folders into {target}")


def pin_engine() -> None:
    from test_engine_regression import CHILD

    configs = next((f / "engine_regression.json" for f in kind_folders() if (f / "engine_regression.json").exists()),
                   None)
    if configs is None:
        raise SystemExit("no engine_regression.json under tests/pinned/*/ to take the configurations from")
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "old"
        subprocess.run(["git", "-C", str(TESTS.parent), "worktree", "add", "-q", "--detach", str(tree), OLD_TRAINER],
                       check=True)
        try:
            run = subprocess.run([sys.executable, "-c", CHILD, str(configs)], cwd=tree, capture_output=True,
                                 text=True, env={**__import__("os").environ, "PYTHONPATH": str(tree)})
        finally:
            subprocess.run(["git", "-C", str(TESTS.parent), "worktree", "remove", "--force", str(tree)], check=True)
    if run.returncode:
        raise SystemExit(f"the old Trainer at {OLD_TRAINER} failed:\n{run.stderr[-3000:]}")
    numbers = json.loads(run.stdout.strip().splitlines()[-1])
    numbers["_machine"] = {**this_machine(), "commit": OLD_TRAINER, "threads": 1}
    target = kind_folder() / "engine_regression.json"
    target.write_text(json.dumps(numbers) + "\n")
    print(f"pinned the old Trainer's numbers ({', '.join(k for k in numbers if not k.startswith('_'))}) into {target}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--engine"]:
        pin_engine()
    elif len(sys.argv) == 2 and not sys.argv[1].startswith("-"):
        pin_smoke(sys.argv[1])
    else:
        raise SystemExit(__doc__)
