"""Benchmark of the dynamic re-weighting framework (paper App. F.2, Table 10); writes results/bench/.

    python experiments/bench_dsb.py --profile quick

1. Training speed: iterations per second of DSB-X over X, for X = CE and SoftTriple, on the quick model (the small
   CNN) and on ResNet-18 (a backbone of the paper's size), timed in interleaved blocks within one process (the
   machine is shared: only ratios within one run are reported).
2. One pool update plus weights at ImageNet-LT size (C = 1,000, pool 115,846 x 64, batch 256) and iNaturalist-2018
   size (C = 8,142, pool 437,513 x 64, batch 512), incremental against recomputing every class from the pool (the
   paper's way): equal weights, the speed-up, milliseconds a step, and the floor (the log-determinants and centre
   distances of just the classes a step touches).
3. The pool's memory against the paper's float32 N x d.
4. The re-weighting's share of a DSB-CE step per backbone (small CNN and torchvision's, tiny random images): the
   pool update and weights timed inside each step, mean and 95% interval over steps (target: at most 2%, held when
   the upper bound is within it); beside it the same update back to back, and after an idle pause of one step.
5. The host allocator: quick small-CNN training steps with the Trainer's setting (freed activations kept in the
   heap, semscale.engine.devices.keep_freed_host_memory) against glibc's default, each block a fresh process.
6. Streaming against in-memory: whole epochs of the quick model over the same Fashion-MNIST images, once from the
   in-memory tensor and once decoded from PNG files through the DataLoader (semscale.benchmark, interleaved blocks).
7. On a GPU (when torch.cuda is available; else these rows say "not run" and why): the pool update plus weights at
   both Table 10 sizes with the pool on the device, FeaturePool and DeviceFeaturePool (the update that reads
   nothing back, semscale/device_pool.py, which the Trainer uses on a GPU) (target: 5 ms at iNaturalist size);
   whole epochs of ResNet-50 at the paper's batch (256, bf16, 224 px synthetic images resident on the GPU, 1,000
   classes) of this Trainer against a bare torchvision loop (target: at least 0.95) and of DSB-CE against CE with
   the pool filled to ImageNet-LT size (target: at least 0.98).
Pool features are synthetic (class centres plus noise, long-tailed labels): the cost does not depend on values.
"""
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from semscale.benchmark import BareLoop, interleaved, pool_at_scale, ratio_row, synchronise, trainer_epoch  # noqa: E402
from semscale.host_benchmark import allocator_rows, share_rows  # noqa: E402
from semscale.data import FileImageDataset, long_tailed_indices  # noqa: E402
from semscale.device_pool import DeviceFeaturePool  # noqa: E402
from semscale.experiment import Experiment, run_script  # noqa: E402
from semscale.pool import FeaturePool  # noqa: E402
from semscale.report import atomic_write_text  # noqa: E402
from semscale.stats import judge, mean_interval  # noqa: E402
from semscale.train import TrainConfig, Trainer, epoch_order  # noqa: E402


NO_GPU = "not run: no GPU on this machine (torch.cuda is unavailable)"


def speed_ratio(exp, loss: str, cfg, backbone: str, blocks: int, block_iterations: int, **device) -> dict:
    """it/s of DSB-X and X, alternating blocks of iterations so both see the same machine load. `device`: a
    TrainConfig device option, when the Trainer has one."""
    full = exp.dataset(cfg["dataset"], "train")
    train = full.subset(long_tailed_indices(full.labels, 100, seed=0))
    task = "metric" if loss == "st" else "classification"
    trainers = {}
    for weighting in ("none", "dsb"):
        config = TrainConfig(task=task, loss=loss, weighting=weighting, backbone=backbone, width=cfg["width"],
                             warmup_epochs=1, batch_size=cfg["batch_size"], seed=0, **device)
        trainer = Trainer(config, train.images, train.labels, train.num_classes, progress=False)
        if trainer.pool is not None:  # fill the pool with one epoch of features (stage 1), then time stage 3
            for batch in torch.split(epoch_order(len(train.labels), 0, 1), config.batch_size):
                with torch.no_grad():
                    _, pooled = trainer.model(trainer.images[batch])
                trainer.pool.update(pooled, trainer.labels[batch], epoch=1)  # tensors on any device
        trainers[weighting] = trainer
    batches = list(torch.split(epoch_order(len(train.labels), 0, 2), cfg["batch_size"]))
    seconds, shares = {"none": [], "dsb": []}, []
    for block in range(blocks):
        for weighting in (("none", "dsb") if block % 2 == 0 else ("dsb", "none")):
            trainer = trainers[weighting]
            chosen = batches[(block * block_iterations) % len(batches):][:block_iterations]
            trainer.weighting_seconds = 0.0
            synchronise(trainer.device)
            started = time.perf_counter()
            for batch in chosen:
                trainer.step(batch, epoch=3)
            synchronise(trainer.device)  # a GPU's queued kernels belong to this block
            elapsed = time.perf_counter() - started
            seconds[weighting].append(len(chosen) / elapsed)
            if weighting == "dsb":
                shares.append(trainer.weighting_seconds / elapsed)
    ratios = np.array(seconds["dsb"]) / np.array(seconds["none"])
    mean, low, high = mean_interval(ratios)
    # The pool update and weights timed inside the DSB-X steps themselves: 1 - their share is the ratio the
    # re-weighting alone allows, free of the block-to-block noise of a shared machine.
    share, share_low, share_high = mean_interval(np.array(shares))
    return {"backbone": backbone, "device": str(trainers["dsb"].device), "loss": {"ce": "CE", "st": "SoftTriple"}[loss],
            "X it/s": float(np.median(seconds["none"])), "DSB-X it/s": float(np.median(seconds["dsb"])),
            "ratio": mean, "ratio low": low, "ratio high": high,
            "1 - re-weighting share": 1 - share, "(1 - share) low": 1 - share_high, "(1 - share) high": 1 - share_low,
            "blocks": blocks,
            "iterations per block": block_iterations}


