"""Pinned numbers per machine kind: training is deterministic on one kind of CPU, not across kinds.

Another CPU picks other convolution and BLAS kernels (AVX-512 against AVX2, Intel's against AMD's), which round
differently; a few epochs later a smoke model classifies one test image differently. So every trained number is
pinned per machine kind, in tests/pinned/<kind>/:
  machine.json             what names the kind: CPU model, torch's CPU capability (null: not recorded), torch
  smoke/                   every smoke table (python tests/pinned/refresh.py <smoke results folder>)
  engine_regression.json   the old Trainer's numbers (python tests/pinned/refresh.py --engine)
On a kind with no folder the trained comparisons skip, saying how to pin the kind; deterministic tables are compared
with every kind's pins (they agree across kinds).
"""
from __future__ import annotations

import json
import platform
import re
from pathlib import Path

PINNED = Path(__file__).resolve().parent / "pinned"
KEYS = ("cpu", "cpu_capability", "torch")


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name: Linux's /proc/cpuinfo, else what Python's platform module knows (macOS, Windows, or a
    Linux without /proc), else "unknown"."""
    try:
        with open(cpuinfo) as lines:
            found = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    except OSError:
        found = ""
    return found or platform.processor() or platform.machine() or "unknown"


def this_machine() -> dict:
    import torch

    return {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}


def kind_name(machine: dict) -> str:
    """The folder name of a kind: its CPU model (and capability where recorded) in lower case and dashes."""
    text = machine["cpu"] + (f" {machine['cpu_capability']}" if machine.get("cpu_capability") else "")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def matches(pinned: dict, machine: dict) -> bool:
    """Same CPU model and torch; same capability unless the pin did not record one."""
    return all(pinned.get(key) == machine[key] or (key == "cpu_capability" and pinned.get(key) is None) for key in KEYS)


def kind_folders() -> list[Path]:
    return sorted(p.parent for p in PINNED.glob("*/machine.json"))


def folder_for(machine: dict | None = None) -> Path | None:
    """This machine's kind's folder, or None when the kind has no pins."""
    machine = machine or this_machine()
    found = [f for f in kind_folders() if matches(json.loads((f / "machine.json").read_text()), machine)]
    return found[0] if found else None


def unpinned_reason(machine: dict | None = None) -> str:
    machine = machine or this_machine()
    kinds = ", ".join(f.name for f in kind_folders())
    return (f"no pinned numbers for this machine kind ({machine}); pinned kinds: {kinds}. To pin it: "
            "python experiments/run_all.py --profile smoke --results /tmp/smoke && python tests/pinned/refresh.py "
            "/tmp/smoke && python tests/pinned/refresh.py --engine")
