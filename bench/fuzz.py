"""Long runs of irc's fuzzer (the engine is tests/fuzz_engine.py; tests/test_fuzz.py runs 1,000 inputs).

    python bench/fuzz.py --inputs 100000 [--seed 0] [--jobs 2]

Each job fuzzes its own seed range in its own process (data segment capped, 5 s per input) and prints a JSON
summary line; this script adds them up: inputs, findings by signature, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ENGINE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fuzz_engine.py")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--chunk", type=int, default=5000, help="inputs per engine process")
    args = p.parse_args()
    start = time.time()
    chunks = [(args.seed + i, min(args.chunk, args.inputs - i * args.chunk))
              for i in range((args.inputs + args.chunk - 1) // args.chunk)]
    total = {"inputs": 0, "findings": 0, "signatures": {}, "first": []}
    running = []
    while chunks or running:
        while chunks and len(running) < args.jobs:
            seed, n = chunks.pop(0)
            running.append(subprocess.Popen([sys.executable, ENGINE, "--inputs", str(n), "--seed", str(seed)],
                                            stdout=subprocess.PIPE, text=True))
        proc = running.pop(0)
        out, _ = proc.communicate()
        lines = out.strip().splitlines()
        if not lines:
            total["findings"] += 1
            total["signatures"]["engine process died"] = total["signatures"].get("engine process died", 0) + 1
            continue
        s = json.loads(lines[-1])
        total["inputs"] += s["inputs"]
        total["findings"] += s["findings"]
        for k, v in s["signatures"].items():
            total["signatures"][k] = total["signatures"].get(k, 0) + v
        total["first"] += s["first"][:3]
        print(f"seed {s['seed']}: {s['inputs']} inputs, {s['findings']} findings, {s['seconds']} s", flush=True)
    print(f"total: {total['inputs']} inputs, {total['findings']} findings in {time.time() - start:.0f} s")
    for k, v in sorted(total["signatures"].items(), key=lambda kv: -kv[1]):
        print(f"  {v:6d}  {k}")
    for f in total["first"][:10]:
        print(f"--- {f['seed']}: {f['problem']}\n{f['text'][:800]}")
    return 1 if total["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