SPEED_TARGET = 0.98  # DSB-X at >= 0.98 of X's it/s


def speed_held(row) -> bool | None:
    """The speed claim by the one rule: the 95% interval's lower bound over blocks, not the mean, is >= the target."""
    return judge(row["ratio low"], SPEED_TARGET, inclusive=True)[0]


SHARE_TARGET = 0.02  # the re-weighting at most 2% of a step (issue 9)


def share_judged(row) -> tuple[bool | None, str]:
    """The share claim by the same rule, read as "1 - share >= 0.98": the 95% interval's upper bound over steps, not
    the mean, is within the target."""
    held, why = judge(1.0 - row["share high"], 1.0 - SHARE_TARGET, inclusive=True)
    return held, f"upper bound {row['share high']:.4g} exceeds {SHARE_TARGET:g}" if held is False else why


def gpu_pool_rows(exp, cfg) -> list:
    """Pool update plus weights with the pool on the GPU at each pool size; "not run" and why without one. Each
    size's diagnosis (the lines that make the host wait, the profiler's top operations) goes to
    gpu_pool_diagnosis_<size>.txt."""
    pools = (FeaturePool, DeviceFeaturePool)   # the update with host reads, and the Trainer's on a GPU (none)
    if not torch.cuda.is_available():
        return [{"size": size["name"], "update": pool.__name__, "device": "cuda", "incremental ms/step": NO_GPU}
                for size in cfg["pool_sizes"] for pool in pools]
    rows = [pool_at_scale(**size, device="cuda", pool_class=pool) for size in cfg["pool_sizes"] for pool in pools]
    for row in rows:
        atomic_write_text(exp.out / f"gpu_pool_diagnosis_{row['size']}_{row['update']}.txt", row.pop("diagnosis"))
    return rows


def gpu_training_rows(cfg, device: str = "cuda") -> list:
    """Whole epochs on the GPU, interleaved: this Trainer (CE, then DSB-CE in stage 3 with the pool filled to
    `pool_size` synthetic features) and a bare torchvision loop, all on the same device-resident synthetic images."""
    spec = cfg["gpu_training"]
    if device == "cuda" and not torch.cuda.is_available():
        return [{"loop": loop, "reference": reference, "ratio": NO_GPU} for loop, reference, *_ in GPU_RATIOS]
    import torchvision

    device, classes = torch.device(device), spec["classes"]
    generator = torch.Generator().manual_seed(0)
    size = spec["batch_size"] * spec["steps"]
    images = torch.rand((size, 3, spec["image_size"], spec["image_size"]), generator=generator).to(device)
    labels = torch.randint(0, classes, (size,), generator=generator)
    common = dict(backbone=spec["backbone"], amp=spec["amp"], batch_size=spec["batch_size"], optimizer="sgd",
                  lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="none", device=str(device), warmup_epochs=1,
                  deterministic=spec["deterministic"], seed=0)
    trainers = {}
    for name, weighting in (("Trainer CE", "none"), ("Trainer DSB-CE", "dsb")):
        trainer = Trainer(TrainConfig(**common, weighting=weighting), images, labels.numpy(), classes, progress=False)
        if trainer.pool is not None:  # stage 1 fills the pool; every timed epoch is then in stage 3
            fill = torch.randint(0, classes, (spec["pool_size"],), generator=generator).to(device)
            features = torch.randn((len(fill), trainer.pool.dim), generator=generator).to(device) + fill[:, None]
            for start in range(0, len(fill), spec["batch_size"]):
                trainer.pool.update(features[start:start + spec["batch_size"]],
                                    fill[start:start + spec["batch_size"]], epoch=1)
        trainer.epoch = 1
        trainers[name] = trainer
    model = getattr(torchvision.models, spec["backbone"])(num_classes=classes).to(device)
    bare = BareLoop(model, images, labels.to(device), spec["batch_size"], spec["amp"], lr=0.1, momentum=0.9,
                    weight_decay=5e-4, channels_last=trainers["Trainer CE"].channels_last)
    loops = {name: partial(trainer_epoch, trainer) for name, trainer in trainers.items()}
    rates = interleaved({**loops, "bare torchvision": bare}, spec["blocks"])
    settings = {"backbone": spec["backbone"], "batch": spec["batch_size"], "image size": spec["image_size"],
                "amp": spec["amp"], "deterministic": spec["deterministic"],
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)}
    return [{**ratio_row(rates, loop, reference), **settings} for loop, reference, *_ in GPU_RATIOS]


