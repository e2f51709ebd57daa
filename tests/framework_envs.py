"""Frameworks that cannot be installed next to the test environment's own packages run in an environment of
their own, made by the test that needs it and cached between runs (never skipped: a failure to build one fails
the test with pip's message).

`env_python(name)` returns the python of environment `name` (see ENVS), building it the first time under
$IRC_TEST_ENVS (default ~/.cache/irc-test-envs), one directory per requirement set, with a lock so that
concurrent test processes build it once. `run_script(name, script, *args)` runs `tests/envs/<script>` in it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))


def _keras() -> str:
    return f"keras=={version('keras')}"  # the Keras the test environment writes files with


# name -> (requirements, environment variables for scripts run in it)
ENVS = {
    # TensorFlow 2.21 next to torch 2.14's test environment would pull its own protobuf/ml_dtypes pins
    "tensorflow": (lambda: ["tensorflow-cpu==2.21.0", _keras(), "h5py"], {"KERAS_BACKEND": "tensorflow"}),
    # MXNet 1.9.1 imports only with numpy 1.23.5
    "mxnet": (lambda: ["mxnet==1.9.1", "numpy==1.23.5"], {}),
}


def env_dir(name: str) -> str:
    reqs = ENVS[name][0]()
    tag = hashlib.sha1(" ".join(reqs + [sys.version.split()[0]]).encode()).hexdigest()[:10]
    root = os.environ.get("IRC_TEST_ENVS", os.path.join(os.path.expanduser("~"), ".cache", "irc-test-envs"))
    return os.path.join(root, f"{name}-{tag}")


def env_python(name: str) -> str:
    """The python of environment `name`, built (once, under a lock) if missing."""
    path = env_dir(name)
    python = os.path.join(path, "bin", "python")
    done = os.path.join(path, ".irc-env-ready")
    if os.path.exists(done):
        return python
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(done):
            _build(path, ENVS[name][0]())
            with open(done, "w") as f:
                f.write("\n".join(ENVS[name][0]()) + "\n")
    return python


def _build(path: str, reqs: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", path], check=True, capture_output=True)
    proc = subprocess.run([os.path.join(path, "bin", "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", *reqs], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"building the test environment {path} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def run_script(name: str, script: str, *args: str, timeout: int = 900) -> str:
    """Run tests/envs/SCRIPT with ARGS in environment `name`; its stdout, or an AssertionError with its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(ENVS[name][1])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run([env_python(name), os.path.join(HERE, "envs", script), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{script} failed in the {name} environment:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout
