"""nhwc-to-nchw: hand-written channel-last IR for every axis-carrying op, ranks 3 to 5 through
transposes, and a TensorFlow-shaped graph; numbers equal before/after, no transpose left inside."""

from __future__ import annotations

import pytest
from test_pass_common import assert_round_trip, assert_same_numbers, check_golden, load_pair, op_kinds, run_pipeline

# Each case: the body applied to %c (2x6x6x4, channel-last, made by an nhwc conv), the return values
# and types, and the attribute the pass must have rewritten on the op of that kind.
HEAD = """// irc 1
module @case {{weights = "case.safetensors"}} {{
  func @forward(%x: tensor<2x6x6x3xf32>) -> ({ret_types}) {{
    %w = nn.param() {{key = "conv.kernel"}} : tensor<3x3x3x4xf32>
    %c = nn.conv2d(%x, %w) {{dilation = [1, 1], groups = 1, layout = "nhwc", padding = [[1, 1], [1, 1]], stride = [1, 1]}} : tensor<2x6x6x4xf32>
    %r = nn.relu(%c) : tensor<2x6x6x4xf32>
{body}
    return {rets} : {ret_types}
  }}
}}
"""

CASES = {
    "softmax_3": ("%y = nn.softmax(%r) {axis = 3} : tensor<2x6x6x4xf32>", "2x6x6x4", "softmax", "axis", 1),
    "softmax_neg1": ("%y = nn.softmax(%r) {axis = -1} : tensor<2x6x6x4xf32>", "2x6x6x4", "softmax", "axis", 1),
    "log_softmax_1": ("%y = nn.log_softmax(%r) {axis = 1} : tensor<2x6x6x4xf32>", "2x6x6x4", "log_softmax", "axis", 2),
    "concat_3": ("%y = nn.concat(%r, %c) {axis = 3} : tensor<2x6x6x8xf32>", "2x6x6x8", "concat", "axis", 1),
    "concat_neg1": ("%y = nn.concat(%c, %r, %c) {axis = -1} : tensor<2x6x6x12xf32>", "2x6x6x12", "concat", "axis", 1),
    "concat_2": ("%y = nn.concat(%r, %c) {axis = 2} : tensor<2x6x12x4xf32>", "2x6x12x4", "concat", "axis", 3),
    "concat_const": ("%k = nn.param() {key = \"k\"} : tensor<2x6x6x2xf32>\n"
                     "    %y = nn.concat(%r, %k) {axis = -1} : tensor<2x6x6x6xf32>", "2x6x6x6", "concat", "axis", 1),
    "split_neg1": ("%y, %z = nn.split(%r) {axis = -1, sizes = [1, 3]} : tensor<2x6x6x1xf32>, tensor<2x6x6x3xf32>",
                   ("2x6x6x1", "2x6x6x3"), "split", "axis", 1),
    "split_1": ("%y, %z = nn.split(%r) {axis = 1, sizes = [2, 4]} : tensor<2x2x6x4xf32>, tensor<2x4x6x4xf32>",
                ("2x2x6x4", "2x4x6x4"), "split", "axis", 2),
    "mean_hw": ("%y = nn.mean(%r) {axes = [1, 2]} : tensor<2x4xf32>", "2x4", "mean", "axes", [2, 3]),
    "mean_hw_keep": ("%y = nn.mean(%r) {axes = [1, -2], keepdims = true} : tensor<2x1x1x4xf32>", "2x1x1x4", "mean",
                     "axes", [2, 3]),
    "sum_c": ("%y = nn.sum(%r) {axes = [-1]} : tensor<2x6x6xf32>", "2x6x6", "sum", "axes", [1]),
    "max_c_keep": ("%y = nn.reduce_max(%r) {axes = [3], keepdims = true} : tensor<2x6x6x1xf32>", "2x6x6x1",
                   "reduce_max", "axes", [1]),
    "slice_c": ("%y = nn.slice(%r) {axes = [3], ends = [3], starts = [1]} : tensor<2x6x6x2xf32>", "2x6x6x2", "slice",
                "axes", [1]),
    "slice_hc": ("%y = nn.slice(%r) {axes = [1, -1], ends = [4, 4], starts = [0, 2], steps = [2, 1]} : tensor<2x2x6x2xf32>",
                 "2x2x6x2", "slice", "axes", [2, 1]),
    "pad": ("%y = nn.pad(%r) {pads = [[0, 0], [1, 0], [0, 2], [0, 1]], value = 0.5} : tensor<2x7x8x5xf32>", "2x7x8x5",
            "pad", "pads", [[0, 0], [0, 1], [1, 0], [0, 2]]),
    "flatten_hw": ("%y = nn.flatten(%r) {end_axis = 2, start_axis = 1} : tensor<2x36x4xf32>", "2x36x4", "flatten",
                   "start_axis", 2),
    "layer_norm_c": ("%g = nn.param() {key = \"ln.weight\"} : tensor<4xf32>\n"
                     "    %b = nn.param() {key = \"ln.bias\"} : tensor<4xf32>\n"
                     "    %y = nn.layer_norm(%r, %g, %b) {axes = [-1]} : tensor<2x6x6x4xf32>", "2x6x6x4", "layer_norm",
                     "axes", [1]),
    "layer_norm_wc": ("%g = nn.param() {key = \"ln.weight\"} : tensor<6x4xf32>\n"
                      "    %b = nn.param() {key = \"ln.bias\"} : tensor<6x4xf32>\n"
                      "    %y = nn.layer_norm(%r, %g, %b) {axes = [2, 3]} : tensor<2x6x6x4xf32>", "2x6x6x4", "layer_norm",
                      "axes", [3, 1]),
    "squeeze": ("%m = nn.mean(%r) {axes = [1, 2], keepdims = true} : tensor<2x1x1x4xf32>\n"
                "    %y = nn.squeeze(%m) {axes = [1, -2]} : tensor<2x4xf32>", "2x4", "squeeze", "axes", [2, 3]),
    "bias_add": ("%k = nn.param() {key = \"bias\"} : tensor<4xf32>\n"
                 "    %y = nn.add(%r, %k) : tensor<2x6x6x4xf32>", "2x6x6x4", "add", None, None),
    "flatten_linear": ("%f = nn.flatten(%r) : tensor<2x144xf32>\n"
                       "    %d = nn.dropout(%f) : tensor<2x144xf32>\n"
                       "    %fw = nn.param() {key = \"fc.weight\"} : tensor<5x144xf32>\n"
                       "    %y = nn.linear(%d, %fw) : tensor<2x5xf32>", "2x5", "flatten", "start_axis", 1),
    "reshape_linear": ("%f = nn.reshape(%r) {shape = [-1, 144]} : tensor<2x144xf32>\n"
                       "    %fw = nn.param() {key = \"fc.weight\"} : tensor<5x144xf32>\n"
                       "    %y = nn.linear(%f, %fw) : tensor<2x5xf32>", "2x5", "flatten", "start_axis", 1),
    "se_block": ("%m = nn.mean(%r) {axes = [1, 2]} : tensor<2x4xf32>\n"
                 "    %sw = nn.param() {key = \"se.weight\"} : tensor<4x4xf32>\n"
                 "    %l = nn.linear(%m, %sw) : tensor<2x4xf32>\n"
                 "    %g = nn.sigmoid(%l) : tensor<2x4xf32>\n"
                 "    %s = nn.reshape(%g) {shape = [-1, 1, 1, 4]} : tensor<2x1x1x4xf32>\n"
                 "    %y = nn.mul(%r, %s) : tensor<2x6x6x4xf32>", "2x6x6x4", "mul", None, None),
    "max_pool_nhwc": ("%y = nn.max_pool2d(%r) {kernel_size = [2, 2], layout = \"nhwc\", stride = [2, 2]} : tensor<2x3x3x4xf32>",
                      "2x3x3x4", "max_pool2d", "layout", "nchw"),
}


