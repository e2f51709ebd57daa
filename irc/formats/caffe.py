"""The Caffe messages irc reads and writes, built at runtime from the format's field numbers.

A `.prototxt` is a `NetParameter` in protobuf text format and a `.caffemodel` the same message in binary,
whose layers carry their weights as `BlobProto`s. Both the current form (`layer`, field 100: a
`LayerParameter` whose `type` is a string) and the legacy one (`layers`, field 2: a `V1LayerParameter`
whose `type` is an enum) are read; `Layer` gives one view of either. Only the messages and fields irc
uses are declared (the rest of a file is skipped as unknown fields); the per-layer parameter messages
are shared by both forms, as in Caffe.

Pooling's field 13 is `ceil_mode` (bool, default true) as OpenCV's Caffe reader has it; BVLC Caffe's
`round_mode: CEIL | FLOOR` (the same field number) is read from text too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..ir import IrcError

PACKAGE = "irc_caffe"

# field label / type numbers of descriptor.proto
OPTIONAL, REPEATED = 1, 3
TYPES = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "bool": 8, "string": 9, "msg": 11,
         "bytes": 12, "uint32": 13, "enum": 14}

# message: [(field, number, type, repeated?, default or message/enum type name)]
_ENGINE = ("Engine", {"DEFAULT": 0, "CAFFE": 1, "CUDNN": 2})
MESSAGES = {
    "BlobShape": [("dim", 1, "int64", True, None)],
    "BlobProto": [("shape", 7, "msg", False, "BlobShape"), ("data", 5, "float", True, None),
                  ("double_data", 8, "double", True, None), ("num", 1, "int32", False, "0"),
                  ("channels", 2, "int32", False, "0"), ("height", 3, "int32", False, "0"),
                  ("width", 4, "int32", False, "0")],
    "InputParameter": [("shape", 1, "msg", True, "BlobShape")],
    "ConvolutionParameter": [
        ("num_output", 1, "uint32", False, None), ("bias_term", 2, "bool", False, "true"),
        ("pad", 3, "uint32", True, None), ("kernel_size", 4, "uint32", True, None),
        ("stride", 6, "uint32", True, None), ("dilation", 18, "uint32", True, None),
        ("pad_h", 9, "uint32", False, "0"), ("pad_w", 10, "uint32", False, "0"),
        ("kernel_h", 11, "uint32", False, None), ("kernel_w", 12, "uint32", False, None),
        ("stride_h", 13, "uint32", False, None), ("stride_w", 14, "uint32", False, None),
        ("group", 5, "uint32", False, "1"), ("engine", 15, "enum", False, "Engine"),
        ("axis", 16, "int32", False, "1")],
    "InnerProductParameter": [("num_output", 1, "uint32", False, None), ("bias_term", 2, "bool", False, "true"),
                              ("axis", 5, "int32", False, "1"), ("transpose", 6, "bool", False, "false")],
    "BatchNormParameter": [("use_global_stats", 1, "bool", False, None),
                           ("moving_average_fraction", 2, "float", False, "0.999"),
                           ("eps", 3, "float", False, "1e-05")],
    "ScaleParameter": [("axis", 1, "int32", False, "1"), ("num_axes", 2, "int32", False, "1"),
                       ("bias_term", 4, "bool", False, "false")],
    "BiasParameter": [("axis", 1, "int32", False, "1"), ("num_axes", 2, "int32", False, "1")],
    "ReLUParameter": [("negative_slope", 1, "float", False, "0"), ("engine", 2, "enum", False, "Engine")],
    "PReLUParameter": [("channel_shared", 2, "bool", False, "false")],
    "ELUParameter": [("alpha", 1, "float", False, "1")],
    "PowerParameter": [("power", 1, "float", False, "1"), ("scale", 2, "float", False, "1"),
                       ("shift", 3, "float", False, "0")],
    "PoolingParameter": [
        ("pool", 1, "enum", False, "PoolMethod"), ("pad", 4, "uint32", False, "0"),
        ("pad_h", 9, "uint32", False, "0"), ("pad_w", 10, "uint32", False, "0"),
        ("kernel_size", 2, "uint32", False, None), ("kernel_h", 5, "uint32", False, None),
        ("kernel_w", 6, "uint32", False, None), ("stride", 3, "uint32", False, "1"),
        ("stride_h", 7, "uint32", False, None), ("stride_w", 8, "uint32", False, None),
        ("engine", 11, "enum", False, "Engine"), ("global_pooling", 12, "bool", False, "false"),
        ("ceil_mode", 13, "bool", False, "true")],
    "SoftmaxParameter": [("engine", 1, "enum", False, "Engine"), ("axis", 2, "int32", False, "1")],
    "ConcatParameter": [("axis", 2, "int32", False, "1"), ("concat_dim", 1, "uint32", False, "1")],
    "SliceParameter": [("axis", 3, "int32", False, "1"), ("slice_point", 2, "uint32", True, None),
                       ("slice_dim", 1, "uint32", False, "1")],
    "EltwiseParameter": [("operation", 1, "enum", False, "EltwiseOp"), ("coeff", 2, "float", True, None)],
    "FlattenParameter": [("axis", 1, "int32", False, "1"), ("end_axis", 2, "int32", False, "-1")],
    "ReshapeParameter": [("shape", 1, "msg", False, "BlobShape"), ("axis", 2, "int32", False, "0"),
                         ("num_axes", 3, "int32", False, "-1")],
    "DropoutParameter": [("dropout_ratio", 1, "float", False, "0.5")],
    "PermuteParameter": [("order", 1, "uint32", True, None)],
    "TileParameter": [("axis", 1, "int32", False, "1"), ("tiles", 2, "int32", False, None)],
}
ENUMS = {
    "ConvolutionParameter": [_ENGINE], "ReLUParameter": [_ENGINE], "SoftmaxParameter": [_ENGINE],
    "PoolingParameter": [("PoolMethod", {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}), _ENGINE],
    "EltwiseParameter": [("EltwiseOp", {"PROD": 0, "SUM": 1, "MAX": 2})],
}
ENUM_DEFAULTS = {"Engine": "DEFAULT", "PoolMethod": "MAX", "EltwiseOp": "SUM"}

# the per-layer parameter messages: (field name, number in LayerParameter, in V1LayerParameter or None);
# `permute_param` is OpenCV's (the SSD fork's) field
LAYER_PARAMS = [
    ("concat_param", 104, 9), ("convolution_param", 106, 10), ("dropout_param", 108, 12),
    ("eltwise_param", 110, 24), ("inner_product_param", 117, 17), ("pooling_param", 121, 19),
    ("power_param", 122, 21), ("relu_param", 123, 30), ("softmax_param", 125, 39), ("slice_param", 126, 31),
    ("prelu_param", 131, None),
    ("reshape_param", 133, None), ("flatten_param", 135, None), ("tile_param", 138, None),
    ("batch_norm_param", 139, None), ("elu_param", 140, None), ("bias_param", 141, None),
    ("scale_param", 142, None), ("input_param", 143, None), ("permute_param", 148, None),
]


def _param_message(field: str) -> str:
    special = {"relu_param": "ReLUParameter", "prelu_param": "PReLUParameter", "elu_param": "ELUParameter"}
    if field in special:
        return special[field]
    return "".join(part.capitalize() for part in field.removesuffix("_param").split("_")) + "Parameter"


MESSAGES["LayerParameter"] = [
    ("name", 1, "string", False, None), ("type", 2, "string", False, None), ("bottom", 3, "string", True, None),
    ("top", 4, "string", True, None), ("blobs", 7, "msg", True, "BlobProto"),
] + [(f, n, "msg", False, _param_message(f)) for f, n, _ in LAYER_PARAMS]
MESSAGES["V1LayerParameter"] = [
    ("bottom", 2, "string", True, None), ("top", 3, "string", True, None), ("name", 4, "string", False, None),
    ("type", 5, "enum", False, "LayerType"), ("blobs", 6, "msg", True, "BlobProto"),
] + [(f, v1, "msg", False, _param_message(f)) for f, _, v1 in LAYER_PARAMS if v1 is not None]
MESSAGES["NetParameter"] = [
    ("name", 1, "string", False, None), ("input", 3, "string", True, None),
    ("input_shape", 8, "msg", True, "BlobShape"), ("input_dim", 4, "int32", True, None),
    ("layer", 100, "msg", True, "LayerParameter"), ("layers", 2, "msg", True, "V1LayerParameter"),
]

# the legacy layer type enum, with each value's current type name
V1_TYPES = {
    "NONE": (0, ""), "ABSVAL": (35, "AbsVal"), "ACCURACY": (1, "Accuracy"), "ARGMAX": (30, "ArgMax"),
    "BNLL": (2, "BNLL"), "CONCAT": (3, "Concat"), "CONTRASTIVE_LOSS": (37, "ContrastiveLoss"),
    "CONVOLUTION": (4, "Convolution"), "DATA": (5, "Data"), "DECONVOLUTION": (39, "Deconvolution"),
    "DROPOUT": (6, "Dropout"), "DUMMY_DATA": (32, "DummyData"), "EUCLIDEAN_LOSS": (7, "EuclideanLoss"),
    "ELTWISE": (25, "Eltwise"), "EXP": (38, "Exp"), "FLATTEN": (8, "Flatten"), "HDF5_DATA": (9, "HDF5Data"),
    "HDF5_OUTPUT": (10, "HDF5Output"), "HINGE_LOSS": (28, "HingeLoss"), "IM2COL": (11, "Im2col"),
    "IMAGE_DATA": (12, "ImageData"), "INFOGAIN_LOSS": (13, "InfogainLoss"), "INNER_PRODUCT": (14, "InnerProduct"),
    "LRN": (15, "LRN"), "MEMORY_DATA": (29, "MemoryData"),
    "MULTINOMIAL_LOGISTIC_LOSS": (16, "MultinomialLogisticLoss"), "MVN": (34, "MVN"), "POOLING": (17, "Pooling"),
    "POWER": (26, "Power"), "RELU": (18, "ReLU"), "SIGMOID": (19, "Sigmoid"),
    "SIGMOID_CROSS_ENTROPY_LOSS": (27, "SigmoidCrossEntropyLoss"), "SILENCE": (36, "Silence"),
    "SOFTMAX": (20, "Softmax"), "SOFTMAX_LOSS": (21, "SoftmaxWithLoss"), "SPLIT": (22, "Split"),
    "SLICE": (33, "Slice"), "TANH": (23, "TanH"), "WINDOW_DATA": (24, "WindowData"), "THRESHOLD": (31, "Threshold"),
}
ENUMS["V1LayerParameter"] = [("LayerType", {k: v[0] for k, v in V1_TYPES.items()})]
ENUM_DEFAULTS["LayerType"] = "NONE"


def _add_field(msg, name: str, number: int, kind: str, repeated: bool, extra: str | None, enums: set) -> None:
    field = msg.field.add(name=name, number=number, label=REPEATED if repeated else OPTIONAL, type=TYPES[kind])
    if kind == "msg":
        field.type_name = f".{PACKAGE}.{extra}"
    elif kind == "enum":
        field.type_name = f".{PACKAGE}.{msg.name}.{extra}" if extra in enums else f".{PACKAGE}.{extra}"
        field.default_value = ENUM_DEFAULTS[extra]
    elif extra is not None:
        field.default_value = extra
    if repeated and kind not in ("msg", "string", "bytes"):
        field.options.packed = kind in ("float", "double", "int64")


def _build() -> dict:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="irc_caffe.proto", package=PACKAGE, syntax="proto2")
    for name, fields in MESSAGES.items():
        msg = proto.message_type.add(name=name)
        local = set()
        for enum_name, values in ENUMS.get(name, []):
            enum = msg.enum_type.add(name=enum_name)
            local.add(enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for field in fields:
            _add_field(msg, *field, local)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in MESSAGES}


_CLASSES: dict = {}


def message(name: str) -> type:
    """The protobuf class of one Caffe message ("NetParameter", "LayerParameter", "BlobProto", ...)."""
    if not _CLASSES:
        _CLASSES.update(_build())
    return _CLASSES[name]


# ----------------------------------------------------------------------------- reading and writing

_ROUND_MODE = re.compile(r"\bround_mode\s*:\s*(CEIL|FLOOR)\b")


def parse_text(text: str, what: str = "prototxt") -> object:
    """A NetParameter from protobuf text (fields irc does not know are skipped)."""
    from google.protobuf import text_format

    text = _ROUND_MODE.sub(lambda m: "ceil_mode: " + ("true" if m.group(1) == "CEIL" else "false"), text)
    net = message("NetParameter")()
    try:
        text_format.Parse(text, net, allow_unknown_field=True)
    except text_format.ParseError as e:
        raise IrcError(f"cannot read {what} as a Caffe prototxt: {e}") from None
    return net


def parse_binary(data: bytes, what: str = "caffemodel") -> object:
    """A NetParameter from protobuf binary (a .caffemodel)."""
    from google.protobuf.message import DecodeError

    net = message("NetParameter")()
    try:
        net.ParseFromString(data)
    except DecodeError as e:
        raise IrcError(f"cannot read {what} as a Caffe model: {e}") from None
    return net


def to_text(net: object) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(net)


@dataclass
class Layer:
    """One layer of either form: its current type name, and the message holding its parameters."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    proto: object  # LayerParameter or V1LayerParameter: `proto.convolution_param` etc.

    @property
    def blobs(self) -> list:
        return list(self.proto.blobs)


