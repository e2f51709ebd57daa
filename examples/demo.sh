#!/usr/bin/env bash
# The main job end to end on the bundled example: import -> optimise -> emit (PyTorch, ONNX) -> check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/irc-demo}
mkdir -p "$out"
step() { printf '\n$ %s\n' "$*"; "$@"; }

step python "$here/tinynet.py" "$out/tinynet.pth"
step irc-import "$out/tinynet.pth" --arch "$here/tinynet.py:TinyNet" --shape 3,64,64 --batch dynamic -o "$out/tinynet.ir"
step irc-opt "$out/tinynet.ir" --pass canonicalize,fuse-bn,fold-constants,cse,dce -o "$out/tinynet.opt.ir"
step irc-emit "$out/tinynet.opt.ir" --target pytorch -o "$out/tinynet_pt"
step irc-check "$out/tinynet.pth" --arch "$here/tinynet.py:TinyNet" --ir "$out/tinynet.ir"
step irc-check "$out/tinynet.pth" --arch "$here/tinynet.py:TinyNet" --emitted "$out/tinynet_pt"
step irc-emit "$out/tinynet.opt.ir" --target onnx -o "$out/tinynet.onnx"
step irc-check "$out/tinynet.pth" --arch "$here/tinynet.py:TinyNet" --onnx "$out/tinynet.onnx"
printf '\nThe optimised IR is %s; the emitted model is %s/model.py; the ONNX file is %s\n' \
  "$out/tinynet.opt.ir" "$out/tinynet_pt" "$out/tinynet.onnx"
