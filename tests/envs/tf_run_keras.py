"""Run in the TensorFlow test environment (KERAS_BACKEND=tensorflow): for every case directory under ROOT
(holding model.keras and inputs.npz), load the .keras file, run it on the inputs, export it as a SavedModel,
load that with TensorFlow alone and run it again; write both outputs to the case's outputs.npz.

usage: tf_run_keras.py ROOT
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf


def run_case(case):
    model = keras.saving.load_model(os.path.join(case, "model.keras"))
    data = np.load(os.path.join(case, "inputs.npz"))
    inputs = [data[f"x{i}"] for i in range(len(data.files))]
    direct = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    direct = direct if isinstance(direct, (list, tuple)) else [direct]
    saved_dir = os.path.join(case, "saved_model")
    model.export(saved_dir, format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(saved_dir)
    served = loaded.serve(*[tf.constant(x) for x in inputs])
    served = served if isinstance(served, (list, tuple)) else [served]
    out = {f"keras{i}": np.asarray(t) for i, t in enumerate(direct)}
    out.update({f"saved{i}": np.asarray(t) for i, t in enumerate(served)})
    np.savez(os.path.join(case, "outputs.npz"), **out)
    return len(direct)


def main(root):
    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    for name in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
        n = run_case(os.path.join(root, name))
        print(f"{name}: {n} outputs (tensorflow {tf.__version__}, keras {keras.__version__})")


if __name__ == "__main__":
    main(sys.argv[1])
