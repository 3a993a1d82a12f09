"""The paper's augmentations and MixUp / CutMix, checked by hand on tiny images."""
import numpy as np
import pytest
import torch
from PIL import Image

from semscale.mixing import BatchMixer, cutmix_box, soft_targets
from semscale.transforms import build_transform

TINY = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)  # a 2 x 3 grey image


def test_none_is_a_float_tensor_in_0_1():
    out = build_transform("none", None, 1, train=True)(TINY[:, :, None])
    assert out.dtype == torch.float32 and type(out) is torch.Tensor
    assert out.numpy().tolist() == (np.array([[[1, 2, 3], [4, 5, 6]]], np.float32) / np.float32(255)).tolist()


def test_none_matches_the_in_memory_path():
    from semscale.train import to_tensor_images

    images = np.random.default_rng(0).integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    transform = build_transform("none", None, 3, train=True)
    assert torch.equal(torch.stack([transform(image) for image in images]), to_tensor_images(images))


def test_none_takes_pil_float_and_grey_to_rgb_the_same_way():
    expected = torch.from_numpy(TINY.astype(np.float32) / 255)[None]
    transform = build_transform("none", None, 1, train=False)
    assert torch.equal(transform(Image.fromarray(TINY, mode="L")), expected)
    assert torch.equal(transform(TINY), expected)
    assert torch.equal(transform((TINY / 255.0).astype(np.float32)[:, :, None]), expected)
    rgb = build_transform("none", None, 3, train=False)(TINY[:, :, None])
    assert rgb.shape == (3, 2, 3) and all(torch.equal(rgb[c:c + 1], expected) for c in range(3))
    colour = np.stack([TINY, 2 * TINY, 3 * TINY], axis=-1)
    from_pil = build_transform("none", None, 3, train=False)(Image.fromarray(colour, mode="RGB"))
    assert torch.equal(from_pil[2], torch.from_numpy((3 * TINY).astype(np.float32) / 255))


def test_channel_mismatch_is_an_error_naming_both():
    with pytest.raises(ValueError, match="3 channels.*for 1"):
        build_transform("none", None, 1, train=False)(np.zeros((4, 4, 3), np.uint8))


def cifar_candidates(image):
    """Every 2 x 3 window of the image zero-padded by 4, as (offset, flipped) -> window, by hand."""
    padded = np.pad(image, 4)
    windows = {}
    for top in range(9):
        for left in range(9):
            window = padded[top:top + 2, left:left + 3]
            windows[(top, left, False)] = window
            windows[(top, left, True)] = window[:, ::-1]
    return windows


def test_cifar_training_is_a_padded_crop_and_a_flip():
    flipped = np.array([[3, 2, 1], [6, 5, 4]], dtype=np.uint8)
    candidates = cifar_candidates(TINY)
    assert np.array_equal(candidates[(4, 4, True)], flipped)
    transform = build_transform("cifar", (2, 3), 1, train=True)
    torch.manual_seed(0)
    seen = set()
    for _ in range(600):
        out = np.rint(transform(TINY).numpy()[0] * 255).astype(np.uint8)
        matches = {key for key, window in candidates.items() if np.array_equal(out, window)}
        assert matches, out
        seen |= matches
    assert (4, 4, False) in seen and (4, 4, True) in seen
    offsets = {(top, left) for top, left, _ in seen}
    assert {(0, 0), (8, 8), (0, 8), (8, 0)} <= offsets  # the padding reaches 4 pixels each side


def test_cifar_evaluation_leaves_the_image_alone():
    out = build_transform("cifar", (2, 3), 1, train=False)(TINY)
    assert torch.equal(out, torch.from_numpy(TINY.astype(np.float32) / 255)[None])


def test_imagenet_training_crop_size():
    torch.manual_seed(0)
    transform = build_transform("imagenet", 16, 3, train=True)
    for height, width in [(50, 70), (16, 16), (90, 20)]:
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
        out = transform(image)
        assert out.shape == (3, 16, 16) and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1


def test_imagenet_evaluation_is_resize_then_centre_crop():
    # 16 / 0.875 = 18.3 -> shorter side 18; an 18 x 28 image needs no resize and its centre 16 x 16 starts at
    # row (18 - 16) / 2 = 1 and column (28 - 16) / 2 = 6.
    image = np.arange(18 * 28, dtype=np.int64).reshape(18, 28) % 251
    image = image.astype(np.uint8)
    out = build_transform("imagenet", 16, 1, train=False)(image)
    assert torch.equal(out[0], torch.from_numpy(image[1:17, 6:22].astype(np.float32) / 255))
    assert build_transform("imagenet", 16, 1, train=False)(np.zeros((36, 90), np.uint8)).shape == (1, 16, 16)


