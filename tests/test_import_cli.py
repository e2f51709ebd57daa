"""irc-import as a command: every kind of model file (detected from its content), the pickle
safety rule, --arch for a class in the user's own script, exit codes, no tracebacks, no partial
output, and the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from helpers import randomize_  # noqa: E402
from models.mobilenet_v1 import MobileNetV1  # noqa: E402

import irc  # noqa: E402
from irc.backend.pytorch.executor import Executor  # noqa: E402
from irc.fidelity import assert_close  # noqa: E402
from irc.frontend.torch.load import detect_kind, load_source, pickle_globals  # noqa: E402
from irc.ir import IrcError  # noqa: E402
from irc.ir.io import used_param_keys  # noqa: E402
from irc.tools.irc_import import main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = {"num_classes": 4, "width_mult": 0.25, "blocks": [[16, 1], [32, 2]]}


def small():
    return randomize_(MobileNetV1(**{**ARGS, "blocks": [tuple(b) for b in ARGS["blocks"]]}))


def run_cli(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def check_output(ir_path, model, batch=(1,), size=16):
    m = irc.load(str(ir_path))
    assert os.path.exists(os.path.splitext(str(ir_path))[0] + ".safetensors")
    run = Executor(m)
    for b in batch:
        x = torch.randn(b, 3, size, size)
        with torch.no_grad():
            assert_close(model(x), run(x)[0])
    return m


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One model saved as every kind of file, some under misleading names."""
    d = tmp_path_factory.mktemp("kinds")
    model = small()
    x = torch.randn(1, 3, 16, 16)
    paths = {
        "whole": d / "whole.pth",
        "state_dict": d / "weights.pt2",  # a state_dict named like an export archive
        "legacy": d / "legacy.bin",
        "checkpoint": d / "ckpt.tar",
        "torchscript": d / "scripted.pth",  # a TorchScript archive named like a pickle
        "pt2": d / "exported.pt",
    }
    torch.save(model, paths["whole"])
    torch.save(model.state_dict(), paths["state_dict"])
    torch.save(model.state_dict(), paths["legacy"], _use_new_zipfile_serialization=False)
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}},
               paths["checkpoint"])
    torch.jit.save(torch.jit.trace(model, x), paths["torchscript"])
    torch.export.save(torch.export.export(model, (x,)), paths["pt2"])
    return model, paths


def test_kind_is_detected_from_content(files):
    _, p = files
    assert detect_kind(str(p["whole"])) == "torch.save"
    assert detect_kind(str(p["state_dict"])) == "torch.save"
    assert detect_kind(str(p["checkpoint"])) == "torch.save"
    assert detect_kind(str(p["legacy"])) == "legacy pickle"
    assert detect_kind(str(p["torchscript"])) == "torchscript"
    assert detect_kind(str(p["pt2"])) == "pt2"
    arch = "models.mobilenet_v1:MobileNetV1"
    assert load_source(str(p["state_dict"]), arch, ARGS).kind == "state_dict"
    assert load_source(str(p["checkpoint"]), arch, json.dumps(ARGS)).kind == "state_dict"
    assert load_source(str(p["legacy"]), arch, ARGS).kind == "state_dict"
    assert load_source(str(p["torchscript"])).kind == "torchscript"
    assert load_source(str(p["pt2"])).kind == "exported program"
    assert load_source(str(p["whole"]), trust_pickle=True).kind == "pickled model"


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"\x08\x07\x12\x04test")
    with pytest.raises(IrcError, match="not a PyTorch file"):
        detect_kind(str(bad))
    text = tmp_path / "m.txt"
    text.write_text("hello")
    with pytest.raises(IrcError, match="not a PyTorch model file"):
        detect_kind(str(text))


@pytest.mark.parametrize("kind", ["state_dict", "legacy", "checkpoint", "torchscript", "pt2"])
def test_cli_imports_each_kind(files, kind, tmp_path, capsys):
    model, p = files
    argv = [p[kind], "--shape", "3,16,16", "-o", tmp_path / "m.ir"]
    if kind in ("state_dict", "legacy", "checkpoint"):
        argv += ["--arch", "models.mobilenet_v1:MobileNetV1", "--arch-args", json.dumps(ARGS)]
    if kind == "torchscript":
        argv += ["--batch", "dynamic"]
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0, err
    assert "wrote" in err and "FLOPs" in err and "Traceback" not in err
    m = check_output(tmp_path / "m.ir", model, batch=(1, 3) if kind == "torchscript" else (1,))
    keys = set(used_param_keys(m))  # a block's relative keys under each of its calls' scopes
    assert keys <= set(model.state_dict())  # the source's state_dict keys, whatever the file kind


