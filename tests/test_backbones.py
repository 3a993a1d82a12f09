"""The paper's backbones: forward shapes, 64-d pool features, the CIFAR stem, pretrained weights without a network.

Kept light for a shared CPU: 32 x 32 inputs, batch 2, eval mode, no gradient.
"""
import pytest
import torch
import torch.nn as nn

from semscale.models import BACKBONES, POOL_DIM, build_network
from semscale.models.architectures import imagenet_architecture

# Feature widths from the architectures' papers (the input width of their ImageNet classifier).
FEATURE_WIDTH = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnext50_32x4d": 2048,
                 "resnext101_32x8d": 2048, "vgg16": 4096, "densenet201": 1920, "googlenet": 1024,
                 "seresnet50": 2048, "bninception": 1024}


def test_every_paper_backbone_is_registered():
    assert set(FEATURE_WIDTH) | {"small_cnn"} == set(BACKBONES)


@pytest.mark.parametrize("name", sorted(FEATURE_WIDTH))
def test_forward_shapes_and_pool_features_are_average_pooling(name):
    torch.manual_seed(0)
    net = build_network(name, num_classes=7, in_channels=3, stem="imagenet").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits, pooled = net(x)
        features = net.backbone(x)
    width = FEATURE_WIDTH[name]
    assert net.backbone.out_features == width and features.shape == (2, width)
    assert logits.shape == (2, 7) and pooled.shape == (2, POOL_DIM)
    # App. F.2 by hand: every width here is a multiple of 64, so pool feature j is the mean of features
    # j * w / 64 ... (j + 1) * w / 64 - 1.
    step = width // POOL_DIM
    by_hand = torch.tensor([[features[b, j * step:(j + 1) * step].sum().item() / step for j in range(POOL_DIM)]
                            for b in range(2)])
    torch.testing.assert_close(pooled, by_hand, rtol=1e-5, atol=1e-6)


def layer1_size(net, size):
    seen = {}

    def record(module, inputs, output):
        seen["hw"] = output.shape[-2:]

    net.backbone.layer1.register_forward_hook(record)
    with torch.no_grad():
        net(torch.rand(2, net.backbone.conv1.in_channels, size, size))
    return tuple(seen["hw"])


@pytest.mark.parametrize("name", ["resnet18", "seresnet50"])
def test_cifar_stem_is_3x3_stride_1_without_max_pool(name):
    net = build_network(name, num_classes=5, in_channels=3, stem="cifar").eval()
    conv1 = net.backbone.conv1
    assert (conv1.kernel_size, conv1.stride, conv1.padding) == ((3, 3), (1, 1), (1, 1))
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.backbone.modules())
    assert layer1_size(net, 32) == (32, 32)  # the ImageNet stem would leave 8 x 8


def test_imagenet_stem_keeps_7x7_stride_2_and_max_pool():
    net = build_network("resnet18", num_classes=5, in_channels=3, stem="imagenet").eval()
    assert (net.backbone.conv1.kernel_size, net.backbone.conv1.stride) == ((7, 7), (2, 2))
    assert layer1_size(net, 32) == (8, 8)


@pytest.mark.parametrize("image_size, expected", [(32, (3, 3)), ((28, 28), (3, 3)), (None, (7, 7)), (33, (7, 7)),
                                                  ((32, 64), (7, 7)), (224, (7, 7))])
def test_auto_stem_picks_cifar_at_32_or_smaller(image_size, expected):
    net = build_network("resnet18", num_classes=5, in_channels=1, image_size=image_size)
    assert net.backbone.conv1.kernel_size == expected and net.backbone.conv1.in_channels == 1


def test_cifar_stem_only_for_the_resnet_family():
    assert build_network("googlenet", 5, 3, image_size=32).backbone.conv1.conv.stride == (2, 2)  # auto: unchanged
    with pytest.raises(ValueError, match="vgg16"):
        build_network("vgg16", 5, 3, stem="cifar")


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Every weights cache points into an empty temporary folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


