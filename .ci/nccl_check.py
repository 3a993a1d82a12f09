"""Many-GPU check of issue 9 item 7, run by .ci/device_checks under torchrun (one rank per GPU):

    torchrun --standalone --nproc_per_node N .ci/nccl_check.py OUT_PREFIX [cuda|cpu]

Each rank trains the same two epochs of DSB-CE on digits (stage 3 in epoch 2) and writes OUT_PREFIX.<rank>.json:
its device, the process group's backend, the pool's size and weights and a parameter sum. With two or more ranks
every rank must hold the same pool, weights and (DDP-synchronised) parameters; the script exits 1 when not.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from semscale.data import load_dataset  # noqa: E402
from semscale.distributed import world  # noqa: E402
from semscale.train import TrainConfig, Trainer  # noqa: E402


def main(prefix: str, device: str = "cuda") -> int:
    train = load_dataset("digits", "train")
    config = TrainConfig(width=8, epochs=2, batch_size=128, warmup_epochs=1, weighting="dsb", device=device,
                         deterministic=True)
    trainer = Trainer(config, train.images, train.labels, 10, progress=False)
    trainer.fit()
    rank, size = world()
    backend = torch.distributed.get_backend() if size > 1 else "none (one process)"
    record = {"rank": rank, "world_size": size, "device": str(trainer.device), "backend": backend,
              "pool": len(trainer.pool), "weights": trainer.pool.weights().tolist(),
              "param": float(next(trainer.network.parameters()).detach().double().sum())}
    Path(f"{prefix}.{rank}.json").write_text(json.dumps(record, indent=1))
    if size > 1:
        torch.distributed.barrier()
        if rank == 0:
            records = [json.loads(Path(f"{prefix}.{r}.json").read_text()) for r in range(size)]
            keys = ("pool", "weights", "param")
            same = all(all(r[k] == records[0][k] for k in keys) for r in records)
            print(f"{size} ranks, backend {backend}: pool, weights and parameters "
                  f"{'identical on every rank' if same else 'DIFFER between ranks'}")
            return 0 if same else 1
    print(f"rank {rank} of {size} on {record['device']}, backend {backend}, pool {record['pool']} features")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
