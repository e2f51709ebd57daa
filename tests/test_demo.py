"""The README's first command: the bundled demo runs import -> opt -> emit (PyTorch, ONNX) -> check and passes."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("irc-import") is None, reason="the console scripts are not installed (pip install -e .)")
def test_demo_script_runs_end_to_end(tmp_path):
    proc = subprocess.run(["bash", os.path.join(ROOT, "examples", "demo.sh"), str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for step in ("irc-import", "irc-opt", "irc-emit", "irc-check"):
        assert f"$ {step} " in out
    assert out.count("ok: every output within the rule") == 3  # the IR, the emitted PyTorch, the ONNX file
    assert "nn.batch_norm" not in (tmp_path / "demo" / "tinynet.opt.ir").read_text()  # fuse-bn ran
    assert (tmp_path / "demo" / "tinynet_pt" / "model.py").is_file()


@pytest.mark.skipif(shutil.which("irc-import") is None, reason="the console scripts are not installed (pip install -e .)")
def test_frameworks_script_checks_every_target_in_its_runtime(tmp_path):
    """examples/frameworks.sh (the README's framework transcript): torch → Keras, TFLite (f32 and f16), ncnn, ...
    each checked in its own runtime, and each file back to IR/PyTorch checked against it."""
    proc = subprocess.run(["bash", os.path.join(ROOT, "examples", "frameworks.sh"), str(tmp_path / "fw")],
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    checks = out.count("$ irc-check ")
    assert checks >= 4 and out.count("ok: every output within the rule") == checks, out[-3000:]
    assert "FAIL" not in out
