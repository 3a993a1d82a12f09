"""Image folders: lazy, one colour mode for every image (the caller's or the majority over all headers, announced)."""
import numpy as np
import pytest
from PIL import Image

from miniature import make_image_folder
from miniature_large import make_mixed_folder, write_image
from semscale.data import CorruptImage, DatasetLayoutError, FileImageDataset, ImageDataset, load_dataset
from semscale.data.datasets import load_image_folder
from semscale.data.folders import image_folder


def test_lazy_folder_counts_classes_and_native_size(tmp_path):
    make_image_folder(tmp_path / "f", classes=("cat", "dog", "emu"), per_class=4, size=20)
    (tmp_path / "f" / "dog" / "extra").mkdir()
    write_image(tmp_path / "f" / "dog" / "extra" / "x.JPG", np.random.default_rng(0), size=20, fmt="JPEG")
    (tmp_path / "f" / "dog" / "notes.txt").write_text("not an image")
    data = image_folder(tmp_path / "f")
    assert isinstance(data, FileImageDataset) and data.classes == ["cat", "dog", "emu"]
    assert data.counts().tolist() == [4, 5, 4] and data.mode == "RGB"
    assert data.paths[4].endswith("dog/0.png") and data.paths[8].endswith("dog/extra/x.JPG")
    x, y = data[5]
    assert tuple(x.shape) == (3, 20, 20) and y == 1
    pixels = np.asarray(Image.open(data.paths[5]))
    np.testing.assert_allclose(x.numpy().transpose(1, 2, 0), pixels / 255, atol=1e-6)
    assert load_dataset(str(tmp_path / "f"), in_memory=False).paths == data.paths


def test_later_colour_images_are_not_measured_in_grey(tmp_path, capsys):
    """Issue 12: 60 grey then 100 colour images; the old reader looked at the first 50 and chose grey."""
    make_mixed_folder(tmp_path / "m", (("a", 60, 100), ("b", 3, 3)))
    data = image_folder(tmp_path / "m")
    assert data.mode == "RGB" and data.channels == 3
    assert "103 colour and 63 grey images; decoding all as colour (RGB), the majority" in capsys.readouterr().err
    assert tuple(data[0][0].shape) == (3, 12, 12)                      # a grey image, converted
    assert load_image_folder(tmp_path / "m", image_size=16).images.shape == (166, 16, 16, 3)


def test_majority_and_explicit_mode(tmp_path, capsys):
    make_mixed_folder(tmp_path / "m", (("a", 60, 10), ("b", 5, 0)))
    data = image_folder(tmp_path / "m")
    assert data.mode == "L" and "10 colour and 65 grey images; decoding all as grey (L)" in capsys.readouterr().err
    colour = image_folder(tmp_path / "m", mode="RGB")
    assert colour.mode == "RGB" and capsys.readouterr().err == ""      # the caller chose: nothing to announce
    x = colour[65][0].numpy()                                           # a colour image stays colour
    assert x.shape == (3, 12, 12) and not np.allclose(x[0], x[1])
    grey = data[65][0].numpy()
    assert grey.shape == (1, 12, 12)
    expected = np.asarray(Image.open(data.paths[65]).convert("L")) / 255
    np.testing.assert_allclose(grey[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="mode: 'RGB' or 'L'"):
        image_folder(tmp_path / "m", mode="CMYK")


def test_in_memory_option_for_current_callers(tmp_path):
    make_image_folder(tmp_path / "g", mode="L", per_class=3, size=10)
    data = load_image_folder(tmp_path / "g", image_size=8)
    assert isinstance(data, ImageDataset) and data.images.shape == (9, 8, 8, 1)
    assert data.classes == ["cat", "dog", "emu"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    expected = np.asarray(Image.open(tmp_path / "g" / "dog" / "1.png").resize((8, 8), Image.BILINEAR))
    np.testing.assert_array_equal(data.images[4, ..., 0], expected)


def test_bad_folders(tmp_path):
    with pytest.raises(DatasetLayoutError, match="expected one sub-folder per class"):
        image_folder(tmp_path)
    make_image_folder(tmp_path / "f", per_class=2)
    (tmp_path / "f" / "dog" / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(CorruptImage, match=r"cannot read the header of .*dog/1\.png"):
        image_folder(tmp_path / "f")                     # the mode scan reads every header
    data = image_folder(tmp_path / "f", mode="RGB")      # no scan: the error comes when the image is decoded
    with pytest.raises(CorruptImage, match=r"cannot decode .*dog/1\.png"):
        data[3]
    (tmp_path / "e" / "a").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="class 'a': no images"):
        image_folder(tmp_path / "e")
