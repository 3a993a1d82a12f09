"""The feature/head split the pool needs: pool features, the small CNN, heads, the public names callers import."""
import subprocess
import sys

import pytest
import torch

from semscale.models import (POOL_DIM, TORCHVISION_BACKBONES, CosineClassifier, Network, SmallCNN, build_network,
                             pool_features, torchvision_backbone)


def test_pool_features_is_average_pooling():
    x = torch.arange(12.0).reshape(1, 12)
    # 12 -> 4 by 1-D average pooling: means of consecutive triples.
    assert pool_features(x, dim=4).tolist() == [[1.0, 4.0, 7.0, 10.0]]
    assert not pool_features(x.requires_grad_(), dim=4).requires_grad


def test_pool_features_uneven_windows():
    # 10 -> 4: windows [floor(10 i / 4), ceil(10 (i + 1) / 4)) = [0, 3), [2, 5), [5, 8), [7, 10) of 0..9.
    x = torch.arange(10.0).reshape(1, 10)
    assert pool_features(x, dim=4).tolist() == [[1.0, 3.0, 6.0, 8.0]]


def test_pool_features_keeps_64d_vectors():
    x = torch.randn(3, POOL_DIM)
    assert torch.equal(pool_features(x), x)


def test_small_cnn_forward_gives_logits_and_64d_pool_features():
    torch.manual_seed(0)
    net = build_network("small_cnn", num_classes=7, in_channels=1, width=4).eval()
    assert isinstance(net, Network) and isinstance(net.backbone, SmallCNN)
    with torch.no_grad():
        logits, pooled = net(torch.rand(2, 1, 28, 28))
        features = net.backbone(torch.rand(2, 1, 28, 28))
    assert logits.shape == (2, 7) and pooled.shape == (2, POOL_DIM) and features.shape == (2, 128)


def test_metric_task_pools_the_embedding_itself():
    net = build_network("small_cnn", num_classes=5, in_channels=1, task="metric", width=4).eval()
    with torch.no_grad():
        embedding, pooled = net(torch.rand(3, 1, 28, 28))
    assert embedding.shape == (3, POOL_DIM) and torch.equal(embedding, pooled)


def test_metric_task_512d_embedding_pools_to_64d():
    net = build_network("small_cnn", num_classes=5, in_channels=1, task="metric", width=4, embedding_dim=512).eval()
    with torch.no_grad():
        embedding, pooled = net(torch.rand(2, 1, 28, 28))
    assert embedding.shape == (2, 512)
    by_hand = torch.tensor([[embedding[b, 8 * j:8 * j + 8].sum().item() / 8 for j in range(64)] for b in range(2)])
    torch.testing.assert_close(pooled, by_hand)


def test_cosine_head_gives_cosines():
    net = build_network("small_cnn", num_classes=4, in_channels=1, head="cosine", width=4).eval()
    assert isinstance(net.head, CosineClassifier)
    with torch.no_grad():
        logits, _ = net(torch.rand(2, 1, 28, 28))
    assert logits.abs().max() <= 1 + 1e-6


def test_grayscale_input_for_resnet():
    net = build_network("resnet18", num_classes=3, in_channels=1).eval()
    assert net.backbone.conv1.in_channels == 1
    with torch.no_grad():
        assert net(torch.rand(1, 1, 32, 32))[0].shape == (1, 3)


def test_torchvision_backbone_keeps_working():
    net = torchvision_backbone("resnet18", in_channels=3)
    assert net.out_features == 512 and net.conv1.kernel_size == (7, 7)
    assert "resnext101_32x8d" in TORCHVISION_BACKBONES


@pytest.mark.parametrize("bad", [dict(backbone="resnet19"), dict(task="detection"), dict(head="mlp"),
                                 dict(stem="tiny"), dict(backbone="small_cnn", pretrained="imagenet")])
def test_bad_options_name_the_option(bad):
    args = dict(backbone="small_cnn", num_classes=3, in_channels=1) | bad
    with pytest.raises(ValueError, match=repr(next(iter(bad.values())))):
        build_network(**args)


def test_importing_models_does_not_import_the_optional_packages():
    code = "import sys, semscale, semscale.models; print([m for m in ('timm', 'pytorchcv') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
