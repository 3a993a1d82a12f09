"""Plain-Python references the method tests share: cross-entropy of one row, and the class-weighted batch mean."""
import math


def hand_cross_entropy(row, label) -> float:
    """-log softmax_label(row), row a list of floats."""
    m = max(row)
    return m + math.log(sum(math.exp(v - m) for v in row)) - row[int(label)]


def hand_weighted_mean(values, labels, class_weights) -> float:
    """(1 / B) sum_i w_{y_i} * value_i: what DSB makes of per-sample terms."""
    return sum(class_weights[int(y)] * v for y, v in zip(labels, values)) / len(values)


def check_dsb_weights_cross_entropy(method, features, labels, class_weights, rel=1e-9) -> None:
    """A method whose per-sample loss is plain cross-entropy: weighted_mean of it equals the hand-weighted mean."""
    import pytest

    from semscale.weighting import weighted_mean

    out = method(features, labels)
    loss = method.per_sample_loss(out, labels)
    logits = out.logits.detach()
    hand = [hand_cross_entropy(logits[i].tolist(), labels[i]) for i in range(len(labels))]
    assert loss.tolist() == pytest.approx(hand, rel=rel)
    assert weighted_mean(loss, labels, class_weights).item() == pytest.approx(
        hand_weighted_mean(hand, labels, class_weights), rel=rel)
