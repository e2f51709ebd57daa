"""irc's own mutation fuzzer over IR text: `python tests/fuzz_engine.py --inputs N --seed S` (bench/fuzz.py runs
it for long runs; tests/test_fuzz.py runs a quick one).

Seeds are the golden IR files under tests/ir/ and IR imported from small torch models, each with a weight
store of seeded random tensors. Each input is a seed text with one to three seeded mutations (numbers,
dims, dtypes, op names, deleted/duplicated/swapped lines, nesting, escapes, truncation, ...). The oracle:
every input ends in success or an irc diagnostic (IrcError) within a time bound, in a process whose data
segment is capped; every success prints and parses back to the same text, survives the standard pipeline
(canonicalize, fuse-bn, fold-constants, cse, dce) and runs in the torch executor. Anything else — another
exception, a hang, a failed round trip — is a finding, printed with the input that caused it.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import resource
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PIPELINE = "canonicalize,fuse-bn,fold-constants,cse,dce"
TIME_LIMIT = 5  # seconds per input
DATA_LIMIT = 4 << 30  # bytes of data segment for the fuzzing process

INTERESTING_INTS = ["0", "-1", "1", "2", "3", "7", "255", "256", "65535", "2147483647", "-2147483648",
                    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "100000", "16384",
                    "99999999999999999999999"]
INTERESTING_FLOATS = ["0.0", "-0.0", "1e300", "-1e300", "nan", "inf", "-inf", "1e-45", "65504.0", "3.5"]
DTYPES = ["f16", "bf16", "f32", "f64", "i1", "i8", "i16", "i32", "i64", "u8"]
NUMBER = re.compile(r"(?<![A-Za-z_%@.])[+-]?[0-9]+(?:\.[0-9]*(?:[eE][+-]?[0-9]+)?)?")
TYPE = re.compile(r"tensor<[^>\n]*>")


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


# ----------------------------------------------------------------------------- seeds


def _random_store(module, rng):
    import numpy as np

    from irc.ir import WeightStore
    from irc.ir.dtypes import IR_TO_NP

    store = WeightStore(None)
    for op in module.ops():
        if op.name == "nn.param":
            t = op.result.type
            shape = tuple(d or 2 for d in t.shape)
            if t.dtype in ("f16", "f32", "f64", "bf16"):
                arr = np.asarray(rng.standard_normal(shape), dtype=np.float32 if t.dtype == "bf16" else IR_TO_NP[t.dtype])
                if t.dtype == "bf16":
                    arr = (arr.view(np.uint32) >> 16).astype(np.uint16)
            else:
                arr = np.zeros(shape, IR_TO_NP[t.dtype])
            if op.attrs["key"].endswith("running_var"):
                arr = np.abs(arr) + 0.5
            store.add(op.attrs["key"], arr, t.dtype)
    return store


def golden_seeds(rng):
    import irc

    seeds = []
    for path in sorted(glob.glob(os.path.join(HERE, "ir", "*.ir")) + glob.glob(os.path.join(HERE, "ir", "passes", "*.ir"))):
        text = open(path, encoding="utf-8").read()
        try:
            m = irc.parse(text, "seed.ir", weights=_EmptyStore())
        except irc.IrcError:
            continue
        seeds.append((os.path.relpath(path, HERE), text, _random_store(m, rng)))
    return seeds


class _EmptyStore:
    """Parsing a seed's text only to read its nn.param types: no weight file is opened."""

    path = None
    missing_file = False

    def has(self, key):
        return False


def model_seeds(names=("tinynet", "mlp_attention", "lstm")):
    import torch
    from torch import nn

    import irc
    from irc.frontend.torch import import_model

    torch.manual_seed(0)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from tinynet import TinyNet

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(16)
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))

        def forward(self, x):
            y = self.ln(x)
            x = x + self.attn(y, y, y, need_weights=False)[0]
            return torch.softmax(x + self.mlp(x), dim=-1)

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(6, 8, batch_first=True)
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    models = {"tinynet": (TinyNet(width=8), (3, 16, 16)), "mlp_attention": (Attention(), (5, 16)),
              "lstm": (Recurrent(), (7, 6))}
    seeds = []
    for name in names:
        model, shape = models[name]
        model.eval()
        m = import_model(model, [(shape, "f32")], batch="dynamic")
        seeds.append((name, irc.print(m), m.weights))
    return seeds


