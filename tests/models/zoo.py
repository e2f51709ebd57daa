"""The model zoo of the import tests: each entry builds a model and names its input size.

`quick` is a narrow configuration of the same architecture (same block types, fewer/narrower
blocks, small inputs, 10 classes) so the quick suite stays fast; `full` is the real model
(torchvision, `weights=None`) at its usual input size, for the slow set.
"""

from __future__ import annotations

from functools import partial


def _vgg16_quick():
    import torch.nn as nn
    from torchvision.models.vgg import VGG, make_layers

    cfg = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M"]  # vgg16's 13 convs
    m = VGG(make_layers(cfg), num_classes=10, init_weights=False)
    m.classifier = nn.Sequential(nn.Linear(64 * 7 * 7, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 64),
                                 nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10))
    return m


def _inception_quick():
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=10)


def _resnet50_quick():
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [1, 2, 1, 1], num_classes=10, width_per_group=16)


def _mobilenet_v2_quick():
    from torchvision.models import MobileNetV2

    return MobileNetV2(num_classes=10, width_mult=0.25,
                       inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]])


def _mobilenet_v3_quick():
    from torchvision.models.mobilenetv3 import InvertedResidualConfig as C
    from torchvision.models.mobilenetv3 import MobileNetV3

    setting = [C(16, 3, 16, 16, False, "RE", 1, 1, 1.0), C(16, 3, 32, 24, False, "RE", 2, 1, 1.0),
               C(24, 5, 48, 24, True, "RE", 1, 1, 1.0), C(24, 3, 64, 32, False, "HS", 2, 1, 1.0),
               C(32, 5, 96, 32, True, "HS", 1, 1, 1.0), C(32, 3, 96, 48, True, "HS", 2, 1, 1.0)]
    return MobileNetV3(setting, last_channel=64, num_classes=10)


def _googlenet_quick():
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=False, init_weights=False, num_classes=10)


def _densenet_quick():
    from torchvision.models import DenseNet

    return DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=10)


def _squeezenet_quick():
    from torchvision.models import squeezenet1_0

    return squeezenet1_0(weights=None, num_classes=10)


def _shufflenet_quick():
    from torchvision.models import ShuffleNetV2

    return ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 128], num_classes=10)


def _efficientnet_quick():
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    return EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last)


def _regnet_quick():
    from torchvision.models.regnet import BlockParams, RegNet

    params = BlockParams.from_init_params(depth=4, w_0=16, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25)
    return RegNet(params, num_classes=10)


def _convnext_quick():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1,
                    num_classes=10)


def _vit_quick():
    from torchvision.models import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                             num_classes=10)


def _swin_quick():
    from torchvision.models import SwinTransformer

    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                           num_classes=10)


def _tv(name, **kw):
    import torchvision.models as M

    return getattr(M, name)(weights=None, **kw)


def _mobilenet_v1(**kw):
    from .mobilenet_v1 import MobileNetV1

    return MobileNetV1(**kw)


def _yolo(version, **kw):
    from .tiny_yolo import TinyYoloV2, TinyYoloV3

    return (TinyYoloV2 if version == 2 else TinyYoloV3)(**kw)


# name: (quick builder, quick H=W, full builder, full H=W)
ZOO = {
    "vgg16": (_vgg16_quick, 32, partial(_tv, "vgg16"), 224),
    "inception_v3": (_inception_quick, 75, partial(_tv, "inception_v3", aux_logits=False, init_weights=False), 299),
    "resnet50": (_resnet50_quick, 32, partial(_tv, "resnet50"), 224),
    "mobilenet_v2": (_mobilenet_v2_quick, 32, partial(_tv, "mobilenet_v2"), 224),
    "mobilenet_v3_large": (_mobilenet_v3_quick, 32, partial(_tv, "mobilenet_v3_large"), 224),
    "mobilenet_v1": (partial(_mobilenet_v1, num_classes=10, width_mult=0.25,
                             blocks=[(64, 1), (128, 2), (128, 1), (256, 2), (512, 1)]), 32,
                     partial(_mobilenet_v1), 224),
    "tiny_yolo_v2": (partial(_yolo, 2, num_classes=3, width=0.125), 64, partial(_yolo, 2), 416),
    "tiny_yolo_v3": (partial(_yolo, 3, num_classes=3, width=0.125), 64, partial(_yolo, 3), 416),
    "googlenet": (_googlenet_quick, 32, partial(_tv, "googlenet", aux_logits=False, init_weights=False), 224),
    "densenet121": (_densenet_quick, 32, partial(_tv, "densenet121"), 224),
    "squeezenet1_0": (_squeezenet_quick, 48, partial(_tv, "squeezenet1_0"), 224),
    "shufflenet_v2": (_shufflenet_quick, 32, partial(_tv, "shufflenet_v2_x1_0"), 224),
    "efficientnet_b0": (_efficientnet_quick, 32, partial(_tv, "efficientnet_b0"), 224),
    "regnet_y_400mf": (_regnet_quick, 32, partial(_tv, "regnet_y_400mf"), 224),
    "convnext_tiny": (_convnext_quick, 32, partial(_tv, "convnext_tiny"), 224),
    "vit_b_16": (_vit_quick, 32, partial(_tv, "vit_b_16"), 224),
    "swin_t": (_swin_quick, 64, partial(_tv, "swin_t"), 224),
}