def case_text(name):
    body, rets, *_ = CASES[name]
    rets = rets if isinstance(rets, tuple) else (rets,)
    names = ["%y", "%z"][:len(rets)]
    types = ", ".join(f"tensor<{r}xf32>" for r in rets)
    return HEAD.format(body="    " + body, rets=", ".join(names), ret_types=types)


def inner_transposes(module):
    """Transposes that are not at the function's boundary (reading an argument or feeding only the return)."""
    func = module.main
    out = []
    for op in func.ops:
        if op.name != "nn.transpose":
            continue
        x = op.operands[0]
        at_input = x.owner is None
        at_output = all(u is func.ret for u in op.result.uses)
        if not (at_input or at_output):
            out.append(op)
    return out


def load_case(name, tmp_path):
    import irc

    path = tmp_path / "case.ir"
    path.write_text(case_text(name))
    from helpers import _NoWeights, make_weights

    make_weights(irc.parse(case_text(name), str(path), weights=_NoWeights()), str(tmp_path / "case.safetensors"))
    return irc.load(str(path)), irc.load(str(path))


@pytest.mark.parametrize("name", sorted(CASES))
def test_axis_op_channel_last(tmp_path, name):
    _, _, kind, attr, expected = CASES[name]
    before, after = load_case(name, tmp_path)
    run_pipeline(after, "nhwc-to-nchw")
    assert not inner_transposes(after), [repr(op) for op in inner_transposes(after)]
    assert_round_trip(after)
    ops = [op for op in after.main.ops if op.kind == kind]
    assert ops, f"no nn.{kind} left"
    if attr is not None:
        assert ops[0].attrs[attr] == expected
    assert all(op.attrs.get("layout", "nchw") == "nchw" for op in after.ops())
    assert_same_numbers(before, after)
    # with the signature free to change, no transpose remains at all
    _, free = load_case(name, tmp_path)
    run_pipeline(free, "nhwc-to-nchw{change-signature=true}")
    ref_in = free.main.args[0].type
    assert ref_in.shape == (2, 3, 6, 6)
    leftover = [op for op in free.ops() if op.name == "nn.transpose"]
    if name != "flatten_hw":  # a rank-3 [N, C, HW] result is channel-first, hence returned so: no transpose
        assert not leftover, leftover