@pytest.mark.parametrize("name, file, url_start, folder", [
    ("resnet18", "resnet18-f37072fd.pth", "https://download.pytorch.org/models/", "torch/hub/checkpoints"),
    ("seresnet50", "seresnet50_a1_0-ffa00869.pth", "https://github.com/huggingface/pytorch-image-models/",
     "torch/hub/checkpoints"),
    ("bninception", "bninception-0774-d79ba5f5.pth", "https://github.com/osmr/imgclsmob/releases/", "home/.torch/models"),
])
def test_offline_pretrained_names_the_file_and_where_to_put_it(empty_caches, name, file, url_start, folder):
    with pytest.raises(FileNotFoundError) as error:
        build_network(name, num_classes=5, in_channels=3, pretrained="imagenet")
    message = str(error.value)
    assert file in message and url_start in message and str(empty_caches / folder) in message


def reference_resnet18_features(state, rgb):
    """torchvision's ResNet-18 with these weights, without its fc, on ImageNet-normalised RGB inputs."""
    net = imagenet_architecture("resnet18")
    net.load_state_dict(state)
    net.fc = nn.Identity()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return net.eval()((rgb - mean) / std)


def test_imagenet_weights_come_from_the_torch_hub_cache(empty_caches):
    torch.manual_seed(1)
    state = imagenet_architecture("resnet18").state_dict()
    cache = empty_caches / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / "resnet18-f37072fd.pth")
    net = build_network("resnet18", num_classes=5, in_channels=3, pretrained="imagenet", stem="imagenet").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net.backbone(x), reference_resnet18_features(state, x))


def test_pretrained_file_with_grey_inputs_sees_the_grey_image_as_rgb(tmp_path):
    torch.manual_seed(2)
    state = imagenet_architecture("resnet18").state_dict()
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, tmp_path / "mine.pth")
    net = build_network("resnet18", num_classes=5, in_channels=1, pretrained=str(tmp_path / "mine.pth"),
                        stem="imagenet").eval()
    grey = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net.backbone(grey), reference_resnet18_features(state, grey.repeat(1, 3, 1, 1)))


def test_pretrained_with_cifar_stem_loads_all_but_conv1(tmp_path):
    torch.manual_seed(3)
    state = imagenet_architecture("resnet18").state_dict()
    torch.save(state, tmp_path / "r18.pth")
    net = build_network("resnet18", num_classes=5, in_channels=1, pretrained=str(tmp_path / "r18.pth"), image_size=32)
    body = net.backbone[1]
    assert body.conv1.kernel_size == (3, 3) and body.conv1.in_channels == 3  # grey is repeated to RGB first
    torch.testing.assert_close(body.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])
    torch.testing.assert_close(body.bn1.running_var, state["bn1.running_var"])


def test_pretrained_googlenet_file_with_auxiliary_heads_loads(tmp_path):
    import torchvision.models as tvm

    full = tvm.googlenet(weights=None, aux_logits=True, init_weights=False)
    torch.save(full.state_dict(), tmp_path / "googlenet.pth")
    net = build_network("googlenet", num_classes=5, in_channels=3, pretrained=str(tmp_path / "googlenet.pth"))
    torch.testing.assert_close(net.backbone[1].conv1.conv.weight, full.conv1.conv.weight)


def test_pretrained_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        build_network("resnet18", 5, 3, pretrained=str(tmp_path / "nowhere.pth"))
    torch.save(imagenet_architecture("resnet34").state_dict(), tmp_path / "r34.pth")
    with pytest.raises((ValueError, RuntimeError), match="resnet18|size mismatch"):
        build_network("resnet18", 5, 3, pretrained=str(tmp_path / "r34.pth"))


def test_bn_inception_follows_the_paper():
    """Ioffe & Szegedy 2015, Fig. 5: inception 3a..5b, each the sum of its branch widths (1x1, 3x3, double 3x3,
    pool projection or pass-through): 4c = 160 + 160 + 160 + 128 = 608 and 4e = 192 + 256 + 608 = 1056, as in the
    Caffe release the metric-learning work uses, where the figure's output-size column rounds to 576 and 1024."""
    expected = [(256, 28), (320, 28), (576, 14), (576, 14), (576, 14), (608, 14), (608, 14), (1056, 7), (1024, 7),
                (1024, 7)]
    net = build_network("bninception", num_classes=3, in_channels=3).eval()
    units = [unit for stage in ("stage1", "stage2", "stage3")
             for unit in getattr(net.backbone.features, stage).children()]
    shapes = []
    for unit in units:
        unit.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape[1:3])))
    with torch.no_grad():
        net(torch.rand(1, 3, 224, 224))
    assert shapes == expected