# (loop, reference, target ratio of img/s, claim id): issue 9's targets
GPU_RATIOS = (("Trainer CE", "bare torchvision", 0.95, "gpu_trainer_vs_bare"),
              ("Trainer DSB-CE", "Trainer CE", 0.98, "gpu_dsb_vs_ce"))


def streaming_rows(exp, cfg) -> list:
    """Whole epochs of the quick model over the same images: from the in-memory tensor, and decoded from PNG files
    through the DataLoader (`workers` loader processes), interleaved."""
    from PIL import Image

    spec = cfg["streaming"]
    images = exp.dataset(cfg["dataset"], "train").subset(np.arange(spec["images"]))
    config = TrainConfig(width=cfg["width"], batch_size=cfg["batch_size"], workers=spec["workers"], seed=0)
    with tempfile.TemporaryDirectory() as folder:
        paths = [f"{folder}/{i}.png" for i in range(len(images))]
        for path, image in zip(paths, images.images):  # float images in [0, 1] (digits) are rounded to 8 bits
            Image.fromarray(image[..., 0] if image.dtype == np.uint8 else np.round(image[..., 0] * 255).astype(
                np.uint8)).save(path)
        files = FileImageDataset("fashion-mnist png", paths, images.labels, images.classes, "bench_dsb", mode="L")
        trainers = {"in memory": Trainer(config, images, progress=False),
                    "streamed from PNG files": Trainer(config, files, progress=False)}
        rates = interleaved({name: partial(trainer_epoch, trainer) for name, trainer in trainers.items()},
                            spec["blocks"])
    return [{**ratio_row(rates, "streamed from PNG files", "in memory"), "images": len(images),
             "workers": spec["workers"], "device": str(trainers["in memory"].device)}]


