"""Untrusted input: IR text and weight files written by someone else end in a diagnostic, never an internal
error, a hang, a huge allocation, a read outside the IR's folder, or a corrupted output."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import irc
from irc.ir import IrcError

GOOD = """module @m {weights = "w.safetensors"} {
  func @forward(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
    %fc.weight = nn.param() {key = "fc.weight"} : tensor<4x3xf32>
    %fc = nn.linear(%x, %fc.weight) : tensor<2x4xf32>
    return %fc : tensor<2x4xf32>
  }
}
"""


def _safetensors(path, header: object, data: bytes):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def _ir(tmp_path, text=GOOD, name="m.ir"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


GOOD_ENTRY = {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]}


@pytest.mark.parametrize("header,data,message", [
    ({"fc.weight": GOOD_ENTRY}, b"\0" * 40, "outside the 40 bytes of data"),  # truncated file
    ({"fc.weight": {**GOOD_ENTRY, "data_offsets": [-48, 0]}}, b"\0" * 48, "outside the 48 bytes"),
    ({"fc.weight": {**GOOD_ENTRY, "data_offsets": [8, 0]}}, b"\0" * 48, "outside"),
    ({"fc.weight": {**GOOD_ENTRY, "data_offsets": [0, 40]}}, b"\0" * 48, "needs 48 bytes, its data_offsets hold 40"),
    ({"fc.weight": GOOD_ENTRY, "b": {"dtype": "F32", "shape": [2], "data_offsets": [40, 48]}}, b"\0" * 48,
     "overlap"),
    ([1, 2, 3], b"", "not a JSON object"),
    ({"fc.weight": [1, 2]}, b"", "is not an object"),
    ({"fc.weight": {**GOOD_ENTRY, "shape": [4, -3]}}, b"\0" * 48, "non-negative integers"),
    ({"fc.weight": {**GOOD_ENTRY, "data_offsets": "0-48"}}, b"\0" * 48, "expected [begin, end]"),
    ({"__metadata__": [1], "fc.weight": GOOD_ENTRY}, b"\0" * 48, "__metadata__"),
])
def test_weight_headers_are_checked_in_full_before_use(tmp_path, header, data, message):
    _safetensors(tmp_path / "w.safetensors", header, data)
    with pytest.raises(IrcError, match="invalid safetensors header|cannot read") as e:
        irc.load(_ir(tmp_path))
    assert message in str(e.value), str(e.value)


def test_a_valid_weight_file_still_loads(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    _safetensors(tmp_path / "w.safetensors", {"fc.weight": GOOD_ENTRY}, arr.tobytes())
    m = irc.load(_ir(tmp_path))
    assert np.array_equal(m.weights.numpy("fc.weight"), arr)


@pytest.mark.parametrize("weights", ["../outside/w.safetensors", "/ABS/w.safetensors", "link/w.safetensors",
                                     "../outside/missing.safetensors"])
def test_weights_outside_the_folder_are_refused_alike(tmp_path, weights):
    outside = tmp_path / "outside"
    outside.mkdir()
    arr = np.ones((4, 3), np.float32)
    _safetensors(outside / "w.safetensors", {"fc.weight": GOOD_ENTRY}, arr.tobytes())
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    weights = weights.replace("/ABS", str(outside))
    path = _ir(folder, GOOD.replace('"w.safetensors"', json.dumps(weights)))
    with pytest.raises(IrcError) as e:
        irc.load(path)
    msg = str(e.value)
    assert "is not inside the folder of the .ir file" in msg and "--allow-outside-weights" in msg
    assert "exist" not in msg  # the same words whether the outside file exists or not
    if "missing" not in weights:
        assert irc.load(path, allow_outside_weights=True).weights.numpy("fc.weight").sum() == 12


def test_the_cli_flag_reads_outside_weights(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _safetensors(outside / "w.safetensors", {"fc.weight": GOOD_ENTRY}, np.ones((4, 3), np.float32).tobytes())
    (tmp_path / "models").mkdir()
    path = _ir(tmp_path / "models", GOOD.replace('"w.safetensors"', '"../outside/w.safetensors"'))
    for flags, rc in (([], 1), (["--allow-outside-weights"], 0)):
        run = subprocess.run([sys.executable, "-m", "irc.tools.irc_opt", path, *flags], capture_output=True, text=True)
        assert run.returncode == rc, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr


def _parse_error(text: str) -> str:
    with pytest.raises(IrcError) as e:
        irc.parse(text, "t.ir")
    return str(e.value)


def _with_attr(attr: str) -> str:
    return ("module @m {\n  func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
            f"    %y = nn.relu(%x) {{{attr}}} : tensor<2xf32>\n    return %y : tensor<2xf32>\n  }}\n}}\n")


@pytest.mark.parametrize("attr,message", [
    ('s = "a\\qb"', "t.ir:3:29: error: invalid string literal: Invalid \\escape"),
    ('s = "\\x41"', "invalid string literal"),
    ('s = "\\u00"', "invalid string literal"),
    ('s = "a\tb"', "invalid string literal: Invalid control character"),
    ("n = 123456789012345678901234567890", "does not fit in 64 bits"),
    ("n = " + "9" * 5000, "does not fit in 64 bits"),
    ("v = " + "[" * 5000 + "1" + "]" * 5000, "nests deeper than 32 levels"),
    ('v = dense<["a", "b"]> : tensor<2xf32>', '"a" is not a number'),
    ("v = dense<[[1.0], [2.0, 3.0]]> : tensor<2x1xf32>", "ragged"),
    ("v = dense<[-1, 300]> : tensor<2xu8>", "-1 is out of range for u8"),
    ("v = dense<[nan, 1]> : tensor<2xi32>", "nan is not an integer"),
    ("v = dense<1e300> : tensor<2xf32>", "does not fit f32"),
    ("v = dense<[1, 2]> : tensor<2xi1>", "not true or false"),
])
def test_bad_literals_are_diagnostics(attr, message):
    assert message in _parse_error(_with_attr(attr))


def test_deep_locations_are_diagnostics():
    loc = '"a"(' * 3000 + '"f.py":1:1' + ")" * 3000
    text = _with_attr("").replace(" {} : tensor<2xf32>", f" : tensor<2xf32> loc({loc})")
    assert "location nests deeper than 32 levels" in _parse_error(text)


def _time_and_peak(fn):
    tracemalloc.start()
    t = time.perf_counter()
    try:
        fn()
    except IrcError:
        pass
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


@pytest.mark.parametrize("token", [
    "tensor<" + "1x" * 500_000 + "q>",          # a type token that once backtracked for minutes
    '"' + "a" * 1_000_000 + '"',                 # a string attribute that once cost 500 bytes per byte
    '"' + "\\n" * 500_000 + '"',
], ids=["type", "string", "escapes"])
def test_one_megabyte_tokens_parse_in_linear_time_and_memory(token):
    if token.startswith("tensor"):
        text = _with_attr("").replace("{} : tensor<2xf32>\n    return", f": {token}\n    return")
        assert token in text
    else:
        text = _with_attr(f"s = {token}")
    irc.parse(_with_attr(""))  # the grammar is built once per process; not part of the measure
    elapsed, peak = _time_and_peak(lambda: irc.parse(text, "t.ir"))
    assert elapsed < 1.0, f"{elapsed:.2f} s for a {len(text)}-byte input"
    assert peak < 20 * len(text), f"peak {peak / 1e6:.1f} MB for a {len(text) / 1e6:.1f} MB input"


def test_names_set_through_the_api_cannot_inject_text():
    m = irc.parse(_with_attr(""))
    m.name = 'm} {weights = "/etc/passwd"'
    with pytest.raises(IrcError, match="cannot print module name"):
        irc.print(m)
    m = irc.parse(_with_attr(""))
    m.main.ops[0].results[0].name = "y) {x = 1}"
    with pytest.raises(IrcError, match="cannot print value name"):
        irc.print(m)


def test_a_module_without_functions_is_a_diagnostic():
    assert "has no function" in _parse_error_verify("module @m {\n}\n")


def _parse_error_verify(text):
    with pytest.raises(IrcError) as e:
        irc.verify(irc.parse(text, "t.ir"))
    return str(e.value)


def test_no_grammar_cache_is_read(tmp_path):
    """A planted pickle where Lark once kept its cache is never loaded."""
    cache = tmp_path / "irc"
    cache.mkdir()
    (cache / "grammar.lark.cache").write_bytes(b"\x80\x04planted")
    code = ("import os, irc; irc.parse(open(os.environ['IR']).read()); "
            "print(sorted(os.listdir(os.path.join(os.environ['XDG_CACHE_HOME'], 'irc'))))")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), IR=_ir(tmp_path, _with_attr("")))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['grammar.lark.cache']"


def _opt_error(text, tmp_path, passes):
    path = tmp_path / "m.ir"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "irc.tools.irc_opt", str(path), "--pass", passes],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    return run.stderr


def test_fuzzer_findings_are_diagnostics(tmp_path):
    """Inputs the fuzzer found ending in an internal error, each now a diagnostic."""
    empty_min = _with_attr("").replace("%y = nn.relu(%x) {}", "%y = nn.reduce_min(%x) {axes = [0]}").replace(
        "tensor<2xf32>", "tensor<0xf32>", 1)
    assert "over axis 0 of tensor<0xf32>, which is empty" in _opt_error(empty_min, tmp_path, "infer-shapes")
    gather = ("module @m {\n  func @forward(%x: tensor<2xf32>) -> tensor<1xf32> {\n"
              "    %t = nn.constant() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>\n"
              "    %i = nn.constant() {value = dense<[4]> : tensor<1xi64>} : tensor<1xi64>\n"
              "    %g = nn.gather(%t, %i) {axis = 0} : tensor<1xf32>\n    return %g : tensor<1xf32>\n  }\n}\n")
    assert "nn.gather fails on its constant operands" in _opt_error(gather, tmp_path, "fold-constants")
    big_window = _with_attr("").replace(
        "%y = nn.relu(%x) {}", "%y = nn.max_pool2d(%x) {kernel_size = [1, 1], stride = [9223372036854775807, 1]}")
    assert "exceeds 2**31-1" in _parse_error_verify(big_window.replace("tensor<2xf32>", "tensor<1x1x2x2xf32>"))
    relu_no_operand = _with_attr("").replace("nn.relu(%x) {}", "nn.relu()")
    assert "nn.relu takes 1 operand" in _opt_error(relu_no_operand, tmp_path, "infer-shapes")


def test_infer_shapes_keeps_the_arity(tmp_path):
    text = ("module @m {\n  func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
            "    %y = nn.relu(%x) : tensor<2xf32>\n    return\n  }\n}\n")
    assert "returns 0 values but its signature declares 1" in _opt_error(text, tmp_path, "infer-shapes")


def test_onnx_graphs_that_lie_are_diagnostics():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from irc.frontend.onnx import import_onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    twice = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="a"),
                               helper.make_node("Sigmoid", ["x"], ["y"], name="b")], "g", [x], [y])
    with pytest.raises(IrcError, match="value 'y' is written by node a and again by node b"):
        import_onnx(helper.make_model(twice, opset_imports=[helper.make_opsetid("", 17)]))
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.zeros(12, np.float32).tobytes(), raw=True)
    w.raw_data = np.zeros(5, np.float32).tobytes()  # dims say 12 values, the data holds 5
    short = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    with pytest.raises(IrcError, match=r"initializer 'w' of dims \[4, 3\] does not hold data of that shape"):
        import_onnx(helper.make_model(short, opset_imports=[helper.make_opsetid("", 17)]))
    assert onnx is not None
