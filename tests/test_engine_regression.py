"""Regression pin: the engine reproduces, number for number, what the Trainer at 690f5da produced.

tests/pinned/intel-r-xeon-r-processor/engine_regression.json was written by the old in-memory CPU Trainer (commit 690f5da, one thread)
before the engine existed. The in-memory path on the CPU with the same seed must give the same losses, accuracies,
retrieval metrics and DSB pool weights: exactly on the machine kind that wrote the pin, to 1e-5 elsewhere (another
CPU may pick other convolution kernels). The one exception is the DSB pool's weights, held to 1e-9: the pool
rewrite merged from e3-pool (e0bc771) takes a class's distance to itself as exactly 0 instead of the rounding of
the expanded square, which moves the weights by ~4e-10 relative (the losses and accuracies stay identical).
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = ROOT / "tests" / "pinned" / "intel-r-xeon-r-processor" / "engine_regression.json"

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


def cpu_model() -> str:
    return next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "unknown")


def test_in_memory_cpu_run_matches_the_pinned_numbers():
    pin = json.loads(PIN.read_text())
    result = subprocess.run([sys.executable, "-c", CHILD, str(PIN)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    now = json.loads(result.stdout.strip().splitlines()[-1])
    same_machine = pin["_machine"]["cpu"] == cpu_model()
    for name, expected in pin.items():
        if name.startswith("_"):
            continue
        if same_machine:
            if "pool_weights" in expected:
                np.testing.assert_allclose(now[name].pop("pool_weights"), expected["pool_weights"], rtol=1e-9,
                                           atol=0)
                expected = {k: v for k, v in expected.items() if k != "pool_weights"}
            assert now[name] == expected, name
        else:
            for key, value in expected.items():
                if key != "config":
                    got = now[name][key]
                    if isinstance(value, dict):
                        value, got = list(value.values()), [got[k] for k in value]
                    np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=f"{name}.{key}")
    assert pytest.approx(sum(pin["dsb"]["pool_weights"])) == 10  # the pin itself is a DSB run's normalised weights
