"""Packaging: the grammar is found from an installed wheel, and `import irc` needs no torch."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_grammar_is_found_from_an_installed_wheel(tmp_path):
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(dist)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("building the wheel failed:\n" + proc.stderr[-2000:])
    (wheel,) = dist.glob("irc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "irc/grammar/irc.lark" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import irc, irc.ir.parser as p, sys\n"
        f"assert irc.__file__.startswith({str(site)!r}), irc.__file__\n"
        f"assert str(p.grammar_path()).startswith({str(site)!r}), p.grammar_path()\n"
        "m = irc.parse('module @m {\\n  func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {\\n"
        "    %y = nn.relu(%x)\\n    return %y : tensor<2xf32>\\n  }\\n}\\n')\n"
        "irc.verify(m)\n"
        "print(irc.print(m), end='')\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "%y = nn.relu(%x) : tensor<2xf32>" in run.stdout


def test_core_commands_do_not_import_torch():
    code = "import sys, irc, irc.passes, irc.tools.irc_opt; assert 'torch' not in sys.modules, 'torch imported'"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("tool", ["irc-opt", "irc-import", "irc-emit", "irc-check"])
def test_console_scripts_are_declared(tool):
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert f'{tool} = "irc.tools.' in text


def test_wheel_installed_in_a_fresh_venv_runs_the_whole_chain(tmp_path):
    """A user's `pip install .`: the wheel (not editable) in a new virtual environment outside the checkout
    imports, fuses, emits PyTorch and ONNX and checks the bundled example (torch and onnx come from the
    test environment through --system-site-packages)."""
    import shutil

    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(dist)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = dist.glob("irc-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    examples = tmp_path / "examples"
    shutil.copytree(os.path.join(ROOT, "examples"), examples)
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    where = subprocess.run([str(py), "-c", "import irc, irc.backend.pytorch, irc.frontend.torch; print(irc.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    run = subprocess.run(["bash", str(examples / "demo.sh"), str(tmp_path / "out")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "out" / "tinynet_pt" / "model.py").exists() and (tmp_path / "out" / "tinynet.onnx").exists()
    assert run.stdout.count("[ok: ") >= 3 and "FAIL" not in run.stdout, run.stdout[-3000:]
