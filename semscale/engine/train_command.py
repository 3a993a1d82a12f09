"""The `semscale train` command (its parser is in semscale/cli.py; its options come from TrainConfig through
cli_config): a named dataset or an image folder, trained and evaluated, with the resolved config printed, a CSV row
per epoch and the final metrics as JSON."""
from __future__ import annotations

from pathlib import Path

from ..data import load_dataset, load_image_folder, long_tailed_indices
from ..distributed import world
from ..report import write_json
from .cli_config import EpochLog, config_text, resolve_config, scalar_metrics, summary_line
from .evaluation import evaluate
from .trainer import Trainer


def cmd_train(args) -> int:
    config = resolve_config(args)
    if Path(args.target).is_dir():
        if not args.test_folder:
            raise ValueError("--test-folder: needed to evaluate when TARGET is a folder")
        if args.data_dir:
            raise ValueError(f"--data-dir: {args.target} is a folder, read as it is; --data-dir is searched for a "
                             "named dataset only: leave it out")
        if not config.image_size:
            raise ValueError("--image-size: a folder's images are streamed from disk and batched at one size; give "
                             "the side to resize them to (e.g. 32; 224 with --augment imagenet)")
        # Streamed, not held in memory: peak memory does not grow with the folder. The test images are decoded in
        # the training images' mode, so that their channels match the model's.
        train = load_image_folder(args.target, mode=args.mode, in_memory=False)
        test = load_image_folder(args.test_folder, mode=train.mode, in_memory=False)
    elif args.test_folder:
        raise ValueError(f"--test-folder: {args.target} is evaluated on its own test split; leave --test-folder out "
                         "(it serves a TARGET folder)")
    else:
        train, test = (load_dataset(args.target, split, root=args.data_dir).in_mode(args.mode)
                       for split in ("train", "test"))
    if args.imbalance:
        train = train.subset(long_tailed_indices(train.labels, args.imbalance, seed=0))
    if args.log:
        log = Path(args.log)
    elif args.out or args.checkpoint:
        log = Path(args.out or args.checkpoint).with_suffix(".epochs.csv")
    else:
        log = Path("results") / "train" / f"{train.name.replace('/', '_')}-{config.key()}" / "epochs.csv"
    trainer = Trainer(config, train, None, train.num_classes, args.checkpoint)
    rank = world()[0]
    if rank == 0:
        print(f"resolved config (key {config.key()}, device {trainer.device}):\n{config_text(config)}", flush=True)

    def test_metrics(trainer):
        last = trainer.epoch + 1 == config.epochs
        if not last and (args.eval_every <= 0 or (trainer.epoch + 1) % args.eval_every):
            return {}
        return scalar_metrics(evaluate(trainer.network, config, test, None, trainer.counts, trainer.criterion))

    trainer.fit(test_metrics, on_epoch=EpochLog(log))
    result = evaluate(trainer.network, config, test, None, trainer.counts, trainer.criterion)
    if rank != 0:
        return 0
    summary = {k: result[k] for k in ("top1", "head", "middle", "tail", "macro_ap", "recall_at_k", "nmi")
               if k in result}
    print(summary_line(summary))
    print(f"epoch log: {log}")
    if args.out:
        write_json(args.out, {"config": vars(args), **summary, "per_class": result.get("per_class"),
                              "history": trainer.history})
    return 0
