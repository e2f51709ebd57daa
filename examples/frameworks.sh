#!/usr/bin/env bash
# The bundled example through every framework irc writes, each checked in that framework's own runtime,
# and back: each framework file imported again, emitted as PyTorch and checked against the framework file.
#   bash examples/frameworks.sh [OUT]     (needs pip install -e '.[test]': Keras, LiteRT, ncnn, coremltools)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/irc-frameworks}
mkdir -p "$out"
export KERAS_BACKEND=${KERAS_BACKEND:-torch}
step() { printf '\n$ %s\n' "$*"; "$@"; }
src=("$out/tinynet.pth" --arch "$here/tinynet.py:TinyNet")

step python "$here/tinynet.py" "$out/tinynet.pth"
step irc-import "${src[@]}" --shape 3,64,64 --batch dynamic -o "$out/tinynet.ir" --quiet
step irc-opt "$out/tinynet.ir" --pass canonicalize,fuse-bn,fold-constants,cse,dce -o "$out/tinynet.opt.ir" --quiet

# torch -> IR -> each framework, checked in its runtime (channel-last targets get transposed inputs)
step irc-emit "$out/tinynet.opt.ir" --target keras -o "$out/keras"
step irc-check "${src[@]}" --keras "$out/keras"
step irc-emit "$out/tinynet.opt.ir" --target tflite -o "$out/tinynet.tflite"
step irc-check "${src[@]}" --tflite "$out/tinynet.tflite"
step irc-emit "$out/tinynet.opt.ir" --target tflite --weights f16 -o "$out/tinynet_f16.tflite"
step irc-check "${src[@]}" --tflite "$out/tinynet_f16.tflite"
step irc-emit "$out/tinynet.opt.ir" --target ncnn -o "$out/ncnn"
step irc-check "${src[@]}" --ncnn "$out/ncnn"
# CoreML: static shapes only; nothing runs CoreML on Linux, so irc-check reads the package back (see README)
step irc-import "${src[@]}" --shape 3,64,64 -o "$out/tinynet_b1.ir" --quiet
step irc-emit "$out/tinynet_b1.ir" --target coreml -o "$out/tinynet.mlpackage"
step irc-check "${src[@]}" --coreml "$out/tinynet.mlpackage"

# and back: each framework file -> IR -> PyTorch, checked against that file in its own runtime
step irc-import "$out/keras/model.keras" -o "$out/from_keras.ir" --quiet
step irc-opt "$out/from_keras.ir" --pass nhwc-to-nchw,canonicalize,fuse-bn,fold-constants,cse,dce -o "$out/from_keras.opt.ir" --quiet
step irc-emit "$out/from_keras.opt.ir" --target pytorch -o "$out/from_keras_pt" --quiet
step irc-check "$out/keras/model.keras" --emitted "$out/from_keras_pt"
step irc-import "$out/tinynet.tflite" -o "$out/from_tflite.ir" --quiet
step irc-check "$out/tinynet.tflite" --ir "$out/from_tflite.ir"