def test_flatten_linear_permutes_the_weight_not_the_activation(tmp_path):
    before, after = load_case("flatten_linear", tmp_path)
    run_pipeline(after, "nhwc-to-nchw{change-signature=true}")
    kinds = op_kinds(after)
    assert kinds["transpose"] == 0 and kinds["flatten"] == 1 and kinds["linear"] == 1
    import numpy as np

    w0, w1 = np.asarray(before.weights.numpy("fc.weight")), np.asarray(after.weights.numpy("fc.weight"))
    assert not np.array_equal(w0, w1) and np.array_equal(np.sort(w0, axis=1), np.sort(w1, axis=1))


# ranks 3 and 5: channel-last data moved to channel-first and back by transposes around axis ops
RANKS = {
    "rank3": """// irc 1
module @rank3 {
  func @forward(%x: tensor<2x5x4xf32>) -> (tensor<2x10x4xf32>, tensor<2x5xf32>) {
    %t = nn.transpose(%x) {perm = [0, 2, 1]} : tensor<2x4x5xf32>
    %s = nn.softmax(%t) {axis = -2} : tensor<2x4x5xf32>
    %u = nn.transpose(%s) {perm = [0, 2, 1]} : tensor<2x5x4xf32>
    %c = nn.concat(%u, %x) {axis = 1} : tensor<2x10x4xf32>
    %v = nn.transpose(%c) {perm = [0, 2, 1]} : tensor<2x4x10xf32>
    %w = nn.transpose(%v) {perm = [0, 2, 1]} : tensor<2x10x4xf32>
    %m = nn.reduce_min(%t) {axes = [1]} : tensor<2x5xf32>
    return %w, %m : tensor<2x10x4xf32>, tensor<2x5xf32>
  }
}
""",
    "rank5": """// irc 1
module @rank5 {
  func @forward(%x: tensor<2x3x4x5x6xf32>) -> tensor<2x1x4x5xf32> {
    %t = nn.transpose(%x) {perm = [0, 4, 1, 2, 3]} : tensor<2x6x3x4x5xf32>
    %m = nn.mean(%t) {axes = [-3], keepdims = true} : tensor<2x6x1x4x5xf32>
    %p = nn.pad(%m) {pads = [[0, 0], [0, 0], [0, 0], [1, 1], [0, 0]]} : tensor<2x6x1x6x5xf32>
    %sl = nn.slice(%p) {axes = [3], ends = [5], starts = [1]} : tensor<2x6x1x4x5xf32>
    %e = nn.exp(%sl) : tensor<2x6x1x4x5xf32>
    %u = nn.transpose(%e) {perm = [0, 2, 3, 4, 1]} : tensor<2x1x4x5x6xf32>
    %s = nn.sum(%u) {axes = [-1]} : tensor<2x1x4x5xf32>
    return %s : tensor<2x1x4x5xf32>
  }
}
""",
}