@pytest.mark.parametrize("augment, size", [("tilt", 32), ("cifar", None), ("imagenet", None)])
def test_bad_augment_options(augment, size):
    with pytest.raises(ValueError, match=augment):
        build_transform(augment, size, 3, train=True)


def constant_batch(batch=6, size=8):
    """Image i is the constant i + 1, label i: the mixed pixels tell which image they came from."""
    images = torch.arange(1.0, batch + 1).view(batch, 1, 1, 1).expand(batch, 2, size, size).clone()
    return images, torch.arange(batch)


def test_cutmix_box_by_hand():
    # 10 x 10, lam0 = 0.75: side ratio 0.5, a 5 x 5 cut -> half-sides 2: rows 3..7 around the centre 5
    assert cutmix_box(10, 10, 0.75, 5, 5) == (3, 7, 3, 7)
    assert cutmix_box(10, 10, 0.75, 0, 9) == (0, 2, 7, 10)  # clipped at the top and right


@pytest.mark.parametrize("seed", range(8))
def test_cutmix_lam_is_the_pasted_area(seed):
    images, labels = constant_batch()
    mixed, labels_a, labels_b, lam = BatchMixer("cutmix", 1.0, 6)(images, labels, torch.Generator().manual_seed(seed))
    assert torch.equal(labels_a, labels)
    for i in range(6):
        source = labels_b[i].item()
        kept = (mixed[i] == i + 1).float().mean().item()
        pasted = (mixed[i] == source + 1).float().mean().item()
        if source != i:
            assert kept + pasted == 1.0 and kept == pytest.approx(lam, abs=1e-12)
        else:
            assert kept == 1.0


def test_mixup_is_the_convex_combination():
    images, labels = constant_batch()
    mixed, labels_a, labels_b, lam = BatchMixer("mixup", 0.4, 6)(images, labels, torch.Generator().manual_seed(3))
    for i in range(6):
        expected = lam * (i + 1) + (1 - lam) * (labels_b[i].item() + 1)
        torch.testing.assert_close(mixed[i], torch.full_like(mixed[i], expected))
    assert sorted(labels_b.tolist()) == list(range(6))


@pytest.mark.parametrize("alpha", [1.0, 0.2])
def test_mixup_lam_follows_beta_alpha_alpha(alpha):
    images, labels = constant_batch(batch=2, size=1)
    mixer, generator = BatchMixer("mixup", alpha), torch.Generator().manual_seed(0)
    lams = np.array([mixer(images, labels, generator)[3] for _ in range(2000)])
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)): 1/12 at a = 1, 0.1786 at a = 0.2
    assert lams.mean() == pytest.approx(0.5, abs=0.03)
    assert lams.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.1)


def test_same_generator_state_replays_the_mixing():
    images, labels = constant_batch()
    mixer = BatchMixer("mixup_cutmix", 1.0, 6)
    first = [mixer(images, labels, torch.Generator().manual_seed(s)) for s in range(20)]
    again = [mixer(images, labels, torch.Generator().manual_seed(s)) for s in range(20)]
    for (m1, a1, b1, l1), (m2, a2, b2, l2) in zip(first, again):
        assert torch.equal(m1, m2) and torch.equal(b1, b2) and l1 == l2
    # both kinds occur: MixUp leaves every image constant, CutMix a box of other pixels in some
    constant = [all(m[i].unique().numel() == 1 for i in range(6)) for m, *_ in first]
    assert any(constant) and not all(constant)


def test_soft_targets_by_hand():
    targets = soft_targets(torch.tensor([0, 2]), torch.tensor([1, 2]), 0.25, 3)
    assert targets.tolist() == [[0.25, 0.75, 0.0], [0.0, 0.0, 1.0]]


def test_mixer_errors():
    with pytest.raises(ValueError, match="blend"):
        BatchMixer("blend", 1.0, 3)
    with pytest.raises(ValueError, match="alpha"):
        BatchMixer("mixup", 0.0, 3)
    with pytest.raises(ValueError, match="num_classes=3"):
        BatchMixer("mixup", 1.0, 3)(torch.zeros(2, 1, 2, 2), torch.tensor([0, 3]), torch.Generator())


def test_cifar_padding_is_four_pixels():
    # A 6 x 6 image of non-zero pixels: a window shifted by s shows |s| zero rows (or columns); padding 4 allows
    # shifts -4..4, so at most 4 and every value 0..4 occurs.
    image = np.arange(1, 37, dtype=np.uint8).reshape(6, 6)
    transform = build_transform("cifar", 6, 1, train=True)
    torch.manual_seed(1)
    zero_rows, zero_cols = set(), set()
    for _ in range(400):
        out = transform(image)[0]
        zero_rows.add(int((out.sum(1) == 0).sum()))
        zero_cols.add(int((out.sum(0) == 0).sum()))
    assert zero_rows == zero_cols == {0, 1, 2, 3, 4}
