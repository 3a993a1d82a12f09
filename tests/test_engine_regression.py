"""Regression pin: the engine reproduces, number for number, what the Trainer at 690f5da produced.

tests/pinned/<machine kind>/engine_regression.json holds what the old in-memory CPU Trainer (commit 690f5da, one
thread) produced on that kind of machine (tests/machine_pins.py; python tests/pinned/refresh.py --engine writes it).
The in-memory path on the CPU with the same seed must give the same accuracies, per-class accuracies and retrieval
metrics exactly, and the same losses and DSB pool weights to a relative 1e-7. Why not exactly: the pool rewrite
merged from e3-pool (e0bc771) takes a class's distance to itself as exactly 0 instead of the rounding of the expanded
square, which moves the weights by the rounding error of |c|^2 over the distance sums (4e-10 relative on the Intel
Xeon pin, 8e-9 on AMD EPYC with AVX-512) and a later epoch's mean loss by as much (2e-8 on AMD EPYC). A machine kind
with no pin skips, saying how to pin it: another CPU's kernels move a trained model's accuracy by whole test images.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from machine_pins import folder_for, unpinned_reason

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys
import torch
torch.set_num_threads(1)
from semscale.data import load_dataset
from semscale.train import TrainConfig, train_and_evaluate
pin = json.load(open(sys.argv[1]))
train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
out = {}
for name, record in pin.items():
    if name.startswith("_"):
        continue
    r = train_and_evaluate(TrainConfig(**record["config"]), train, test, progress=False)
    rec = {"config": record["config"], "losses": [h["loss"] for h in r["history"]]}
    if "top1" in r:
        rec["top1"], rec["per_class"] = r["top1"], r["per_class"].tolist()
    if "recall_at_k" in r:
        rec["recall_at_k"], rec["nmi"] = {str(k): v for k, v in r["recall_at_k"].items()}, r["nmi"]
    if "pool_weights" in r:
        rec["pool_weights"] = r["pool_weights"].tolist()
    out[name] = rec
print(json.dumps(out))
"""


ROUNDED = ("losses", "pool_weights")  # the numbers the pool rewrite moves by rounding (docstring)


def test_in_memory_cpu_run_matches_the_pinned_numbers():
    folder = folder_for()
    if folder is None or not (folder / "engine_regression.json").exists():
        pytest.skip(unpinned_reason())
    pin_file = folder / "engine_regression.json"
    pin = json.loads(pin_file.read_text())
    result = subprocess.run([sys.executable, "-c", CHILD, str(pin_file)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    now = json.loads(result.stdout.strip().splitlines()[-1])
    for name, expected in pin.items():
        if name.startswith("_"):
            continue
        for key in ROUNDED:
            if key in expected:
                np.testing.assert_allclose(now[name].pop(key), expected[key], rtol=1e-7, atol=0,
                                           err_msg=f"{name}.{key}")
        assert now[name] == {k: v for k, v in expected.items() if k not in ROUNDED}, name
    assert pytest.approx(sum(pin["dsb"]["pool_weights"])) == 10  # the pin itself is a DSB run's normalised weights
