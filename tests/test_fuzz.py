"""The quick run of irc's own fuzzer (tests/fuzz_engine.py): 1,000 seeded mutations of the golden IR and of
IR imported from small models, each ending in success or a diagnostic, within 5 s and a capped data segment.
`python bench/fuzz.py --inputs 100000` is the long run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_a_thousand_mutated_inputs_end_in_success_or_a_diagnostic():
    proc = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_engine.py"), "--inputs", "1000", "--seed", "1"],
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["inputs"] == 1000
    report = "\n".join(f"{f['seed']}: {f['problem']}\n{f['text'][:1500]}" for f in summary["first"][:5])
    assert summary["findings"] == 0, f"{summary['signatures']}\n{report}"
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_oracle_can_fail():
    """An input the verifier accepts but that fails to run is a finding: the check is not vacuous."""
    sys.path.insert(0, HERE)
    import fuzz_engine

    import irc

    text = ("module @m {\n  func @forward(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {\n"
            "    %y = nn.relu(%x) : tensor<2x3xf32>\n    return %y : tensor<2x3xf32>\n  }\n}\n")
    assert fuzz_engine.check_one(text, None) is None
    real = irc.print
    calls = []

    def broken(module, **kw):  # a printer that is not canonical: each print ends differently
        calls.append(1)
        return real(module, **kw) + f"// print {len(calls)}\n"
    try:
        irc.print = broken
        assert fuzz_engine.check_one(text, None) == "print/parse round trip changed the text"
    finally:
        irc.print = real
