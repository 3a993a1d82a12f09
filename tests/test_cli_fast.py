"""`semscale --help` and `--version` do not import torch (seconds of start-up); checked on sys.modules in a fresh
interpreter, not by timing."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
{statement}
heavy = sorted(m for m in ("torch", "torchvision", "scipy", "sklearn", "matplotlib") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy_modules(statement: str) -> str:
    run = subprocess.run([sys.executable, "-c", PROBE.format(statement=statement)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    line = [entry for entry in run.stdout.splitlines() if entry.startswith("HEAVY=")]
    assert line, run.stdout + run.stderr
    return line[-1][len("HEAVY="):]


@pytest.mark.parametrize("statement", [
    "import semscale",
    "import semscale.cli",
    "from semscale.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from semscale.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass",
    "from semscale.cli import main\ntry:\n    main(['measure', '--help'])\nexcept SystemExit:\n    pass",
])
def test_help_and_version_import_no_torch(statement):
    assert _heavy_modules(statement) == ""


def test_lazy_attributes_still_resolve():
    # The public names load on first use, and `semscale.measure` stays the function even after the submodule of
    # the same name has been imported (the eager package did the same).
    assert _heavy_modules("import semscale.measure\nimport semscale\nassert callable(semscale.measure)\n"
                          "from semscale import volume, ClassMoments\nassert callable(volume)") != ""