@pytest.mark.parametrize("name", sorted(RANKS))
def test_ranks_3_and_5_transposes_cancel(name):
    import irc

    before, after = irc.parse(RANKS[name]), irc.parse(RANKS[name])
    irc.verify(before)
    run_pipeline(after, "nhwc-to-nchw")
    assert op_kinds(after)["transpose"] == 0, irc.print(after)
    assert_same_numbers(before, after)
    check_golden(after, f"nhwc_{name}.expected.ir")


@pytest.mark.parametrize("options, golden", [("", "nhwc_tf_graph.expected.ir"),
                                             ("{change-signature=true}", "nhwc_tf_graph.nchw_signature.expected.ir")])
def test_tf_shaped_graph(tmp_path, options, golden):
    before, after = load_pair("nhwc_tf_graph.ir", tmp_path)
    run_pipeline(after, "nhwc-to-nchw" + options)
    check_golden(after, golden)
    assert not inner_transposes(after)
    kinds = op_kinds(after)
    assert kinds["transpose"] == (0 if options else 1)  # the input's, at the boundary, when the signature stays
    assert all(op.attrs.get("layout", "nchw") == "nchw" for op in after.ops())
    assert [op.attrs["axis"] for op in after.main.ops if op.kind == "concat"] == [1, 1]
    if options:
        import torch

        from irc.backend.pytorch.executor import Executor
        from irc.fidelity import assert_close

        assert after.main.args[0].type.shape == (None, 3, 16, 16)
        for batch in (1, 3):
            x = torch.randn(batch, 16, 16, 3, generator=torch.Generator().manual_seed(batch))
            assert_close(Executor(before)(x)[0], Executor(after)(x.permute(0, 3, 1, 2).contiguous())[0], rule="pass")
    else:
        worst = assert_same_numbers(before, after)
        print(f"tf graph: max|d| = {worst:.3g}")


def test_nchw_graph_is_left_alone(tmp_path):
    import irc

    before, after = load_pair("fuse_bn_after.ir", tmp_path)
    assert not irc.passes.parse_pipeline("nhwc-to-nchw")[0].apply(after)
    assert irc.print(after) == irc.print(before)


# ----------------------------------------------------------------------------- TensorFlow-style real models

