"""The experiments' train / evaluate / features plumbing on any dataset: file datasets stream through the same calls
as the in-memory sets, LADE's PC softmax is applied at test time, and extra class groupings are exact.

Each check compares with a hand computation or with the in-memory path on the same pixels (PNG is lossless)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from semscale.engine.evaluation import evaluate, inference_logits
from semscale.features import dataset_fingerprint, extract_features, trained
from semscale.losses import LADELoss
from semscale.train import TrainConfig


class FixedLogits(torch.nn.Module):
    """A 'model' whose logits for image i are row i of a table (the image's first pixel holds i)."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.as_tensor(table, dtype=torch.float32)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        index = images[:, 0, 0, 0].round().long()
        return self.table[index] + 0 * self.anchor, torch.zeros(len(images), 64)


def test_lade_pc_softmax_changes_the_prediction_as_by_hand():
    """LADE's inference rule (Hong et al. Sec. 3): f(x) - log p_s(y) + log p_t(y), p_t uniform. With counts 90 / 10 and
    logits (1.0, 0.0), plain argmax says class 0; 1.0 - log 0.9 = 1.105 < 0.0 - log 0.1 = 2.303 says class 1."""
    counts = np.array([90, 10])
    logits = np.array([[1.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    images = torch.arange(2, dtype=torch.float32).view(2, 1, 1, 1)
    model = FixedLogits(logits)
    config = TrainConfig(device="cpu")
    plain = evaluate(model, config, images, [1, 0], counts)
    lade = evaluate(model, config, images, [1, 0], counts, LADELoss(counts))
    assert plain["top1"] == 0.5 and lade["top1"] == 1.0
    adjusted = inference_logits(logits, LADELoss(counts))
    np.testing.assert_allclose(adjusted, logits - np.log(counts / counts.sum()) + np.log(1 / 2), rtol=1e-6)
    assert inference_logits(logits, torch.nn.CrossEntropyLoss()) is logits  # no rule: unchanged


def write_pngs(root: Path, images: np.ndarray, labels) -> list[Path]:
    from PIL import Image

    paths = []
    for i, (pixels, label) in enumerate(zip(images, labels)):
        path = root / f"c{label}" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[..., 0], mode="L").save(path)
        paths.append(path)
    return paths


@pytest.fixture
def twin_sets(tmp_path):
    """The same 24 grey 8 x 8 images twice: in memory (ImageDataset) and as PNG files (FileImageDataset)."""
    from semscale.data import FileImageDataset, ImageDataset

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 8)
    images = np.clip(labels[:, None, None, None] * 80 + rng.normal(0, 30, (24, 8, 8, 1)), 0, 255).astype(np.uint8)
    memory = ImageDataset("twins", images, labels, ["a", "b", "c"], "test")
    files = FileImageDataset("twins", write_pngs(tmp_path, images, labels), labels, ["a", "b", "c"], str(tmp_path),
                             mode="L")
    return memory, files


def test_file_dataset_trains_through_the_cache_and_streams_the_same_pixels(twin_sets, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    memory, files = twin_sets
    config = TrainConfig(epochs=2, batch_size=8, width=4, seed=3, device="cpu", workers=0)
    streamed = trained(files, config, progress=False)
    assert [h["epoch"] for h in streamed.history] == [1, 2]
    # Streaming reads the same pixels as memory does: the features of one network agree on both.
    np.testing.assert_allclose(extract_features(streamed.network, files, config=config),
                               extract_features(streamed.network, memory.images), rtol=1e-5, atol=1e-6)
    # The file set's checkpoint is the cache: a second call reuses it (no epoch is trained again).
    again = trained(files, config, progress=False)
    assert len(again.history) == 2 and again.history == streamed.history


def test_file_fingerprint_follows_labels_and_files(twin_sets):
    _, files = twin_sets
    before = dataset_fingerprint(files)
    assert dataset_fingerprint(files.subset(np.arange(len(files)))) == before
    relabelled = files.subset(np.arange(len(files)))
    relabelled.labels = relabelled.labels.copy()
    relabelled.labels[0] = 2
    assert dataset_fingerprint(relabelled) != before
    assert dataset_fingerprint(files.subset(np.arange(1, len(files)))) != before
    Path(files.paths[0]).write_bytes(Path(files.paths[0]).read_bytes() + b"\0" * 7)  # the file itself changed
    assert dataset_fingerprint(files) != before


def test_experiment_evaluate_reports_extra_groupings_by_hand(twin_sets, tmp_path, monkeypatch):
    """metrics[name][group] = correct test samples of the group's classes / all test samples of those classes."""
    from semscale.experiment import Experiment

    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    memory, files = twin_sets
    exp = Experiment(str(Path(__file__).resolve().parents[1] / "experiments" / "pearson.py"),
                     ["--profile", "smoke", "--out", str(tmp_path / "out"), "--quiet"])
    trainer = exp.train(files, epochs=1, batch_size=8, width=4, device="cpu", workers=0)
    split = np.array(["head", "tail", "tail"])
    metrics = exp.evaluate(trainer, files, groups={"mine": split})
    logits = trainer.network.eval()(torch.from_numpy(memory.images.transpose(0, 3, 1, 2) / 255.0).float())[0]
    predictions = logits.argmax(1).numpy()
    hits = predictions == memory.labels
    assert metrics["top1"] == pytest.approx(hits.mean())
    assert metrics["mine"]["head"] == pytest.approx(hits[memory.labels == 0].mean())
    assert metrics["mine"]["tail"] == pytest.approx(hits[memory.labels > 0].mean())
    assert np.isnan(metrics["mine"]["middle"])
    np.testing.assert_allclose(exp.features(trainer, files), exp.features(trainer, memory), rtol=1e-5, atol=1e-6)