def layers(net: object) -> list[Layer]:
    """The layers of a net, current or legacy form (a net holding both is read as its current form)."""
    if len(net.layer):
        return [Layer(p.name, p.type, list(p.bottom), list(p.top), p) for p in net.layer]
    names = message("V1LayerParameter").DESCRIPTOR.enum_types_by_name["LayerType"].values_by_number
    out = []
    for p in net.layers:
        enum = names[p.type].name if p.type in names else str(p.type)
        out.append(Layer(p.name, V1_TYPES.get(enum, (0, enum))[1], list(p.bottom), list(p.top), p))
    return out


def blob_array(blob: object) -> np.ndarray:
    """A BlobProto's values as a float32 array of its shape (the legacy num/channels/height/width too)."""
    data = np.asarray(blob.double_data if len(blob.double_data) else blob.data, dtype=np.float32)
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = tuple(d for d in (blob.num, blob.channels, blob.height, blob.width))
        while len(shape) > 1 and shape[0] == 1 and int(np.prod(shape[1:])) == data.size:
            shape = shape[1:]
    if int(np.prod(shape)) != data.size:
        raise IrcError(f"a blob of shape {list(shape)} holds {data.size} values")
    return data.reshape(shape)


def fill_blob(blob: object, array: np.ndarray) -> None:
    """Set a BlobProto to `array` (stored as float32 with its shape)."""
    blob.ParseFromString(encode_blob(array))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_blob(array: np.ndarray) -> bytes:
    """A BlobProto's bytes for `array`: its shape, and its values as packed little-endian float32."""
    arr = np.ascontiguousarray(array, dtype="<f4")
    shape = b"".join(_varint(1 << 3 | 0) + _varint(int(d)) for d in arr.shape)
    return _length_delimited(7, shape) + _length_delimited(5, arr.tobytes())


def encode_model(net: object, weights: list[list[np.ndarray]]) -> bytes:
    """A .caffemodel's bytes: `net` (current form, no blobs) with layer i carrying the blobs `weights[i]`.
    The values are written straight from the arrays, never through a Python list."""
    head = message("NetParameter")()
    head.CopyFrom(net)
    del head.layer[:]
    parts = [head.SerializeToString()]
    for layer, arrays in zip(net.layer, weights, strict=True):
        body = layer.SerializeToString() + b"".join(_length_delimited(7, encode_blob(a)) for a in arrays)
        parts.append(_length_delimited(100, body))
    return b"".join(parts)


def caffe_pool_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Caffe's pooled size of one dim: rounded up (or down), the last window starting inside size + pad."""
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


__all__ = ["Layer", "V1_TYPES", "blob_array", "caffe_pool_size", "encode_blob", "encode_model", "fill_blob",
           "layers", "message", "parse_binary", "parse_text", "to_text"]