def tfify(module, wrapped=False):  # noqa: C901  (one case per op kind, as TF writes it)
    """Rewrite an imported NCHW module the way a TensorFlow/Keras model arrives: NHWC input, every rank-4
    activation channel-last, spatial ops with layout nhwc and HWIO weights, concat and reductions on
    channel-last axes, rank-4 constants stored channel-last; any other op on a rank-4 activation is an
    NCHW op wrapped in transposes (as tf2onnx writes it). With `wrapped`, the spatial ops too stay NCHW
    between transposes (the ONNX form). Returns a new module with its own weights."""
    import numpy as np

    import irc
    from irc.ir import WeightStore
    from irc.ir.ops import OPS
    from irc.ir.printer import format_attr

    TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
    src = module.weights
    store = WeightStore(None)
    for key in {op.attrs["key"] for op in module.ops() if op.name == "nn.param"}:
        store.add(key, np.array(src.numpy(key)), src.type_of(key).dtype)
    func = module.main
    nhwc = {func.args[0].name}  # names of values held channel-last
    lines, counter = [], [0]

    def attrs_text(a):
        return (" {" + ", ".join(f"{k} = {format_attr(a[k])}" for k in sorted(a)) + "}") if a else ""

    def fresh(base):
        counter[0] += 1
        return f"{base}_tf{counter[0]}"

    def as_nchw(v):
        if v.name not in nhwc:
            return "%" + v.name
        t = fresh(v.name)
        lines.append(f"%{t} = nn.transpose(%{v.name}) {{perm = {TO_NCHW}}}")
        return "%" + t

    def emit(op, operands, attrs, channel_last):
        res = ", ".join("%" + r.name for r in op.results)
        if channel_last:
            lines.append(f"{res} = {op.name}({', '.join(operands)}){attrs_text(attrs)}")
            nhwc.update(r.name for r in op.results if r.type.rank == 4)
            return
        tmp = [fresh(r.name) if r.type.rank == 4 else r.name for r in op.results]
        lines.append(f"{', '.join('%' + t for t in tmp)} = {op.name}({', '.join(operands)}){attrs_text(attrs)}")
        for r, t in zip(op.results, tmp):
            if t != r.name:
                lines.append(f"%{r.name} = nn.transpose(%{t}) {{perm = {TO_NHWC}}}")
                nhwc.add(r.name)

    weight_users = {}
    for op in func.ops:
        if op.name in ("nn.conv2d", "nn.conv_transpose2d"):
            weight_users.setdefault(op.operands[1].name, []).append(op)
    for op in func.ops:
        a = dict(op.attrs)
        opdef = OPS[op.name]
        x = op.operands[0] if op.operands else None
        if op.name == "nn.param":
            key = a["key"]
            if op.result.name in weight_users and not wrapped:
                store.add(key, np.ascontiguousarray(np.asarray(store.numpy(key)).transpose(2, 3, 1, 0)))
            elif op.result.type.rank == 4:
                store.add(key, np.ascontiguousarray(np.asarray(store.numpy(key)).transpose(TO_NHWC)))
                nhwc.add(op.result.name)
            lines.append(f"%{op.result.name} = nn.param(){attrs_text(a)}")
        elif op.name == "nn.constant":
            lines.append(f"%{op.result.name} = nn.constant(){attrs_text(a)}")
        elif opdef.spatial and x.name in nhwc and not wrapped:
            a["layout"] = "nhwc"
            emit(op, ["%" + v.name for v in op.operands], a, True)
        elif (opdef.family == "elementwise" and len(op.operands) == 1) or (
                opdef.family == "elementwise" and all(v.type.rank == 4 and v.name in nhwc for v in op.operands)):
            emit(op, ["%" + v.name for v in op.operands], a, True)
        elif op.name == "nn.concat" and x.name in nhwc and all(v.name in nhwc for v in op.operands):
            a["axis"] = -1 if a["axis"] % 4 == 1 else TO_NHWC.index(a["axis"] % 4)
            emit(op, ["%" + v.name for v in op.operands], a, True)
        elif op.name in ("nn.mean", "nn.sum") and x.name in nhwc:
            a["axes"] = [TO_NHWC.index(ax % 4) for ax in a["axes"]]
            emit(op, ["%" + x.name], a, True)
        elif op.name in ("nn.flatten", "nn.reshape") and x.name in nhwc and x.type.shape[2:] == (1, 1):
            emit(op, ["%" + x.name], a, False)  # [N, 1, 1, C] flattens like [N, C, 1, 1]
        else:
            emit(op, [as_nchw(v) for v in op.operands], a, False)
    outs = []
    for v in func.outputs:
        outs.append(v)
    ret_names = ", ".join("%" + v.name for v in outs)
    ret_types = [v.type.with_shape([v.type.shape[i] for i in TO_NHWC]) if v.name in nhwc else v.type for v in outs]
    arg = func.args[0]
    arg_type = arg.type.with_shape([arg.type.shape[i] for i in TO_NHWC])
    sig = ", ".join(str(t) for t in ret_types)
    text = (f"// irc 1\nmodule @tf {{\n  func @forward(%{arg.name}: {arg_type}) -> "
            f"{sig if len(ret_types) == 1 else '(' + sig + ')'} {{\n"
            + "".join(f"    {line}\n" for line in lines) + f"    return {ret_names}\n  }}\n}}\n")
    m = irc.parse(text, weights=store)
    irc.verify(m)
    return m


