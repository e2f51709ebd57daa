"""The one writer every output goes through: permissions, errors, no leftovers, and file pairs that are never
left mixed, even when the process is killed at any point of a write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import irc
from irc.ir import IrcError
from irc.ir.writer import finish_pending_writes, write_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEXT = """module @m {{weights = "w.safetensors"}} {{
  func @forward(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {{
    %fc.weight = nn.param() {{key = "fc.weight"}} : tensor<4x3xf32>
    %fc = nn.linear(%x, %fc.weight) : tensor<2x4xf32>
    %y = nn.{act}(%fc) : tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }}
}}
"""


def _module(tmp_path, act: str, value: float):
    """A module whose IR text (the activation) and weights (the value) say which write made them."""
    from safetensors.numpy import save_file

    src = tmp_path / f"src_{act}"
    src.mkdir()
    save_file({"fc.weight": np.full((4, 3), value, np.float32)}, str(src / "w.safetensors"))
    (src / "m.ir").write_text(TEXT.format(act=act))
    return irc.load(str(src / "m.ir"))


def test_outputs_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        irc.save(_module(tmp_path, "relu", 1.0), str(tmp_path / "o.ir"))
    finally:
        os.umask(old)
    for name in ("o.ir", "o.safetensors"):
        assert oct(os.stat(tmp_path / name).st_mode & 0o777) == "0o644", name
    assert sorted(os.listdir(tmp_path)) == ["o.ir", "o.safetensors", "src_relu"]


def _immutable_dir(tmp_path):
    """A folder nobody may write into, root included (chattr +i), or a plain read-only one for other users."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        return d, lambda: d.chmod(0o755)
    proc = subprocess.run(["chattr", "+i", str(d)], capture_output=True)
    if proc.returncode != 0:
        pytest.fail(f"cannot make a read-only folder as root here: {proc.stderr.decode().strip()}")
    return d, lambda: subprocess.run(["chattr", "-i", str(d)], check=True)


def test_unwritable_paths_are_user_errors_and_leave_nothing(tmp_path):
    m = _module(tmp_path, "relu", 1.0)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = {
        str(tmp_path / "adir"): "Is a directory",
        "/proc/irc-test/o.ir": "cannot write /proc/irc-test/",
        str(tmp_path / "afile" / "o.ir"): "Not a directory",
    }
    for path, reason in cases.items():
        with pytest.raises(IrcError, match="cannot write") as e:
            irc.save(m, path)
        assert reason in str(e.value), str(e.value)
    ro, undo = _immutable_dir(tmp_path)
    try:
        with pytest.raises(IrcError, match=r"cannot write .*ro/o\.(ir|safetensors): (Permission denied|Operation not permitted)"):
            irc.save(m, str(ro / "o.ir"))
        assert os.listdir(ro) == []
    finally:
        undo()
    assert sorted(os.listdir(tmp_path)) == ["adir", "afile", "ro", "src_relu"]
    assert os.listdir(tmp_path / "adir") == []


def test_a_failing_writer_leaves_no_temporary_and_the_old_files(tmp_path):
    write_files([(str(tmp_path / "a.bin"), lambda f: f.write(b"old")), (str(tmp_path / "a.ir"), lambda f: f.write(b"1"))])

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_files([(str(tmp_path / "a.bin"), lambda f: f.write(b"new")), (str(tmp_path / "a.ir"), boom)])
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "a.ir"]
    assert (tmp_path / "a.bin").read_bytes() == b"old"


def test_the_cli_says_cannot_write(tmp_path):
    from irc.tools.irc_opt import main

    src = _module(tmp_path, "relu", 1.0).path
    (tmp_path / "out").mkdir()
    run = subprocess.run([sys.executable, "-c", "import sys; from irc.tools.irc_opt import main; "
                          f"sys.exit(main([{src!r}, '-o', {str(tmp_path / 'out')!r}]))"],
                         capture_output=True, text=True)
    assert main is not None and run.returncode == 1
    assert run.stderr.startswith(f"irc-opt: error: cannot write {tmp_path / 'out'}: Is a directory"), run.stderr
    assert "Traceback" not in run.stderr


