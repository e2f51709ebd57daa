"""Golden diagnostics: every bad input under tests/ir/errors gets its own clear message, exit 1, no traceback.

Each NAME.ir has NAME.err beside it: the exact stderr of `irc-opt NAME.ir` run from its directory.
Set IRC_UPDATE_GOLDEN=1 to rewrite the .err files (then read the diff before committing it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from irc.tools import irc_opt

ERR_DIR = os.path.join(os.path.dirname(__file__), "ir", "errors")
CASES = sorted(f[:-3] for f in os.listdir(ERR_DIR) if f.endswith(".ir"))

# weight files some cases need: case -> {key: (shape, numpy dtype)}
WEIGHTS = {
    "result_type_mismatch": {"conv1.weight": ((64, 3, 7, 7), np.float32)},
    "missing_weight_key": {"fc.weight": ((2, 4), np.float32), "fc.bias": ((2,), np.float32)},
    "weight_shape": {"fc.weight": ((2, 4), np.float32)},
    "weight_dtype": {"fc.weight": ((2, 4), np.float32)},
}


def _setup(case, tmp_path):
    shutil.copy(os.path.join(ERR_DIR, case + ".ir"), tmp_path / (case + ".ir"))
    if case in WEIGHTS:
        save_file({k: np.zeros(s, d) for k, (s, d) in WEIGHTS[case].items()}, str(tmp_path / (case + ".safetensors")))


def test_at_least_fifteen_distinct_cases():
    assert len(CASES) >= 15
    messages = {open(os.path.join(ERR_DIR, c + ".err")).read().split(": error: ")[1].split("\n")[0] for c in CASES}
    assert len(messages) == len(CASES), "two cases give the same message"


@pytest.mark.parametrize("case", CASES)
def test_diagnostic(case, tmp_path, monkeypatch, capsys):
    _setup(case, tmp_path)
    monkeypatch.chdir(tmp_path)
    code = irc_opt.main([case + ".ir"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "Traceback" not in captured.err
    golden = os.path.join(ERR_DIR, case + ".err")
    if os.environ.get("IRC_UPDATE_GOLDEN"):
        with open(golden, "w") as f:
            f.write(captured.err)
    with open(golden) as f:
        assert captured.err == f.read()


@pytest.mark.parametrize("case", ["syntax_error", "binary_garbage", "result_type_mismatch"])
def test_real_process_exit_code_and_no_traceback(case, tmp_path):
    _setup(case, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "irc.tools.irc_opt", case + ".ir"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(case + ".ir:") or proc.stderr.startswith("irc-opt: error:")


def test_debug_shows_traceback(tmp_path, monkeypatch, capsys):
    _setup("unknown_op", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert irc_opt.main(["unknown_op.ir", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_missing_input_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert irc_opt.main(["nope.ir"]) == 1
    assert capsys.readouterr().err == "irc-opt: error: nope.ir: no such file\n"


def test_bad_usage_is_exit_1(capsys):
    assert_exit = pytest.raises(SystemExit)
    with assert_exit as e:
        irc_opt.main(["--no-such-flag"])
    assert e.value.code == 1
    assert "irc-opt: error: unrecognized arguments: --no-such-flag" in capsys.readouterr().err