class Blocks:
    """A small network with the structures real models have: conv-bn-relu, depthwise conv, a
    squeeze-excite block (adaptive pool, 1x1 convs, hardsigmoid, broadcast multiply), a residual add, an
    inception-style concat of a conv and a pool branch, a transposed conv, global pooling, linear."""

    @staticmethod
    def make():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
                self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
                self.se1 = nn.Conv2d(8, 4, 1)
                self.se2 = nn.Conv2d(4, 8, 1)
                self.branch = nn.Conv2d(8, 6, 1)
                self.up = nn.ConvTranspose2d(14, 4, 2, 2)
                self.bn = nn.BatchNorm2d(4)
                self.fc = nn.Linear(4, 5)

            def forward(self, x):
                y = self.stem(x)
                z = self.dw(y)
                s = torch.nn.functional.adaptive_avg_pool2d(z, 1)
                s = torch.nn.functional.hardsigmoid(self.se2(torch.relu(self.se1(s))))
                z = z * s + y
                cat = torch.cat([self.branch(z), torch.nn.functional.max_pool2d(z, 3, 1, 1)], 1)
                u = torch.relu(self.bn(self.up(cat)))
                return self.fc(u.mean((2, 3)))

        return Net()


@pytest.mark.parametrize("wrapped", [False, True], ids=["nhwc-ops", "onnx-wrapped"])
def test_tensorflow_style_version_of_a_real_model(wrapped):
    import torch
    from helpers import randomize_

    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    model = randomize_(Blocks.make())
    tf = tfify(import_model(model, [((3, 16, 16), "f32")], batch="dynamic", structured=False), wrapped)
    kinds = op_kinds(tf)
    if wrapped:
        assert kinds["transpose"] >= 2 * kinds["conv2d"]
    else:
        assert sum(op.attrs.get("layout") == "nhwc" for op in tf.ops()) == kinds["conv2d"] + kinds["batch_norm"] + \
            kinds["conv_transpose2d"] + kinds["max_pool2d"] + kinds["adaptive_avg_pool2d"]
    ex_tf = Executor(tf)
    run_pipeline(tf, "nhwc-to-nchw{change-signature=true}")
    assert op_kinds(tf)["transpose"] == 0, irc.print(tf)
    assert all(op.attrs.get("layout", "nchw") == "nchw" for op in tf.ops())
    ex_nchw = Executor(tf)
    run_pipeline(tf, "canonicalize,fuse-bn,fold-constants,cse,dce")
    assert op_kinds(tf)["batch_norm"] == 0
    ex_opt = Executor(tf)
    for b in (1, 3):
        x = torch.randn(b, 3, 16, 16)
        with torch.no_grad():
            ref = model(x)
        assert_close(ref, ex_tf(x.permute(0, 2, 3, 1).contiguous())[0], rule="pass", name="tf-style")
        assert_close(ref, ex_nchw(x)[0], rule="pass", name="after nhwc-to-nchw")
        assert_close(ref, ex_opt(x)[0], rule="pass", name="after the pipeline")


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("mobilenet_v3_small", 224), ("resnet50", 224), ("inception_v3", 299)])
@pytest.mark.parametrize("wrapped", [False, True], ids=["nhwc-ops", "onnx-wrapped"])
def test_tensorflow_style_seed_models(name, size, wrapped):
    import torch
    import torchvision
    from helpers import randomize_

    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.torch import import_model

    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    model = randomize_(getattr(torchvision.models, name)(weights=None, **kwargs))
    tf = tfify(import_model(model, [((3, size, size), "f32")], batch=1, structured=False), wrapped)
    ex_tf = Executor(tf)
    n_before = sum(op_kinds(tf).values())
    run_pipeline(tf, "nhwc-to-nchw{change-signature=true}")
    kinds = op_kinds(tf)
    assert kinds["transpose"] == 0 and all(op.attrs.get("layout", "nchw") == "nchw" for op in tf.ops())
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        ref = model(x)
    v_tf = assert_close(ref, ex_tf(x.permute(0, 2, 3, 1).contiguous())[0], rule="pass", name="tf-style")
    v = assert_close(ref, Executor(tf)(x)[0], rule="pass", name="after nhwc-to-nchw")
    print(f"\n{name} tf-style ({'wrapped' if wrapped else 'nhwc ops'}): ops {n_before} -> {sum(kinds.values())}, "
          f"max|d| tf-style {v_tf.max_abs:.3g}, after {v.max_abs:.3g}")


