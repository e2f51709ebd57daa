"""irc-opt: run named passes on an .ir file."""

from __future__ import annotations

import sys

from .. import ir
from ..ir.io import used_param_keys
from ..ir.stats import summary
from ..passes import REGISTRY, parse_pipeline, run_passes
from ._cli import info, make_parser, run

EXAMPLE = """\
  irc-opt m.ir --pass infer-shapes,dce -o m2.ir
  irc-opt m.ir --pass 'dce' --print-ir-after-all
  irc-opt --list-passes"""


def list_passes() -> str:
    lines = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        lines.append(f"  {name:<16} {cls.summary}")
        for f in cls.options():
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            lines.append(f"      {{{f.name.replace('_', '-')}={f.default!r}}}  ({kind})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run("irc-opt", _main, argv)


def _main(argv):
    p = make_parser("irc-opt", "Parse, verify and transform irc IR with named passes.", EXAMPLE)
    p.add_argument("input", nargs="?", help="the .ir file to read")
    p.add_argument("-o", "--output", help="write the result here (and its weights beside it); default: stdout")
    p.add_argument("--pass", dest="passes", action="append", default=[], metavar="PIPELINE",
                   help="passes to run: 'a,b' or 'name{option=value}'; may be repeated")
    p.add_argument("--list-passes", action="store_true", help="list the passes with one line of help each")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stdout")
    p.add_argument("--no-verify-each", action="store_true", help="verify only at the end, not after every pass")
    p.add_argument("--strip-locs", action="store_true", help="drop loc(...) source locations from the output")
    p.add_argument("--allow-outside-weights", action="store_true",
                   help="read a weight file that the IR names outside its own folder (refused by default)")
    args = p.parse_args(argv)
    if args.list_passes:
        print(list_passes())
        return 0
    if not args.input:
        p.error("the following arguments are required: input")
    passes = parse_pipeline(args.passes)  # before reading, so a typo costs nothing
    # run_passes verifies before the first pass that needs it
    module = ir.load(args.input, verify_module=False, allow_outside_weights=args.allow_outside_weights)
    run_passes(module, passes, verify_each=not args.no_verify_each,
               print_after_all=sys.stdout if args.print_ir_after_all else None, strip_locs=args.strip_locs)
    if args.no_verify_each or not passes:
        ir.verify(module)
    if args.output:
        ir.save(module, args.output, strip_locs=args.strip_locs)
        info(args, f"irc-opt: wrote {args.output}: {summary(module)}")
    else:
        new = [k for k in used_param_keys(module) if module.weights.in_memory(k)]
        if new:
            raise ir.IrcError(f"the passes made {len(new)} new weight tensors (e.g. '{new[0]}'), which only a "
                              "weight file can hold: give -o OUT.ir to write the IR and its weights")
        if not args.print_ir_after_all:
            sys.stdout.write(ir.print_module(module, strip_locs=args.strip_locs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
