"""Backbones: the feature/head split the pool needs, for the small CNN and every torchvision architecture."""
import pytest
import torch

from semscale.models import POOL_DIM, TORCHVISION_BACKBONES, build_network, pool_features


def test_pool_features_is_average_pooling():
    x = torch.arange(12.0).reshape(1, 12)
    # 12 -> 4 by 1-D average pooling: means of consecutive triples.
    assert pool_features(x, dim=4).tolist() == [[1.0, 4.0, 7.0, 10.0]]
    assert not pool_features(x.requires_grad_(), dim=4).requires_grad


@pytest.mark.parametrize("name", ("small_cnn",) + TORCHVISION_BACKBONES)
def test_forward_gives_logits_and_64d_pool_features(name):
    torch.manual_seed(0)
    net = build_network(name, num_classes=7, in_channels=3).eval()
    with torch.no_grad():
        logits, pooled = net(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 7) and pooled.shape == (2, POOL_DIM)


def test_metric_task_pools_the_embedding_itself():
    net = build_network("small_cnn", num_classes=5, in_channels=1, task="metric", width=4).eval()
    with torch.no_grad():
        embedding, pooled = net(torch.rand(3, 1, 28, 28))
    assert embedding.shape == (3, POOL_DIM) and torch.equal(embedding, pooled)


def test_grayscale_input_for_resnet():
    net = build_network("resnet18", num_classes=3, in_channels=1).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 32, 32))[0].shape == (1, 3)
