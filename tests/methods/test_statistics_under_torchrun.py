"""Under torchrun, the statistics a method keeps of its training batches (TDE's moving average of the batch-mean
feature, IFL's centres) are those of one process fed the global batches: two gloo ranks, each forward on its chunk of
a global batch of 15 (8/7), against one process forward on the whole batch, the same features throughout."""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import json, sys
    import torch, torch.distributed as dist
    from semscale.distributed import init_from_env, rank_chunk, world
    from semscale.methods import build_method
    torch.set_num_threads(1)
    init_from_env("gloo")
    generator = torch.Generator().manual_seed(0)
    counts = [30, 10, 5]
    torch.manual_seed(0)  # the initial centres
    tde = build_method("tde", 6, 3, counts).train()
    ifl = build_method("ifl", 6, 3, counts).train()
    for step in range(4):
        features = torch.randn(15, 6, generator=generator)
        labels = torch.randint(0, 3, (15,), generator=generator)
        second = torch.randn(15, 6, generator=generator), torch.randint(0, 3, (15,), generator=generator)
        mine = rank_chunk(torch.arange(15))
        for method in (tde, ifl):
            method.global_batch_size = 15
        tde(features[mine], labels[mine])
        ifl(features[mine], labels[mine], second=(second[0][mine], second[1][mine]))
    json.dump({"direction": tde.direction.tolist(), "centres": ifl.centres.tolist()},
              open(sys.argv[1] + f".{world()[0]}", "w"))
    if world()[1] > 1:
        dist.destroy_process_group()
""")


def test_tde_and_ifl_statistics_on_two_ranks_equal_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert single.returncode == 0, single.stderr[-3000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                             str(port), str(script), str(tmp_path / "two")], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one = json.load(open(tmp_path / "one.0"))
    assert np.abs(one["direction"]).sum() > 0
    for rank in range(2):
        two = json.load(open(tmp_path / f"two.{rank}"))
        for key in ("direction", "centres"):
            np.testing.assert_allclose(two[key], one[key], rtol=1e-6, atol=1e-7, err_msg=key)