def main(argv=None) -> int:
    exp = Experiment(__file__, argv, folder="bench")
    cfg = exp.config
    torch.set_num_threads(cfg.get("threads", 2))
    speed = [speed_ratio(exp, loss, cfg, **model) for model in cfg["speed_models"] for loss in ("ce", "st")]
    exp.table("speed", speed, list(speed[0]), title="Training speed: DSB-X against X in one run",
              note="Paper Table 10: DSB-ST / SoftTriple = 0.85-0.94 (ImageNet-LT 0.925, iNaturalist 0.913, Cars196 "
                   "0.938, CUB 0.846, Mini-ImageNet 0.872). Ratio: mean and 95% interval over interleaved blocks. "
                   "1 - re-weighting share: the time of the pool update and weights measured inside the DSB-X "
                   "steps, as a fraction of them (mean and 95% interval over blocks).")
    for row in speed:
        quick_model = row["backbone"] == "small_cnn"
        exp.claim(f"speed_{row['loss']}" + ("" if quick_model else f"_{row['backbone']}"),
                  f"DSB-{row['loss']} runs at >= 0.98 of {row['loss']}'s it/s with "
                  f"{'the quick model' if quick_model else row['backbone']} (our target; the paper has 0.85-0.94)",
                  speed_held(row), f"{row['ratio']:.3f} [{row['ratio low']:.3f}, {row['ratio high']:.3f}]",
                  paper="0.85-0.94", reason=judge(row["ratio low"], SPEED_TARGET, inclusive=True)[1])
    sizes = [pool_at_scale(**size) for size in cfg["pool_sizes"]]
    exp.table("pool_update", sizes, list(sizes[0]), title="One pool update plus weights: incremental vs from scratch",
              note="Median over steps; from scratch = every class recomputed from the pool (the paper's way). "
                   "Floor = the log-determinants and centre-distance rows of just the classes a step touches; "
                   "'speed-up at the floor' is the most an exact incremental update could reach on this machine. "
                   "Memory: raw float32 features and labels plus float64 per-class moments.")
    for row in sizes:
        exp.claim(f"equal_{row['size']}", f"incremental weights equal from-scratch weights ({row['size']})",
                  bool(row["max relative weight difference"] < 1e-6), f"{row['max relative weight difference']:.2e}")
        exp.claim(f"speedup_{row['size']}", f"incremental at least 100x faster than from scratch ({row['size']})",
                  bool(row["speed-up"] >= 100), f"{row['speed-up']:.0f}x, {row['incremental ms/step']:.1f} ms/step "
                  f"(floor {row['floor ms/step']:.1f})")
    shares = share_rows(cfg)
    exp.table("reweighting_share", shares, list(shares[0]), title="Re-weighting share of a DSB-CE step per backbone",
              note="Pool update plus weights timed inside Trainer.step, over the whole step; tiny random images "
                   "(so the share is larger than at the paper's image sizes), C classes, stage 3; mean and 95% "
                   "interval over the steps (at least the profile's steps and min_seconds of them). Target: at most "
                   "0.02 (issue 9), held when the upper bound is. Back to back: the median of the same update plus "
                   "weights run with nothing between them (caches warm). After an idle pause: the same, each after "
                   "sleeping one step's length (at most 0.25 s), which touches none of the pool's data or code; "
                   "where it is as large as the in-step time, the in-step excess over back to back is the cost of "
                   "running the update once a step on this machine, not of what the backbone evicted.")
    for row in shares:
        held, why = share_judged(row)
        exp.claim(f"share_{row['backbone']}", f"the re-weighting takes at most 2% of a DSB-CE step "
                  f"({row['backbone']}, {row['image size']} px, batch {row['batch']})", held,
                  f"{row['re-weighting share']:.4f} [{row['share low']:.4f}, {row['share high']:.4f}] "
                  f"({row['re-weighting ms']:.2f} of {row['step ms']:.1f} ms over {row['steps']} steps; "
                  f"{row['re-weighting ms back to back']:.2f} ms back to back, "
                  f"{row['re-weighting ms after an idle pause']:.2f} after an idle pause of one step)",
                  reason=why)
    allocator = allocator_rows(cfg)
    exp.table("host_allocator", allocator, list(allocator[0]), title="CPU training steps: freed activations kept in "
              "the heap against glibc's default", note="The quick small CNN (random 28 x 28 images, 10 classes), "
              "each block a fresh process (glibc's thresholds are per process): SEMSCALE_MALLOC=default against the "
              "Trainer's mallopt setting; ratio: mean and 95% interval over interleaved blocks; page faults: minor "
              "faults per step, median over blocks. Off glibc (macOS, Windows) both are the platform's default.")
    streaming = streaming_rows(exp, cfg)
    exp.table("streaming", streaming, list(streaming[0]), title="Streaming against in-memory: whole epochs of the "
              "quick model", note="The same images of the profile's dataset, from the in-memory tensor or decoded "
              "from PNG files through the DataLoader; ratio: mean and 95% interval over interleaved blocks of one "
              "epoch each.")
    gpu_pool = gpu_pool_rows(exp, cfg)
    exp.table("gpu_pool_update", gpu_pool, list(gpu_pool[0]), title="On a GPU: one pool update plus weights, the "
              "pool on the device", note="Target: within 5 ms at iNaturalist-2018 size (issue 9).")
    gpu_training = gpu_training_rows(cfg)
    exp.table("gpu_training", gpu_training, list(gpu_training[0]), title="On a GPU: whole training epochs at the "
              "paper's batch, interleaved", note="Synthetic images resident on the GPU (the loops, not the data "
              "pipeline, are compared); the bare loop is torchvision's model, autocast, cross-entropy and SGD, "
              "nothing else. Deterministic: both loops run under the process's same algorithm settings.")
    for row in gpu_pool:
        ms = row["incremental ms/step"]
        measured = not isinstance(ms, str)
        which = "" if row["update"] == "FeaturePool" else "_sync_free"
        exp.claim(f"gpu_pool{which}_{row['size']}", f"one pool update plus weights on the GPU within 5 ms "
                  f"({row['size']}, {row['update']})",
                  bool(ms <= 5.0) if measured else None, f"{ms:.2f} ms" if measured else "",
                  reason="" if measured else ms)
    for row, (_, _, target, claim) in zip(gpu_training, GPU_RATIOS):
        measured = not isinstance(row["ratio"], str)
        held, why = judge(row["ratio low"], target, inclusive=True) if measured else (None, row["ratio"])
        exp.claim(claim, f"{row['loop']} runs at >= {target} of {row['reference']}'s img/s on the GPU "
                  "(issue 9's target)",
                  held, f"{row['ratio']:.3f} [{row['ratio low']:.3f}, {row['ratio high']:.3f}]" if measured else "",
                  reason=why)
    return exp.finish()


if __name__ == "__main__":
    sys.exit(run_script(main))
