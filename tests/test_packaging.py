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