class KerasLike:
    """A Keras-shaped model (NHWC input, NCHW convs/pools between permutes, concat on -1 and 3, a bias and
    a layer_norm on the channel axis, softmax on -1, flatten of NHWC data into a linear), as it arrives
    through ONNX."""

    @staticmethod
    def make():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
                self.conv2 = nn.Conv2d(8, 8, 1)
                self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
                self.bn = nn.BatchNorm2d(16)
                self.bias = nn.Parameter(torch.zeros(16))
                self.ln = nn.LayerNorm(16)
                self.fc = nn.Linear(4 * 4 * 32, 10)

            def forward(self, x):
                def nchw(layer, t):
                    return layer(t.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

                a = torch.relu(nchw(self.conv1, x))
                c = torch.cat([a, nchw(self.conv2, a)], dim=-1) + self.bias
                d = torch.relu(nchw(lambda t: self.bn(self.dw(t)), c))
                p = nchw(lambda t: nn.functional.max_pool2d(t, 2), self.ln(d))
                s = torch.softmax(p, dim=-1) * p
                return self.fc(torch.cat([p, s], dim=3).flatten(1))

        return Net()


@pytest.mark.parametrize("options", ["", "{change-signature=true}"])
def test_keras_shaped_model_through_onnx(options):
    import io
    import warnings

    import torch
    from helpers import randomize_

    import irc
    from irc.backend.pytorch.executor import Executor
    from irc.fidelity import assert_close
    from irc.frontend.onnx import import_onnx

    model = randomize_(KerasLike.make())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 8, 8, 3),), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})
    module = import_onnx(buf.getvalue())
    assert op_kinds(module)["transpose"] >= 6
    ex_before = Executor(module)
    run_pipeline(module, "nhwc-to-nchw" + options)
    assert_round_trip(module)
    assert not inner_transposes(module), irc.print(module)
    assert op_kinds(module)["transpose"] == (0 if options else 1)
    assert [op.attrs["axes"] for op in module.ops() if op.kind == "layer_norm"] == [[1]]
    ex_after = Executor(module)
    run_pipeline(module, "canonicalize,fuse-bn,fold-constants,cse,dce")
    ex_opt = Executor(module)
    for b in (1, 3):
        x = torch.randn(b, 8, 8, 3)
        xin = x.permute(0, 3, 1, 2).contiguous() if options else x
        with torch.no_grad():
            ref = model(x)
        assert_close(ref, ex_before(x)[0], rule="pass", name="imported")
        assert_close(ref, ex_after(xin)[0], rule="pass", name="after nhwc-to-nchw")
        assert_close(ref, ex_opt(xin)[0], rule="pass", name="after the pipeline")
