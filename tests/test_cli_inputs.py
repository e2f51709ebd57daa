"""Several named inputs and dynamic dims on the command line (issue 19 point 3): `irc-import --input NAME:DIMS[:DTYPE]`
and `--dynamic batch,INPUT.DIM[=NAME]` give the IR's argument names and `?` dims (a name used twice is one size),
`--shape/--dtype/--batch` keep working, bad syntax is an `irc-import: error:` naming the bad part, and
`irc-check --input` sets the sizes the IR's dynamic dims are checked at."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

from helpers import randomize_  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.frontend.torch.export import export, plan_inputs  # noqa: E402
from irc.frontend.torch.load import build_arch  # noqa: E402
from irc.tools.irc_check import main as irc_check  # noqa: E402
from irc.tools.irc_import import main as irc_import  # noqa: E402

ARCH = textwrap.dedent("""
    import torch
    from torch import nn

    class TwoInputs(nn.Module):
        # an image and a sequence of token ids of any length
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.tok = nn.Parameter(torch.randn(8))
            self.head = nn.Linear(8, 5)

        def forward(self, x, mask):
            img = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
            seq = (mask.to(x.dtype).unsqueeze(-1) * self.tok).mean(dim=1)
            return self.head(img + seq)

    class Window(nn.Module):
        # a convolution over a sequence: its length must be at least 3
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 6, 3)

        def forward(self, x):
            return self.conv(x)

    class Pair(nn.Module):
        def forward(self, a, b):
            return a.mean(dim=1) + b.mean(dim=1)