# The kill test: a child process writes the new pair (sigmoid, 2.0) over the old one (relu, 1.0) and
# SIGKILLs itself at one point of the write; the parent then reads the pair as irc does.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import irc
    from irc.ir import writer
    point, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
    m = irc.load(src)
    calls = {"replace": 0, "write": 0}
    real_replace = os.replace

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def replace(a, b):
        calls["replace"] += 1
        if point == f"before-replace-{calls['replace']}":
            die()
        real_replace(a, b)
        if point == f"after-replace-{calls['replace']}":
            die()

    real_unlink = os.unlink

    def unlink(p):
        if point == "before-journal-removal" and p.endswith(writer.JOURNAL_SUFFIX):
            die()
        real_unlink(p)

    writer.os.replace = replace
    writer.os.unlink = unlink
    real_writer = m.weights.writer

    def weights_writer(keys, metadata=None):
        w = real_writer(keys, metadata)

        def write(f):
            if point == "mid-weights":
                f.write(b"partial")
                f.flush()
                die()
            w(f)
        return write

    m.weights.writer = weights_writer
    irc.save(m, out)
    print("completed")
""")

POINTS = ["mid-weights", "before-replace-1", "after-replace-1", "after-replace-2", "after-replace-3",
          "before-journal-removal", "none"]


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_point_leaves_the_old_pair_or_the_new_pair(tmp_path, point):
    old = _module(tmp_path, "relu", 1.0)
    new = _module(tmp_path, "sigmoid", 2.0)
    out = tmp_path / "o.ir"
    irc.save(old, str(out))
    proc = subprocess.run([sys.executable, "-c", KILLER, point, new.path, str(out)], capture_output=True, text=True)
    if point == "none":
        assert proc.returncode == 0 and "completed" in proc.stdout, proc.stderr
    else:
        assert proc.returncode == -9, (proc.returncode, proc.stderr)
    m = irc.load(str(out))  # the reader completes a committed write before it reads
    act = m.main.ops[-1].kind
    value = float(np.asarray(m.weights.numpy("fc.weight")).ravel()[0])
    assert (act, value) in (("relu", 1.0), ("sigmoid", 2.0)), f"mixed pair after a kill at {point}: {act}, {value}"
    if point in ("after-replace-1", "after-replace-2", "after-replace-3", "before-journal-removal", "none"):
        assert (act, value) == ("sigmoid", 2.0)  # committed: the new pair
    if point in ("mid-weights", "before-replace-1"):
        assert (act, value) == ("relu", 1.0)  # not committed yet: the old pair
    left = [n for n in os.listdir(tmp_path) if n.endswith(".irc-commit")]
    assert not left


def test_a_planted_journal_renames_only_irc_temporaries_of_its_own_files(tmp_path):
    (tmp_path / "secret").write_text("keep")
    (tmp_path / ".o.ir.irc-commit").write_text('[["secret", "o.ir"], ["../x", "y"]]')
    finish_pending_writes(str(tmp_path / "o.ir"))
    assert (tmp_path / "secret").read_text() == "keep" and not (tmp_path / "o.ir").exists()


def test_emitted_files_get_the_umask_permissions_too(tmp_path):
    pytest.importorskip("torch")
    from irc.backend.onnx import emit_onnx
    from irc.backend.pytorch import emit_pytorch

    m = _module(tmp_path, "relu", 1.0)
    old = os.umask(0o022)
    try:
        emit_pytorch(m, str(tmp_path / "pt"))
        emit_onnx(m, str(tmp_path / "m.onnx"))
        emit_onnx(m, str(tmp_path / "ext.onnx"), external_data=True)
    finally:
        os.umask(old)
    for path in ("pt/model.py", "pt/model.safetensors", "m.onnx", "ext.onnx", "ext.onnx.data"):
        assert oct(os.stat(tmp_path / path).st_mode & 0o777) == "0o644", path
    assert sorted(os.listdir(tmp_path / "pt")) == ["model.py", "model.safetensors"]
