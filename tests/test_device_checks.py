"""The prepared GPU checks (.ci/device_checks, .ci/nccl_check.py) stay runnable: a session lent a device has
minutes, not time to debug the script. The whole script at smoke size is tried by hand (README, Tests)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_without_a_part_it_prints_its_usage_and_exits_2():
    result = subprocess.run(["bash", str(ROOT / ".ci/device_checks")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "device_checks bench" in result.stdout and "device_checks tests" in result.stdout


def test_bench_dsb_takes_the_options_the_script_passes(tmp_path):
    result = subprocess.run([sys.executable, "experiments/bench_dsb.py", "--profile", "quick", "--quiet", "--out",
                             str(tmp_path / "bench_gpu"), "--print-config"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gpu_training" in result.stdout  # the quick profile's GPU rows are configured


def test_nccl_check_in_one_process_writes_its_record(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, ".ci/nccl_check.py", str(tmp_path / "rank"), "cpu"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "rank.0.json").read_text())
    assert (record["rank"], record["world_size"], record["device"]) == (0, 1, "cpu")
    assert record["pool"] == 1347  # stage 2 keeps one epoch of batches: every digits training image once
    assert len(record["weights"]) == 10 and abs(sum(record["weights"]) - 10) < 1e-9  # weights sum to C