""")


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arch")
    path = folder / "arch_inputs.py"
    path.write_text(ARCH)
    model = randomize_(build_arch(f"{path}:TwoInputs"), seed=5)
    torch.save(model.state_dict(), folder / "two.pth")
    return path, model, folder / "two.pth"


def _tokens(batch, seq, seed):
    return torch.randint(0, 10, (batch, seq), generator=torch.Generator().manual_seed(seed))


def _image(batch, seed):
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_named_inputs_and_dynamic_dims(arch, tmp_path, capsys):
    path, model, weights = arch
    out = tmp_path / "m.ir"
    rc = irc_import([str(weights), "--arch", f"{path}:TwoInputs", "--input", "img:3,8,8:f32", "--input",
                     "mask:12:i64", "--dynamic", "batch,mask.0=seq", "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    module = irc.load(str(out))
    assert [(a.name, str(a.type)) for a in module.main.args] == [("img", "tensor<?x3x8x8xf32>"),
                                                                 ("mask", "tensor<?x?xi64>")]
    run = Executor(module)
    for batch, seq in ((1, 7), (3, 12), (2, 30)):
        x, ids = _image(batch, seq), _tokens(batch, seq, seq)
        assert_close(model(x, ids), run(x, ids)[0], "exact")


def test_shape_and_dtype_still_work_with_dynamic_by_position(arch, tmp_path, capsys):
    path, model, weights = arch
    out = tmp_path / "m.ir"
    rc = irc_import([str(weights), "--arch", f"{path}:TwoInputs", "--shape", "3,8,8", "--shape", "12", "--dtype",
                     "f32", "--dtype", "i64", "--dynamic", "1.0", "-o", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    module = irc.load(str(out))
    assert [(a.name, str(a.type)) for a in module.main.args] == [("x", "tensor<1x3x8x8xf32>"),
                                                                 ("mask", "tensor<1x?xi64>")]
    x, ids = _image(1, 0), _tokens(1, 5, 0)
    assert_close(model(x, ids), Executor(module)(x, ids)[0], "exact")


def test_a_named_dim_whose_range_the_model_narrows(arch, tmp_path, capsys):
    path, _, _ = arch
    model = randomize_(build_arch(f"{path}:Window"), seed=6)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    out = tmp_path / "w.ir"
    rc = irc_import([str(tmp_path / "w.pth"), "--arch", f"{path}:Window", "--input", "x:4,16", "--dynamic",
                     "batch", "--dynamic", "x.-1=seq", "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 0 and "warning" not in err, err
    module = irc.load(str(out))
    assert str(module.main.args[0].type) == "tensor<?x4x?xf32>"
    for batch, seq in ((1, 3), (2, 40)):
        x = torch.randn(batch, 4, seq, generator=torch.Generator().manual_seed(seq))
        assert_close(model(x), Executor(module)(x)[0], "exact")


def test_a_name_used_twice_is_one_symbol(arch):
    path, _, _ = arch
    pair = build_arch(f"{path}:Pair")
    types = [((6, 4), "f32"), ((6, 4), "f32")]
    same, _ = export(pair, types, 1, lambda msg: None, [{0: "n"}, {0: "n"}])
    apart, _ = export(pair, types, 1, lambda msg: None, [[0], [0]])

    def dims(ep):
        return [str(n.meta["val"].shape[1]) for n in ep.graph.nodes if n.op == "placeholder"]

    assert dims(same)[0] == dims(same)[1] and not dims(same)[0].isdigit()
    assert dims(apart)[0] != dims(apart)[1]


@pytest.mark.parametrize("args, fragment", [
    (["--input", "x:3,a,8"], "--input 'x:3,a,8': dimension 'a' is not a positive integer"),
    (["--input", "x:3,0"], "--input 'x:3,0': dimension '0' is not a positive integer"),
    (["--input", "1x:3"], "--input '1x:3': the name '1x' is not an identifier"),
    (["--input", "x:3:f99"], "--input 'x:3:f99': unknown element type 'f99'"),
    (["--input", "x"], "--input 'x': expected NAME:DIMS[:DTYPE]"),
    (["--input", "x:3", "--input", "x:4"], "--input: the name 'x' is given twice"),
    (["--input", "x:3", "--shape", "3"], "--input names each input with its shape and dtype; do not mix it"),
    (["--input", "x:3", "--dynamic", "x.1=seq"], "--dynamic 'x.1=seq': input 'x' has 1 per-sample dims (0 to 0"),
    (["--input", "x:3", "--dynamic", "y.0"], "--dynamic 'y.0': no input 'y' (inputs: x)"),
    (["--input", "x:3", "--dynamic", "seq"], "--dynamic 'seq': expected 'batch' or INPUT.DIM[=NAME]"),
    (["--input", "x:3", "--dynamic", "x.0=a-b"], "--dynamic 'x.0=a-b': expected 'batch' or INPUT.DIM[=NAME]"),
    (["--input", "x:3", "--dynamic", "x.0=batch"], "'batch' names the batch dimension"),
    (["--input", "x:3", "--batch", "4", "--dynamic", "batch"], "--dynamic batch and --batch 4 disagree"),
    (["--shape", "3", "--dynamic", "2.0"], "--dynamic '2.0': no input '2' (inputs: positions 0 to 0)"),
])
def test_bad_syntax_names_the_bad_part(args, fragment, tmp_path, capsys):
    rc = irc_import([str(tmp_path / "missing.pth"), *args, "-o", str(tmp_path / "m.ir")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("irc-import: error: ") and fragment in err, err


def test_plan_inputs_api():
    plan = plan_inputs(["ids:16:i64", "mask:16:i64"], [], [], 1, ["batch,ids.0=seq", "mask.0=seq"])
    assert plan.names == ["ids", "mask"] and plan.batch == "dynamic"
    assert plan.input_types == [((16,), "i64"), ((16,), "i64")]
    assert plan.dynamic_dims == [{0: "seq"}, {0: "seq"}]
    assert plan_inputs([], [(3, 8, 8)], ["f32"], 2, []).dynamic_dims is None


def test_irc_check_input_sizes(arch, tmp_path, capsys):
    path, _, weights = arch
    out = tmp_path / "m.ir"
    common = [str(weights), "--arch", f"{path}:TwoInputs"]
    assert irc_import(common + ["--input", "img:3,8,8", "--input", "mask:12:i64", "--dynamic", "batch,mask.0",
                                "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert irc_check(common + ["--ir", str(out), "--input", "mask:20", "-q"]) == 0
    assert "[batch 3]" in capsys.readouterr().out
    assert irc_check(common + ["--ir", str(out), "--input", "mask:20:f32"]) == 1
    assert "--input 'mask:20:f32': does not fit mask: tensor<?x?xi64>" in capsys.readouterr().err
    assert irc_check(common + ["--ir", str(out), "--input", "nope:3"]) == 1
    assert "has no input 'nope' (inputs: img, mask)" in capsys.readouterr().err
