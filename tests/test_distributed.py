"""Two CPU processes (gloo) see the same pool, and so the same DSB weights, as one process fed the global batches."""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np, torch, torch.distributed as dist
    from semscale.distributed import gather_batch, init_from_env, rank_chunk, world
    from semscale.pool import FeaturePool
    torch.set_num_threads(1)
    init_from_env("gloo")
    rank, size = world()
    rng = np.random.default_rng(0)
    features = torch.tensor(rng.normal(size=(600, 8)), dtype=torch.float32)
    labels = torch.tensor(rng.integers(0, 7, size=600))
    exchanged, computed = (FeaturePool(7, 8, warmup_epochs=1, alpha=2.0) for _ in range(2))
    calls, all_gather = {"exchanged": 0, "computed": 0}, dist.all_gather
    for step, batch in enumerate(torch.split(torch.arange(600), 37)):  # 37: chunks of unequal size
        mine = rank_chunk(batch)
        for pool, key, global_size in ((exchanged, "exchanged", None), (computed, "computed", len(batch))):
            def counted(*args, key=key):
                calls[key] += 1
                return all_gather(*args)
            dist.all_gather = counted
            f, l = gather_batch(features[mine], labels[mine], global_size)
            pool.update(f.numpy(), l.numpy(), epoch=1 + step // 5)
    dist.all_gather = all_gather
    try:  # a global size that gives neither rank its chunk: both refuse before any exchange
        gather_batch(features[:5], labels[:5], 40)
        refused = size == 1
    except ValueError as error:
        refused = "its share of a global batch of 40" in str(error)
    json.dump({"exchanged": exchanged.weights().tolist(), "computed": computed.weights().tolist(),
               "calls": calls, "refused": refused}, open(sys.argv[1] + f".{rank}", "w"))
    if size > 1:
        dist.destroy_process_group()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_equal_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "ddp")], stderr=subprocess.PIPE,
                              text=True, env={**env, "WORLD_SIZE": "2", "RANK": str(r), "LOCAL_RANK": str(r),
                                              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
             for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    expected = json.load(open(tmp_path / "single.0"))["exchanged"]
    for r in range(2):
        ddp = json.load(open(tmp_path / f"ddp.{r}"))
        np.testing.assert_array_equal(ddp["exchanged"], expected)
        np.testing.assert_array_equal(ddp["computed"], expected)
        # 17 steps: sizes, features and labels exchanged; with the global size known, features and labels only
        assert ddp["calls"] == {"exchanged": 3 * 17, "computed": 2 * 17}
        assert ddp["refused"]


def test_chunk_sizes_are_tensor_splits():
    import torch

    from semscale.distributed import chunk_sizes

    for n in range(0, 40):
        for size in range(1, 9):
            assert chunk_sizes(n, size) == [len(c) for c in torch.tensor_split(torch.arange(n), size)], (n, size)


TRAIN = textwrap.dedent("""
    import json, sys
    import torch
    torch.set_num_threads(1)
    from semscale.data import load_dataset
    from semscale.distributed import world
    from semscale.train import TrainConfig, Trainer
    train = load_dataset("digits", "train")
    config = TrainConfig(width=4, epochs=2, batch_size=128, warmup_epochs=1, weighting="dsb")
    trainer = Trainer(config, train.images, train.labels, 10, progress=False)
    trainer.fit()
    metric = Trainer(TrainConfig(width=4, epochs=1, batch_size=128, task="metric", loss="nsm", weighting="cdb"),
                     train.images, train.labels, 10, progress=False)
    metric.fit()
    cdb = Trainer(TrainConfig(width=4, epochs=2, batch_size=128, weighting="cdb"), train.images, train.labels, 10,
                  progress=False)
    cdb.fit()
    json.dump({"weights": trainer.pool.weights().tolist(), "pool": len(trainer.pool),
               "param": float(next(trainer.network.parameters()).sum()),
               "proxies": metric.criterion.proxies.detach().double().sum().item(),
               "cdb_weights": cdb.weighting.weights.tolist()},
              open(sys.argv[1] + f".{world()[0]}", "w"))
""")


def test_training_under_torchrun(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(free_port()), str(script), str(tmp_path / "out")],
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (json.load(open(tmp_path / f"out.{r}")) for r in range(2))
    # Identical pools, weights, (DDP-synchronised) parameters, loss proxies and CDB weights (accuracy over all ranks)
    assert a == b
    assert a["pool"] == 1347  # stage 2 keeps one epoch of the global batches: every training image once
    assert np.isfinite(a["weights"]).all()


TRAIN_STREAMED = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    sys.path.insert(0, sys.argv[3])
    from engine_data import list_file_dataset
    from semscale.distributed import world
    from semscale.train import TrainConfig, Trainer
    dataset = list_file_dataset(Path(sys.argv[1]), "ImageNet_LT_train.txt")
    config = TrainConfig(width=4, epochs=1, batch_size=8, warmup_epochs=1, weighting="dsb", workers=1, threads=1)
    trainer = Trainer(config, dataset, progress=False)
    gathers, all_gather = [], torch.distributed.all_gather
    torch.distributed.all_gather = lambda *args: gathers.append(1) or all_gather(*args)
    trainer.fit()
    torch.distributed.all_gather = all_gather
    _, labels = trainer.pool.contents()
    json.dump({"pool_labels": labels.tolist(), "weights": trainer.pool.weights().tolist(),
               "gathers": len(gathers), "steps": len(trainer.source),
               "device": str(trainer.device), "backend": torch.distributed.get_backend(),
               "param": float(next(trainer.network.parameters()).sum())}, open(sys.argv[2] + f".{world()[0]}", "w"))
""")


def test_streamed_training_on_two_gloo_ranks(tmp_path):
    """A file dataset through each rank's DataLoader: the pool receives every rank's share of each global batch,
    in the (seed, epoch) order of one process."""
    from engine_data import list_file_dataset, make_imagenet_lt

    from semscale.engine.loader import epoch_order

    root = make_imagenet_lt(tmp_path / "lt")
    script = tmp_path / "train_streamed.py"
    script.write_text(TRAIN_STREAMED)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(free_port()), str(script), str(root), str(tmp_path / "out"),
                             str(ROOT / "tests")],
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                 "CUDA_VISIBLE_DEVICES": ""},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (json.load(open(tmp_path / f"out.{r}")) for r in range(2))
    assert a == b and a["device"] == "cpu" and a["backend"] == "gloo"
    assert a["gathers"] == 2 * a["steps"]  # features and labels a step; fit gives the global size, none for sizes
    labels = list_file_dataset(root, "ImageNet_LT_train.txt").labels
    assert a["pool_labels"] == labels[epoch_order(len(labels), 0, 1).numpy()].tolist()
