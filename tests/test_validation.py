"""Bad input gets a ValueError that names what is wrong."""
import numpy as np
import pytest

from semscale import measure
from semscale.volume import class_volumes, volume


@pytest.fixture
def data(rng):
    return rng.normal(size=(30, 4)), np.repeat(np.arange(3), 10)


def test_nan_and_inf_rows_are_named(data):
    features, labels = data
    features[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf.*\[7\]"):
        class_volumes(features, labels)
    features[7, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        measure(features, labels)


def test_label_out_of_range(data):
    features, labels = data
    with pytest.raises(ValueError, match="label 2 is out of range for num_classes=2"):
        class_volumes(features, labels, num_classes=2)
    with pytest.raises(ValueError, match="negative label -1"):
        class_volumes(features, np.where(labels == 0, -1, labels))


def test_empty_class_is_named(data):
    features, labels = data
    with pytest.raises(ValueError, match="class 3 has no samples"):
        class_volumes(features, labels, num_classes=4)
    with pytest.raises(ValueError, match="class 1 has no samples"):
        measure(features[labels != 1], labels[labels != 1])


def test_mismatched_lengths(data):
    features, labels = data
    with pytest.raises(ValueError, match="29 labels for 30 samples"):
        class_volumes(features, labels[:-1])


def test_one_dimensional_features(data):
    _, labels = data
    with pytest.raises(ValueError, match="expected a 2-D array"):
        class_volumes(np.zeros(30), labels)
    with pytest.raises(ValueError, match="expected a 2-D array"):
        volume(np.zeros(5))


def test_non_integer_labels(data):
    features, labels = data
    with pytest.raises(ValueError, match="whole numbers; position 0 holds 0.5"):
        class_volumes(features, labels + 0.5)
    with pytest.raises(ValueError, match="integer class labels"):
        class_volumes(features, labels.astype(str))
    # Whole-valued floats are accepted as labels.
    np.testing.assert_allclose(class_volumes(features, labels.astype(float)), class_volumes(features, labels))


def test_bad_scale_and_alpha(data):
    features, labels = data
    with pytest.raises(ValueError, match="scale"):
        class_volumes(features, labels, scale=-1)
    with pytest.raises(ValueError, match="alpha"):
        measure(features, labels, alpha=0.5)