def test_whole_pickle_refused_then_trusted(files, tmp_path, capsys):
    model, p = files
    out = tmp_path / "m.ir"
    rc, _, err = run_cli([p["whole"], "--shape", "3,16,16", "-o", out], capsys)
    assert rc == 1 and "Traceback" not in err
    assert err.startswith("irc-import: error: ")
    assert "models.mobilenet_v1.MobileNetV1" in err and "torch.nn.modules.conv.Conv2d" in err
    assert "--trust-pickle" in err
    assert not out.exists()
    rc, _, err = run_cli([p["whole"], "--shape", "3,16,16", "-o", out, "--trust-pickle", "--batch", "dynamic"], capsys)
    assert rc == 0, err
    check_output(out, model, batch=(1, 3))


def test_pickle_globals_scan(files):
    _, p = files
    found = pickle_globals(str(p["whole"]))
    assert "models.mobilenet_v1.MobileNetV1" in found and "torch.nn.modules.batchnorm.BatchNorm2d" in found
    assert all("MobileNetV1" not in g for g in pickle_globals(str(p["state_dict"])))


USER_SCRIPT = '''
import sys
import torch
import torch.nn as nn


class Net(nn.Module):  # defined in the user's own script, as MMdnn users had it
    def __init__(self, width=4, classes=3):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(x.mean((2, 3)))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = Net(width=6).eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    torch.save(model, sys.argv[1])
    torch.save(model.state_dict(), sys.argv[2])
'''


def test_arch_from_a_user_script(tmp_path, capsys):
    script = tmp_path / "my_model.py"
    script.write_text(USER_SCRIPT)
    whole, sd = tmp_path / "whole.pt", tmp_path / "sd.pt"
    subprocess.run([sys.executable, str(script), str(whole), str(sd)], check=True, cwd=tmp_path)
    out = tmp_path / "m.ir"
    # the whole-model pickle needs __main__.Net: refused, and even trusted it cannot be resolved
    rc, _, err = run_cli([whole, "--shape", "3,8,8", "-o", out], capsys)
    assert rc == 1 and "__main__.Net" in err
    rc, _, err = run_cli([whole, "--shape", "3,8,8", "-o", out, "--trust-pickle"], capsys)
    assert rc == 1 and "--arch" in err and "Traceback" not in err
    # the state_dict with --arch file.py:Class works
    rc, _, err = run_cli([sd, "--arch", f"{script}:Net", "--arch-args", '{"width": 6}', "--shape", "3,8,8",
                          "--batch", "dynamic", "-o", out], capsys)
    assert rc == 0, err
    from irc.frontend.torch.load import build_arch

    model = build_arch(f"{script}:Net", {"width": 6})
    model.load_state_dict(torch.load(sd))
    model.eval()
    check_output(out, model, batch=(1, 3), size=8)
    # a state_dict that does not fit the architecture says which keys
    rc, _, err = run_cli([sd, "--arch", f"{script}:Net", "--shape", "3,8,8", "-o", tmp_path / "x.ir"], capsys)
    assert rc == 1 and "does not fit --arch" in err and "conv.weight" in err
    # a state_dict without --arch asks for it
    rc, _, err = run_cli([sd, "--shape", "3,8,8", "-o", tmp_path / "x.ir"], capsys)
    assert rc == 1 and "--arch" in err
    assert not (tmp_path / "x.ir").exists()


UNSUPPORTED = '''
import torch
import torch.nn as nn


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = torch.special.bessel_j0(self.conv(x))
        return torch.special.i0(y) + torch.special.bessel_j0(y)
'''


