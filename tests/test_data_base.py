"""The dataset interface (semscale.data.base) and the registry: lazy decoding, errors that name the file and line."""
import numpy as np
import pytest
from PIL import Image

from semscale.data import (CorruptImage, DatasetLayoutError, FileImageDataset, ImageDataset, REGISTRY,
                           dataset_status, load_dataset)


def _write(path, value, mode="RGB", size=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode).save(path)
    return path


def test_file_dataset_decodes_lazily_in_its_mode(tmp_path):
    paths = [_write(tmp_path / f"{i}.png", 10 * i, mode="L") for i in range(4)]
    data = FileImageDataset("t", paths, [0, 1, 1, 0], ["a", "b"], tmp_path, mode="RGB")
    x, y = data[2]
    assert tuple(x.shape) == (3, 6, 6) and y == 1
    assert np.allclose(x.numpy(), 20 / 255)          # grey 20 converted to RGB, scaled to [0, 1]
    assert data.counts().tolist() == [2, 2] and data.channels == 3
    sub = data.subset([3, 1], name="s")
    assert sub.labels.tolist() == [0, 1] and sub.name == "s" and sub.paths[0].endswith("3.png")
    grey = data.with_transform(lambda im: np.asarray(im).shape)
    assert grey[0][0] == (6, 6, 3) and data.transform is None


def test_corrupt_and_missing_images_name_file_and_line(tmp_path):
    good = _write(tmp_path / "good.png", 5)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    data = FileImageDataset("t", [good, bad, tmp_path / "gone.png"], [0, 0, 1], ["a", "b"], tmp_path,
                            origins=["list.txt:1", "list.txt:2", "list.txt:3"])
    data[0]
    with pytest.raises(CorruptImage, match=r"bad\.png.*list\.txt:2"):
        data[1]
    with pytest.raises(CorruptImage, match=r"missing.*gone\.png.*list\.txt:3"):
        data[2]


def test_a_corrupt_image_in_a_loader_worker_comes_back_as_its_own_message(tmp_path):
    """torch re-raises a worker's error with 'Caught CorruptImage in DataLoader worker process 0' and the worker's
    traceback in the message; error_text gives the user the worker's own message, naming the file and line."""
    import torch

    from semscale.data.base import error_text

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    data = FileImageDataset("t", [bad], [0], ["a"], tmp_path, origins=["list.txt:1"])
    with pytest.raises(CorruptImage) as caught:
        next(iter(torch.utils.data.DataLoader(data, num_workers=1)))
    assert "Original Traceback" in str(caught.value)  # what torch gives
    text = error_text(caught.value)
    assert text.startswith("t: cannot decode") and "bad.png" in text and "list.txt:1" in text
    assert "Traceback" not in text and "\n" not in text
    plain = CorruptImage("a message")
    assert error_text(plain) == "a message"


def test_label_out_of_range_names_its_line(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"label 7 of sample 1 \(list\.txt:2\)"):
        FileImageDataset("t", ["a", "b"], [0, 7], ["x", "y"], tmp_path, origins=["list.txt:1", "list.txt:2"])


def test_in_memory_dataset_is_a_labelled_dataset():
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = ImageDataset("m", images, [1, 0], ["a", "b"], "memory")
    x, y = data[0]
    assert tuple(x.shape) == (1, 3, 3) and y == 1 and data.mode == "L"
    assert np.allclose(x.numpy()[0], images[0] / 255)


def test_registry_names_aliases_and_status():
    digits = load_dataset("digits", "test")
    assert len(digits) == 450 and digits.num_classes == 10
    for name in ("fashion-mnist", "mnist", "cifar10", "cifar100", "digits"):
        assert name in REGISTRY
    rows = {r["name"]: r for r in dataset_status(root="/nonexistent")}
    assert rows["cifar10"]["looks for"] == "cifar-10-batches-py" and "/nonexistent" in rows["cifar10"]["searched"]
    with pytest.raises(ValueError, match="split 'val'"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="semscale datasets"):
        load_dataset("no-such-set")
