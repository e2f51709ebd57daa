"""Run in the TensorFlow test environment: write .tflite files with TensorFlow's own TFLiteConverter, from
Keras models with seeded random weights and BatchNorm statistics, for irc to import (float32, and float16
weights as the converter's `target_spec.supported_types = [tf.float16]` writes them).

usage: tf_make_tflite.py OUT_DIR
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        else:
            w.assign((rng.standard_normal(w.shape) * 0.2).astype("float32"))
    return model


def cnn():
    layers = keras.layers
    x = inp = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.ReLU(6.0)(y)
    x = layers.Concatenate()([x, layers.Conv2D(8, 1)(y)])
    x = layers.MaxPooling2D(2)(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Conv2D(12, 3, padding="valid", activation="swish")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inp, x, name="tf_cnn")


def mobilenet():
    return keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), alpha=0.35, classes=10)


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, build in (("tf_cnn", cnn), ("tf_mobilenet_v2", mobilenet)):
        model = randomize(build(), seed=len(name))
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        with open(os.path.join(out, f"{name}.tflite"), "wb") as f:
            f.write(converter.convert())
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        with open(os.path.join(out, f"{name}_f16.tflite"), "wb") as f:
            f.write(converter.convert())
        print(name, "written by TensorFlow", tf.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
