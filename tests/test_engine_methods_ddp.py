"""Methods under torchrun: two gloo ranks stay equal, and methods' memories hold every rank's share (as one
process fed the global batches)."""
import numpy as np

DDP_SCRIPT = """
import json, sys
import torch
torch.set_num_threads(1)
from semscale.distributed import world
from semscale.engine import TrainConfig, Trainer
generator = torch.Generator().manual_seed(0)
labels = torch.repeat_interleave(torch.arange(3), torch.tensor([40, 12, 4]))
images = torch.rand(len(labels), 1, 8, 8, generator=generator) + 0.3 * labels[:, None, None, None].float()
out = {}
for method, options in (("bbn", {}), ("crt", {"stage2_epochs": 1}),
                        ("ifl", {"milestones": [0.34], "centre_weights": [0.0, 0.001]})):
    config = TrainConfig(width=4, epochs=3, batch_size=16, warmup_epochs=1, weighting="dsb", threads=1,
                         device="cpu", method=method, method_options=options)
    trainer = Trainer(config, images, labels.numpy(), 3, progress=False)
    trainer.fit()
    out[method] = [p.detach().double().sum().item() for p in trainer.network.parameters()]
# memories under torchrun: batches of 15 split 8/7 (the last, 11: 6/5) over two ranks
for method, options in (("paco", {"queue_size": 40}), ("mbj", {"memory_per_class": 4}),
                        ("mbj", {"memory_per_class": 4, "replay": 5})):
    config = TrainConfig(width=4, epochs=3, batch_size=15, warmup_epochs=1, weighting="dsb", threads=1,
                         device="cpu", method=method, method_options=options)
    trainer = Trainer(config, images, labels.numpy(), 3, progress=False)
    m, replayed = trainer.method, []
    if method == "mbj":
        draw = m._draw
        m._draw = lambda count: (lambda drawn: replayed.append(len(drawn[1])) or drawn)(draw(count))
    trainer.fit()
    if method == "mbj":
        out["replayed" + str(options.get("replay", ""))] = sum(replayed)  # this rank's share of the replays
    out[method + str(options.get("replay", ""))] = {
        "params": [p.detach().double().sum().item() for p in trainer.network.parameters()],
        "memory": ([m.queue_labels.tolist(), m.queue_pointer, m.queue_filled] if method == "paco" else
                   [m.filled.tolist(), m.next_slot.tolist(), m.generator.get_state().tolist()])}
json.dump(out, open(sys.argv[1] + f".{world()[0]}", "w"))
"""


def test_methods_under_two_gloo_ranks_keep_the_ranks_equal(tmp_path):
    """DDP with a method: second batches, a frozen stage (find_unused_parameters) and IFL's end-of-epoch pass run on
    both ranks and leave them with the same parameters. PaCo's queue and MBJ's memory (and the draws of its
    generator) are those of one process fed the global batches: every rank stores every rank's share."""
    import json
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                             str(port), str(script), str(tmp_path / "out")],
                            env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (json.load(open(tmp_path / f"out.{r}")) for r in range(2))
    replayed = [a.pop("replayed"), b.pop("replayed"), a.pop("replayed5"), b.pop("replayed5")]
    assert a == b
    assert all(np.isfinite(v if isinstance(v, list) else v["params"]).all() for v in a.values())
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.load(open(tmp_path / "single.0"))
    # the ranks replay shares of one process's draws: together as many as it does
    assert replayed[0] + replayed[1] == one["replayed"] and replayed[2] + replayed[3] == one["replayed5"]
    for method in ("paco", "mbj", "mbj5"):
        assert a[method]["memory"] == one[method]["memory"], method
    assert one["paco"]["memory"][2] == 40 and -1 not in one["paco"]["memory"][0]  # the queue wrapped
