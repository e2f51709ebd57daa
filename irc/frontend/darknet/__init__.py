"""Darknet → IR: `import_darknet(cfg_path, weights=None, name=None) -> Module`.

Reads a Darknet `.cfg` (the network) and its `.weights` (raw float32s after a small header) without
Darknet itself, into NCHW IR checked against OpenCV's `cv2.dnn.readNetFromDarknet`. Sections: [net],
[convolutional] (batch_normalize, groups, activations linear/leaky/relu/tanh/logistic/swish/mish),
[connected], [maxpool], [avgpool], [route] (groups/group_id), [shortcut], [upsample], [dropout],
[softmax], and the [yolo]/[region] heads as the raw feature maps they read. Every unsupported section is
listed at once with its line.

Layout: `importer.py` (the driver and its section-keyed table `IMPORTERS`), `cfg.py` (the cfg parser),
`source.py` (recognising a cfg, reading weights), and one file per op family named like
`irc/ir/ops/<family>.py` holding that family's handlers.
"""

from . import conv, core_ops, elementwise, linalg, norm, resize, shape  # noqa: F401
from .cfg import parse_cfg, read_cfg
from .importer import IMPORTERS, DarknetImporter, import_darknet, opencv_names
from .source import WeightsReader, is_darknet_file

__all__ = ["IMPORTERS", "DarknetImporter", "WeightsReader", "import_darknet", "is_darknet_file", "opencv_names",
           "parse_cfg", "read_cfg"]