# ----------------------------------------------------------------------------- mutations


def _replace_match(text, pattern, rng, make):
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[:m.start()] + make(m.group(0)) + text[m.end():]


def _mutate_number(text, rng):
    def make(old):
        return rng.choice(INTERESTING_FLOATS if "." in old else INTERESTING_INTS) if rng.random() < 0.7 \
            else str(int(float(old)) + rng.choice([-1, 1, 2])) if old.lstrip("+-").replace(".", "").isdigit() else old
    return _replace_match(text, NUMBER, rng, make)


def _mutate_type(text, rng):
    def make(old):
        dims = old[7:-1].split("x")
        kind = rng.randrange(4)
        if kind == 0 and len(dims) > 1:
            dims[rng.randrange(len(dims) - 1)] = rng.choice(["?", "0", "1", "3", "1000000", "9223372036854775807"])
        elif kind == 1:
            dims[-1] = rng.choice(DTYPES)
        elif kind == 2 and len(dims) > 1:
            del dims[rng.randrange(len(dims) - 1)]
        else:
            dims.insert(rng.randrange(len(dims)), rng.choice(["1", "2", "?"]))
        return "tensor<" + "x".join(dims) + ">"
    return _replace_match(text, TYPE, rng, make)


def _mutate_opname(text, rng):
    from irc.ir.ops import OPS

    names = sorted(OPS)
    return _replace_match(text, re.compile(r"nn\.[a-z_0-9]+"), rng, lambda old: rng.choice(names))


def _mutate_lines(text, rng):
    lines = text.split("\n")
    body = [i for i, ln in enumerate(lines) if " = nn." in ln]
    if not body:
        return text
    i, j = rng.choice(body), rng.choice(body)
    kind = rng.randrange(3)
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _mutate_operand(text, rng):
    names = re.findall(r"%[A-Za-z0-9_$.\-]+", text)
    if not names:
        return text
    return _replace_match(text, re.compile(r"(?<=\()%[A-Za-z0-9_$.\-]+|(?<=, )%[A-Za-z0-9_$.\-]+"), rng,
                          lambda old: rng.choice(names))


def _mutate_attr(text, rng):
    values = ["[]", "[[1, 2], [3]]", "\"x\"", "true", "dense<1.0> : tensor<16384x32768xf32>",
              "dense<[1.0, 2.0]> : tensor<3xf32>", "[" * 40 + "1" + "]" * 40, "\"\\q\"", "\"\\u00\"",
              "dense<[300, -1]> : tensor<2xu8>", "1e300", "-9223372036854775808"]
    return _replace_match(text, re.compile(r"(?<= = )[^,}\n]+(?=[,}])"), rng, lambda old: rng.choice(values))


def _mutate_bytes(text, rng):
    pos = rng.randrange(len(text) + 1)
    junk = rng.choice(["\x00", "\\", "\"", "{", "}", "(", ")", "<", ">", "loc(", "%", "@", "\u00e9", "\t", "//"])
    if rng.random() < 0.2:
        return text[:pos]
    return text[:pos] + junk + text[pos:]


MUTATIONS = [_mutate_number, _mutate_number, _mutate_type, _mutate_type, _mutate_opname, _mutate_lines,
             _mutate_operand, _mutate_attr, _mutate_bytes]


def mutate(text, rng):
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATIONS)(text, rng)
    return text


# ----------------------------------------------------------------------------- the oracle


def _inputs(module):
    import torch

    from irc.ir.dtypes import torch_dtype

    g = torch.Generator().manual_seed(0)
    out = []
    for a in module.main.args:
        shape = tuple(a.type.shape)
        if a.type.dtype.startswith(("f", "bf")):
            out.append(torch.randn(shape, generator=g).to(torch_dtype(a.type.dtype)))
        else:
            out.append(torch.zeros(shape, dtype=torch_dtype(a.type.dtype)))
    return out


def _too_big(module, limit=20_000_000, longest=100_000) -> bool:
    """A valid model too large to run within the time bound here: a value of more than `limit` elements, or a
    dimension longer than `longest` (an LSTM over a million steps is valid, and slow by its own nature)."""
    for v in module.main.values():
        n = 1
        for d in v.type.shape:
            n *= 2 if d is None else d
            if d is not None and d > longest:
                return True
        if n > limit:
            return True
    return False


