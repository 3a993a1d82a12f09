"""Evaluation metrics against scikit-learn, plain loops and hand-computed cases (never against semscale itself)."""
import numpy as np
import pytest
import torch
from sklearn.metrics import (accuracy_score, average_precision_score, normalized_mutual_info_score,
                             recall_score)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from semscale.evaluate import (classification_metrics, confusion_matrix, group_accuracy, macro_average_precision,
                               nmi, per_class_accuracy, recall_at_k)
from semscale.scales import split_by_count, split_by_scale, split_terciles


@pytest.fixture
def scored():
    """Five classes, class 4 never in the test labels; scores with some errors, no ties."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=80)
    scores = rng.normal(size=(80, 5))
    scores[np.arange(80), labels] += rng.uniform(0, 2.5, size=80)  # mostly right, sometimes wrong
    return labels, scores


def test_top1_and_confusion_match_sklearn(scored):
    labels, scores = scored
    metrics = classification_metrics(labels, scores)
    predictions = scores.argmax(1)
    assert 0.3 < metrics["top1"] < 0.95  # the case has both hits and misses
    assert metrics["top1"] == pytest.approx(accuracy_score(labels, predictions))
    expected = sk_confusion_matrix(labels, predictions, labels=range(5))  # rows: true class, columns: predicted
    np.testing.assert_array_equal(metrics["confusion"], expected)
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 5), expected)


def test_confusion_rows_are_true_classes_by_hand():
    matrix = confusion_matrix([0, 0, 1, 2], [1, 0, 1, 1], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_per_class_accuracy_is_per_class_recall(scored):
    labels, scores = scored
    per_class = classification_metrics(labels, scores)["per_class"]
    predictions = scores.argmax(1)
    np.testing.assert_allclose(per_class[:4], recall_score(labels, predictions, labels=range(4), average=None))
    assert np.isnan(per_class[4])  # no test sample of class 4: undefined, not 0
    np.testing.assert_allclose(per_class_accuracy(np.array([[3, 1], [2, 2]])), [0.75, 0.5])


def test_macro_ap_is_sklearn_one_vs_rest_mean_over_present_classes(scored):
    labels, scores = scored
    expected = np.mean([average_precision_score(labels == c, scores[:, c]) for c in range(4)])
    assert classification_metrics(labels, scores)["macro_ap"] == pytest.approx(expected)
    assert macro_average_precision(labels, scores) == pytest.approx(expected)


def test_macro_ap_hand_case():
    # class 0 scores 0.9 (pos), 0.8, 0.7 (pos), 0.1: positives ranked 1st and 3rd -> AP = (1/1 + 2/3) / 2
    labels = np.array([0, 1, 0, 1])
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.1, 0.05]])
    class0 = (1 + 2 / 3) / 2
    # class 1 scores: 0.1, 0.7, 0.2, 0.05 -> order: sample 1 (pos), 2 (neg), 0 (neg), 3 (pos): (1/1 + 2/4) / 2
    class1 = (1 + 2 / 4) / 2
    assert macro_average_precision(labels, scores) == pytest.approx((class0 + class1) / 2)


def test_per_class_ap_is_sklearn_per_class_and_nan_when_absent(scored):
    """App. D.6's per-class AP: each class's one-vs-rest AP (scikit-learn), nan for class 4 (no test sample)."""
    labels, scores = scored
    per_class = classification_metrics(labels, scores)["per_class_ap"]
    expected = [average_precision_score(labels == c, scores[:, c]) for c in range(4)]
    np.testing.assert_allclose(per_class[:4], expected)
    assert per_class.shape == (5,) and np.isnan(per_class[4])
    hand = classification_metrics(np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2],
                                                                     [0.1, 0.05]]))["per_class_ap"]
    np.testing.assert_allclose(hand, [(1 + 2 / 3) / 2, (1 + 2 / 4) / 2])  # the hand case above, class by class


def test_split_by_count_boundaries_are_the_papers():
    """Head: more than 100 images; Middle: 20-100; Tail: less than 20 (Table 2's caption and text)."""
    counts = [1000, 101, 100, 50, 20, 19, 1]
    assert split_by_count(counts).tolist() == ["head", "head", "middle", "middle", "middle", "tail", "tail"]


def test_split_terciles_by_hand():
    # ascending values: class 4 (0.1), 1 (0.2), 0 (0.3) | 3 (0.5), 6 (0.6) | 2 (0.9), 5 (1.0)... C = 7: tail 3
    values = [0.3, 0.2, 0.9, 0.5, 0.1, 1.0, 0.6]
    assert split_terciles(values).tolist() == ["tail", "tail", "head", "middle", "tail", "head", "middle"]
    # ties broken by class index: the lower index counts as smaller
    assert split_terciles([1, 1, 1]).tolist() == ["tail", "middle", "head"]
    assert split_by_scale([3.0, 1.0, 2.0]).tolist() == ["head", "tail", "middle"]


def test_group_accuracy_is_over_the_groups_test_samples_by_hand():
    groups = np.array(["head", "head", "middle", "tail"])
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    predictions = np.array([0, 1, 1, 1, 2, 0, 0, 3])
    result = group_accuracy(labels, predictions, groups)
    assert result["head"] == pytest.approx(3 / 4)   # samples of classes 0 and 1
    assert result["middle"] == pytest.approx(1 / 3)
    assert result["tail"] == pytest.approx(1.0)
    assert np.isnan(group_accuracy(labels, predictions, np.array(["head"] * 4))["tail"])


def test_classification_metrics_groups_by_the_given_split(scored):
    labels, scores = scored
    train_counts = [500, 60, 10, 101, 3]
    metrics = classification_metrics(labels, scores, split_by_count(train_counts))
    predictions = scores.argmax(1)
    for name, classes in (("head", [0, 3]), ("middle", [1]), ("tail", [2, 4])):
        mask = np.isin(labels, classes)
        assert metrics[name] == pytest.approx(accuracy_score(labels[mask], predictions[mask])), name


def test_training_evaluation_groups_by_training_counts_not_test_counts():
    """train_and_evaluate reports head / middle / tail by the TRAINING counts (>100 / 20-100 / <20)."""
    from semscale.data import ImageDataset
    from semscale.train import TrainConfig, to_tensor_images, train_and_evaluate

    rng = np.random.default_rng(0)

    def images_for(labels):
        return (rng.uniform(0, 0.6, size=(len(labels), 8, 8, 1)) + 0.1 * labels[:, None, None, None]).astype(
            np.float32)

    train_labels = np.repeat([0, 1, 2], [120, 30, 10])
    test_labels = np.repeat([0, 1, 2], 12)  # balanced: a split by test counts would put every class in one group
    train = ImageDataset("toy", images_for(train_labels), train_labels, ["a", "b", "c"], "test")
    test = ImageDataset("toy-test", images_for(test_labels), test_labels, ["a", "b", "c"], "test")
    config = TrainConfig(width=2, epochs=1, batch_size=40, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only spin on a shared machine
    try:
        result = train_and_evaluate(config, train, test, progress=False)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        network = result["trainer"].network.eval()
        predictions = network(to_tensor_images(test.images))[0].numpy().argmax(1)
    for name, c in (("head", 0), ("middle", 1), ("tail", 2)):
        mask = test_labels == c
        assert result[name] == pytest.approx((predictions[mask] == c).mean()), name
    assert result["top1"] == pytest.approx(accuracy_score(test_labels, predictions))


def plain_recall_at_k(embeddings, labels, k):
    hits = 0
    for i in range(len(labels)):
        similarities = []
        for j in range(len(labels)):
            if j != i:
                a, b = embeddings[i], embeddings[j]
                similarities.append((float(a @ b / np.sqrt((a @ a) * (b @ b))), j))
        similarities.sort(reverse=True)
        hits += any(labels[j] == labels[i] for _, j in similarities[:k])
    return hits / len(labels)


def test_recall_at_k_against_a_plain_loop():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 6, size=40)
    embeddings = rng.normal(size=(40, 5)) + 0.8 * np.eye(6)[labels][:, :5] * rng.uniform(0.5, 3, size=(40, 1))
    result = recall_at_k(embeddings, labels, ks=(1, 2, 4, 8))
    values = [plain_recall_at_k(embeddings, labels, k) for k in (1, 2, 4, 8)]
    assert len(set(values)) > 1  # the case separates the Ks
    for k, value in zip((1, 2, 4, 8), values):
        assert result[k] == pytest.approx(value), k


def test_recall_at_k_is_cosine_not_euclidean_by_hand():
    # query 0 points along x; sample 1 is far along x (cosine 1), sample 2 is near but at 45 degrees
    embeddings = np.array([[1.0, 0.0], [10.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 0, 1])
    assert recall_at_k(embeddings, labels, ks=(1,))[1] == pytest.approx(2 / 3)  # query 0 and 1 hit, 2 misses


def test_nmi_against_sklearn_on_separated_clusters():
    """Three tight, far-apart clumps; one label-1 sample sits in clump 0. k-means finds the clumps, so NMI is
    sklearn's NMI between the labels and the clump memberships."""
    rng = np.random.default_rng(2)
    clumps = np.array([0] * 10 + [1] * 10 + [2] * 10)
    labels = clumps.copy()
    labels[0] = 1
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    embeddings = centres[clumps] + rng.normal(scale=0.01, size=(30, 2))
    expected = normalized_mutual_info_score(labels, clumps)
    assert expected < 0.99
    assert nmi(embeddings, labels) == pytest.approx(expected)