def test_unsupported_op_writes_nothing(tmp_path, capsys):
    script = tmp_path / "odd.py"
    script.write_text(UNSUPPORTED)
    sd = tmp_path / "odd.pt"
    import importlib.util

    spec = importlib.util.spec_from_file_location("odd_for_test", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.save(mod.Odd().state_dict(), sd)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, _, err = run_cli([sd, "--arch", f"{script}:Odd", "--shape", "3,4,4", "-o", out_dir / "m.ir"], capsys)
    assert rc == 1 and "Traceback" not in err
    assert "aten.special_bessel_j0.default x2" in err and "aten.i0.default x1" in err
    assert "odd.py:12" in err and "odd.py:13" in err
    assert os.listdir(out_dir) == []  # no .ir, no .safetensors, no temporary file


def test_several_inputs_and_dtypes(tmp_path, capsys):
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent('''
        import torch.nn as nn

        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 5, 3)
                self.fc = nn.Linear(7, 5)

            def forward(self, img, vec):
                return self.conv(img).mean((2, 3)) + self.fc(vec)
    '''))
    from irc.frontend.torch.load import build_arch

    model = randomize_(build_arch(f"{script}:Two"))
    torch.save(model.state_dict(), tmp_path / "two.pt")
    out = tmp_path / "two.ir"
    rc, _, err = run_cli([tmp_path / "two.pt", "--arch", f"{script}:Two", "--shape", "3,9,9", "--shape", "7",
                          "--dtype", "f32", "--dtype", "f32", "--batch", "2", "-o", out], capsys)
    assert rc == 0, err
    m = irc.load(str(out))
    assert [a.type.shape for a in m.main.args] == [(2, 3, 9, 9), (2, 7)]
    x, v = torch.randn(2, 3, 9, 9), torch.randn(2, 7)
    with torch.no_grad():
        assert_close(model(x, v), Executor(m)(x, v)[0])
    rc, _, err = run_cli([tmp_path / "two.pt", "--arch", f"{script}:Two", "--shape", "3,9,9", "--shape", "7",
                          "--dtype", "f32", "--dtype", "f16", "--dtype", "f32", "-o", out], capsys)
    assert rc == 1 and "--dtype" in err


def test_usage_errors_exit_1(files, tmp_path, capsys):
    _, p = files
    out = tmp_path / "m.ir"
    for argv, expect in [
        ([tmp_path / "missing.pt", "--shape", "3,8,8", "-o", out], "no such file"),
        ([p["whole"], "--shape", "3,a,8", "-o", out], "--shape"),
        ([p["whole"], "--shape", "3,8,8", "--batch", "0", "-o", out], "--batch"),
        ([p["whole"], "--shape", "3,8,8", "--dtype", "f33", "-o", out], "unknown element type"),
        ([p["whole"], "--shape", "3,8,8"], "-o"),
        ([p["state_dict"], "--arch", "no_such_module_xyz:Net", "--shape", "3,8,8", "-o", out], "cannot import"),
        ([p["state_dict"], "--arch", "models.mobilenet_v1:MobileNetV1", "--arch-args", "{bad", "--shape", "3,8,8",
          "-o", out], "not valid JSON"),
    ]:
        rc, _, err = run_cli(argv, capsys)
        assert rc == 1, (argv, err)
        assert expect in err and "Traceback" not in err, err
        assert not out.exists()


def test_help_and_quiet(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and "--trust-pickle" in out and "--arch" in out
    model, p = files
    rc, out, err = run_cli([p["pt2"], "-o", tmp_path / "q.ir", "--quiet"], capsys)
    assert rc == 0 and err == "" and out == ""


def test_subprocess_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
    r = subprocess.run([sys.executable, "-m", "irc.tools.irc_import", str(tmp_path / "nope.pt"), "--shape", "3",
                        "-o", str(tmp_path / "m.ir")], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("irc-import: error:") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "irc.tools.irc_import", str(tmp_path / "nope.pt"), "--shape", "3",
                        "-o", str(tmp_path / "m.ir"), "--debug"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_progress_only_on_a_terminal(files, tmp_path):
    """On a terminal stderr gets an updating progress line (\\r); into a pipe, only the summary."""
    import pty

    _, p = files
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
    cmd = [sys.executable, "-m", "irc.tools.irc_import", str(p["pt2"]), "-o", str(tmp_path / "m.ir")]
    master, slave = pty.openpty()
    r = subprocess.run(cmd, stderr=slave, stdout=subprocess.DEVNULL, env=env, check=False)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    tty_err = b"".join(chunks).decode()
    assert r.returncode == 0
    assert "\r" in tty_err and "lowering to irc IR" in tty_err and "irc-import: wrote" in tty_err
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert piped.returncode == 0
    assert "\r" not in piped.stderr and "lowering" not in piped.stderr and "irc-import: wrote" in piped.stderr
