"""Parse + verify throughput of the text IR, against json.loads of the same information.

    python bench/parse.py [--sizes 1000,10000,100000]

Generates a conv/bn/relu/add network of N ops (types and locations written, as irc-import
writes them), with a real weight file of small tensors, then times irc.parse + irc.verify and
json.loads of a JSON document holding the same ops. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import irc
from irc.ir import WeightStore

C, HW = 4, 8


def generate(n_ops: int):
    """IR text with about n_ops ops, its JSON twin, and the weight tensors it needs."""
    t = f"tensor<?x{C}x{HW}x{HW}xf32>"
    lines = ["module @bench {weights = \"bench.safetensors\"} {", f"  func @forward(%x: {t}) -> {t} {{"]
    ops, weights = [], {}
    prev, count, block = "x", 0, 0
    while count < n_ops:
        p = f"layer{block // 8}.{block % 8}"
        w = f"{p}.conv.weight"
        weights[w] = (C, C, 3, 3)
        body = [
            (f"{w}", "nn.param", [], {"key": w}, f"tensor<{C}x{C}x3x3xf32>"),
            (f"{p}.conv", "nn.conv2d", [prev, w], {"dilation": [1, 1], "groups": 1, "padding": [[1, 1], [1, 1]],
                                                    "stride": [1, 1]}, t),
        ]
        for s in ("weight", "bias", "running_mean", "running_var"):
            weights[f"{p}.bn.{s}"] = (C,)
            body.append((f"{p}.bn.{s}", "nn.param", [], {"key": f"{p}.bn.{s}"}, f"tensor<{C}xf32>"))
        body += [
            (f"{p}.bn", "nn.batch_norm", [f"{p}.conv"] + [f"{p}.bn.{s}" for s in ("weight", "bias", "running_mean",
                                                                                   "running_var")],
             {"epsilon": 1e-05}, t),
            (f"{p}.relu", "nn.relu", [f"{p}.bn"], {}, t),
            (f"{p}.add", "nn.add", [f"{p}.relu", prev], {}, t),
        ]
        for name, op, operands, attrs, ty in body:
            loc = ("model.py", 100 + count % 50, 8)
            ops.append({"results": [name], "op": op, "operands": operands, "attrs": attrs, "types": [ty], "loc": loc})
            count += 1
        prev = f"{p}.add"
        block += 1
    from irc.ir.printer import _attr_dict

    for o in ops:
        args = ", ".join("%" + a for a in o["operands"])
        lines.append(f"    %{o['results'][0]} = {o['op']}({args}){_attr_dict(o['attrs'])} : {o['types'][0]} "
                     f"loc(\"{o['loc'][0]}\":{o['loc'][1]}:{o['loc'][2]})")
    lines += [f"    return %{prev} : {t}", "  }", "}", ""]
    doc = {"module": "bench", "weights": "bench.safetensors", "args": [["x", t]], "ops": ops, "return": [prev]}
    return "\n".join(lines), json.dumps(doc), weights


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="irc-bench-")
    rows = []
    for n in sizes:
        text, js, weights = generate(n)
        store = WeightStore(None)
        for k, shape in weights.items():
            store.add(k, np.zeros(shape, np.float32))
        store.save(os.path.join(tmp, "bench.safetensors"), weights)
        path = os.path.join(tmp, "bench.ir")
        with open(path, "w") as f:
            f.write(text)
        n_ops = text.count(" = nn.")
        irc.parse(text, path)  # warm the grammar cache

        def parse_verify(text=text, path=path):
            m = irc.parse(text, path)
            irc.verify(m)

        repeat = 3 if n <= 10000 else 1
        t_irc = best_of(parse_verify, repeat)
        t_parse = best_of(lambda text=text, path=path: irc.parse(text, path), repeat)
        t_json = best_of(lambda js=js: json.loads(js), repeat)
        mb = len(text.encode()) / 1e6
        rows.append((n_ops, mb, t_parse, t_irc, t_json, len(js.encode()) / 1e6))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'ops':>8} {'MB':>7} {'parse s':>8} {'parse+verify s':>15} {'ops/s':>9} {'MB/s':>6} {'us/op':>6} "
          f"{'json.loads s':>12} {'ratio vs json':>13}")
    for n_ops, mb, tp, tv, tj, _json_mb in rows:
        print(f"{n_ops:>8} {mb:>7.2f} {tp:>8.3f} {tv:>15.3f} {n_ops / tv:>9.0f} {mb / tv:>6.2f} "
              f"{tv / n_ops * 1e6:>6.1f} {tj:>12.4f} {tv / tj:>12.1f}x")
    print("(ratio: irc parse+verify time / json.loads time of a JSON file with the same ops, "
          f"{rows[-1][5]:.2f} MB for the largest)")


if __name__ == "__main__":
    main()
