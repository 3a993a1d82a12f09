"""Evaluation: top-1, per-class accuracy, head/middle/tail accuracy, confusion matrix, macro AP (classification);
Recall@K (any-hit, cosine, query excluded) and NMI (k-means with k = test classes, fixed seed) for embeddings."""
from __future__ import annotations

import numpy as np

from .scales import SPLIT_NAMES


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    totals = confusion.sum(1)
    return np.divide(np.diag(confusion), totals, out=np.full(len(totals), np.nan), where=totals > 0)


def group_accuracy(labels, predictions, groups) -> dict:
    """Accuracy over the test samples of each group's classes (groups: a split name per class)."""
    return confusion_group_accuracy(confusion_matrix(labels, predictions, len(groups)), groups)


def confusion_group_accuracy(confusion: np.ndarray, groups) -> dict:
    """Per group of classes (a split name per class): correct test samples of its classes over all of them; nan
    for a group with no test sample."""
    groups, hits, totals = np.asarray(groups), np.diag(confusion), confusion.sum(1)
    result = {}
    for name in SPLIT_NAMES:
        members = groups == name
        total = totals[members].sum()
        result[name] = float(hits[members].sum() / total) if total else float("nan")
    return result


def per_class_average_precision(labels, scores) -> np.ndarray:
    """One-vs-rest average precision of each class's score column (App. D.6's per-class AP); nan for a class with
    no test sample (its AP is undefined)."""
    from sklearn.metrics import average_precision_score

    labels, scores = np.asarray(labels), np.asarray(scores)
    present = set(np.unique(labels).tolist())
    return np.asarray([average_precision_score(labels == c, scores[:, c]) if c in present else np.nan
                       for c in range(scores.shape[1])], dtype=np.float64)


def macro_average_precision(labels, scores) -> float:
    return macro_of(per_class_average_precision(labels, scores))


def macro_of(per_class_ap) -> float:
    """Macro AP: the mean of the per-class APs over the classes with test samples (the defined ones)."""
    return float(np.nanmean(per_class_ap))


def classification_metrics(labels, scores, groups=None) -> dict:
    """scores: (N, C) logits or probabilities. groups: head/middle/tail name per class (e.g. by training count)."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    predictions = scores.argmax(1)
    confusion = confusion_matrix(labels, predictions, scores.shape[1])
    metrics = {"top1": float((predictions == labels).mean()), "per_class": per_class_accuracy(confusion),
               "confusion": confusion}
    metrics["per_class_ap"] = per_class_average_precision(labels, scores)
    metrics["macro_ap"] = macro_of(metrics["per_class_ap"])
    if groups is not None:
        metrics.update(group_accuracy(labels, predictions, groups))
    return metrics


def recall_at_k(embeddings, labels, ks=(1, 2, 4, 8)) -> dict:
    """A hit when any of the K nearest neighbours by cosine similarity (the query itself excluded) shares the label."""
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    k_max = min(max(ks), len(x) - 1)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k_max]
    hits = labels[nearest] == labels[:, None]
    return {k: float(hits[:, :min(k, k_max)].any(1).mean()) for k in ks}


def nmi(embeddings, labels, seed: int = 0) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.asarray(labels)
    x = np.asarray(embeddings, dtype=np.float64)
    clusters = KMeans(n_clusters=len(np.unique(labels)), n_init=10, random_state=seed).fit_predict(x)
    return float(normalized_mutual_info_score(labels, clusters))