OUTCOMES: dict[str, int] = {}


def _outcome(kind: str) -> None:
    OUTCOMES[kind] = OUTCOMES.get(kind, 0) + 1


def _specialized(text, store):
    """The module with every dynamic dim 1 (types re-inferred), or None when that does not verify: run on
    static shapes, a program the verifier accepts must not fail in torch."""
    import irc

    try:
        m = irc.parse(text.replace("<?x", "<1x").replace("x?x", "x1x").replace("x?x", "x1x"), "fuzz.ir",
                      weights=store)
        irc.run_passes(m, irc.passes.parse_pipeline("infer-shapes"))
        irc.verify(m)
    except irc.IrcError:
        return None
    return m


def check_one(text, store) -> str | None:
    """None when the input ends as the oracle wants; else a description of the finding."""
    import irc
    from irc.backend.pytorch.executor import Executor

    try:
        m = irc.parse(text, "fuzz.ir", weights=store)
    except irc.IrcError:
        _outcome("diagnostic")
        return None
    try:
        irc.verify(m)
    except irc.IrcError:
        # the hand-edit workflow: infer-shapes repairs the types, then the module verifies or says why not
        try:
            irc.run_passes(m, irc.passes.parse_pipeline("infer-shapes"))
        except irc.IrcError:
            _outcome("diagnostic")
            return None
        _outcome("repaired by infer-shapes")
    printed = irc.print(m)
    again = irc.parse(printed, "fuzz.ir", weights=store)
    irc.verify(again)
    if irc.print(again) != printed:
        return "print/parse round trip changed the text"
    try:
        irc.run_passes(again, irc.passes.parse_pipeline(PIPELINE))
    except irc.IrcError:
        _outcome("pass diagnostic")
        return None  # a pass that refuses an input says so; that is a diagnostic
    static = _specialized(irc.print(again), store)
    if static is None:
        _outcome("valid, no static specialisation")
        return None  # which sizes such a program accepts is known only at run time
    if _too_big(static):
        _outcome("valid, too large to run")
        return None  # a valid model too large to run here is not a finding
    try:
        Executor(static)(*_inputs(static))
    except irc.IrcError:
        _outcome("run diagnostic")
        return None
    _outcome("valid, ran")
    return None


def run(n_inputs, seed, with_models=True, out=sys.stdout):
    import irc.passes  # noqa: F401

    rng = random.Random(seed)
    import numpy as np

    nprng = np.random.default_rng(seed)
    seeds = golden_seeds(nprng) + (model_seeds() if with_models else [])
    signal.signal(signal.SIGALRM, _alarm)
    findings, kinds, start = [], {}, time.time()
    for i in range(n_inputs):
        name, text, store = seeds[rng.randrange(len(seeds))]
        mutated = mutate(text, rng)
        signal.alarm(TIME_LIMIT)
        try:
            problem = check_one(mutated, store)
        except Timeout:
            problem = f"no answer within {TIME_LIMIT} s"
        except MemoryError:
            problem = "MemoryError (data segment capped)"
        except Exception as e:  # noqa: BLE001  (every other exception is what the fuzzer looks for)
            tb = traceback.extract_tb(e.__traceback__)[-1]
            problem = f"{type(e).__name__}: {str(e)[:200]} at {os.path.basename(tb.filename)}:{tb.lineno}"
        finally:
            signal.alarm(0)
        if problem:
            key = problem.split(" at ")[-1] if " at " in problem else problem[:80]
            kinds[key] = kinds.get(key, 0) + 1
            findings.append({"input": i, "seed": name, "problem": problem, "text": mutated[:4000]})
    summary = {"inputs": n_inputs, "seed": seed, "findings": len(findings), "signatures": kinds,
               "outcomes": dict(OUTCOMES),
               "seconds": round(time.time() - start, 1), "first": findings[:20]}
    json.dump(summary, out)
    out.write("\n")
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-models", action="store_true", help="only the golden IR files as seeds")
    args = p.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))
    summary = run(args.inputs, args.seed, not args.no_models)
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
