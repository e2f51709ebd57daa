"""irc-opt end to end: hand-editing, pipelines, printing after passes, weights written, inputs never overwritten."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import golden_copy
from safetensors import safe_open

import irc
from irc.passes import REGISTRY, PassError, parse_pipeline
from irc.tools import irc_opt


def _edit_stride(path):
    text = open(path).read()
    edited = text.replace("padding = [[3, 3], [3, 3]], stride = [2, 2]", "padding = [[3, 3], [3, 3]], stride = [1, 1]")
    assert edited != text
    open(path, "w").write(edited)


def test_hand_edited_stride_is_reported_with_line_and_column(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    _edit_stride(path)
    assert irc_opt.main([path]) == 1
    err = capsys.readouterr().err
    col = open(path).read().splitlines()[4].index(": tensor<?x8x32x32xf32>") + 3
    assert err.startswith(f"{path}:5:{col}: error: nn.conv2d result type tensor<?x8x32x32xf32> does not match "
                          "inferred tensor<?x8x64x64xf32>\n")
    assert 'note: op came from "resnet.py":268:12' in err


def test_infer_shapes_repairs_a_hand_edit(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    _edit_stride(path)
    out = str(tmp_path / "fixed.ir")
    assert irc_opt.main([path, "--pass", "infer-shapes", "-o", out]) == 0
    fixed = open(out).read()
    before = open(path).read()
    # every type downstream of the edited conv changes from 32/16 spatial to 64/32; the head stays
    assert "%conv1 = " in fixed and "tensor<?x8x64x64xf32> loc(\"resnet.py\":268:12)" in fixed
    assert "%relu = nn.relu(%bn1) : tensor<?x8x64x64xf32>" in fixed
    assert "%maxpool = nn.max_pool2d(%relu) {kernel_size = [3, 3], padding = [[1, 1], [1, 1]], stride = [2, 2]} : " \
           "tensor<?x8x32x32xf32>" in fixed
    assert "%layer1.0.add = nn.add(%layer1.0.relu, %maxpool) : tensor<?x8x32x32xf32>" in fixed
    assert "%fc = nn.linear(%flatten, %fc.weight, %fc.bias) : tensor<?x10xf32>" in fixed
    changed = [b.split(" = ")[0].strip() for a, b in zip(before.splitlines(), fixed.splitlines()) if a != b]
    # the weights attribute (new file name) and the seven ops whose spatial size changed; nothing else
    assert changed == ["module @resnet_stem {weights", "%conv1", "%bn1", "%relu", "%maxpool", "%layer1.0.conv1",
                       "%layer1.0.relu", "%layer1.0.add"]
    irc.load(out)  # verifies


def test_pipeline_syntax():
    passes = parse_pipeline(["infer-shapes,dce", "dce"])
    assert [p.name for p in passes] == ["infer-shapes", "dce", "dce"]
    with pytest.raises(PassError, match="unknown pass 'fuse-bm'"):
        parse_pipeline("fuse-bm")
    with pytest.raises(PassError, match="pass 'dce' has no option 'x'"):
        parse_pipeline("dce{x=1}")
    with pytest.raises(PassError, match="cannot read pass pipeline"):
        parse_pipeline("dce,,{")


def test_pass_options_are_typed():
    from dataclasses import dataclass

    from irc.passes import Pass

    @dataclass
    class Demo(Pass):
        name = "demo"
        keep_names: bool = False
        limit: int = 3

        def apply(self, module):
            return False

    REGISTRY["demo"] = Demo
    try:
        (p,) = parse_pipeline("demo{keep-names=true, limit=7}")
        assert p.keep_names is True and p.limit == 7
        with pytest.raises(PassError, match="option 'limit' of pass 'demo' must be a int, got 'many'"):
            parse_pipeline("demo{limit=many}")
    finally:
        del REGISTRY["demo"]


def test_list_passes(capsys):
    assert irc_opt.main(["--list-passes"]) == 0
    out = capsys.readouterr().out
    for name, cls in REGISTRY.items():
        assert name in out and cls.summary in out


def test_print_ir_after_all(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    assert irc_opt.main([path, "--pass", "infer-shapes", "--pass", "dce", "--print-ir-after-all"]) == 0
    out = capsys.readouterr().out
    assert out.count("// ----- IR after ") == 2
    assert out.index("// ----- IR after infer-shapes -----") < out.index("// ----- IR after dce -----")


def test_stdout_and_strip_locs(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    assert irc_opt.main([path, "--strip-locs"]) == 0
    out = capsys.readouterr().out
    assert "loc(" not in out and out.startswith("// irc 1\nmodule @resnet_stem")


def test_output_weights_hold_exactly_the_used_keys(tmp_path):
    path = golden_copy("resnet_stem.ir", tmp_path)
    text = open(path).read()
    # disconnect the fc bias: dce must drop the param and the new weight file must not hold it
    text = text.replace("nn.linear(%flatten, %fc.weight, %fc.bias)", "nn.linear(%flatten, %fc.weight)")
    open(path, "w").write(text)
    out = str(tmp_path / "out" / "m.ir")
    os.makedirs(os.path.dirname(out))
    assert irc_opt.main([path, "--pass", "dce", "-o", out, "-q"]) == 0
    with safe_open(str(tmp_path / "out" / "m.safetensors"), "np") as f:
        keys = sorted(f.keys())
        np.testing.assert_array_equal(f.get_tensor("conv1.weight"),
                                      safe_open(str(tmp_path / "resnet_stem.safetensors"), "np").get_tensor("conv1.weight"))
    assert "fc.bias" not in keys and "fc.weight" in keys and len(keys) == 7
    assert 'weights = "m.safetensors"' in open(out).read()
    irc.load(out)


def test_never_overwrites_input(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    before = open(path, "rb").read()
    assert irc_opt.main([path, "-o", path]) == 1
    assert "refusing to overwrite the input file" in capsys.readouterr().err
    assert open(path, "rb").read() == before


def test_failed_run_leaves_no_file(tmp_path):
    path = golden_copy("resnet_stem.ir", tmp_path)
    _edit_stride(path)
    out = tmp_path / "never.ir"
    assert irc_opt.main([path, "--pass", "dce", "-o", str(out)]) == 1
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_parse_and_verify_do_not_read_tensor_data(tmp_path):
    path = golden_copy("resnet_stem.ir", tmp_path)
    module = irc.load(path)
    assert not module.weights.mapped()  # only the header was read
    w = module.weights.numpy("fc.weight")  # first use maps the file, without copying
    assert module.weights.mapped() and not w.flags.owndata and w.shape == (10, 8)


def test_new_weights_need_an_output_file(tmp_path, capsys):
    path = golden_copy("resnet_stem.ir", tmp_path)
    assert irc_opt.main([path, "--pass", "fuse-bn"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("irc-opt: error: the passes made ") and "give -o OUT.ir" in err
    out = str(tmp_path / "fused.ir")
    assert irc_opt.main([path, "--pass", "fuse-bn", "-o", out, "-q"]) == 0
    assert "nn.batch_norm" not in open(out).read()
