"""Make real Keras -> TFLite files and the TFLite interpreter's own top-1 of them (run in a venv with tensorflow):

    python scripts/foreign/keras_files.py IMAGEFOLDER OUT [--epochs 15] [--size 64]

A small Keras CNN (``Rescaling(1/255)`` inside, so it takes raw 0-255 RGB pixels, NHWC) is trained on
IMAGEFOLDER/train, converted to ``keras-fp32.tflite`` and to ``keras-int8.tflite`` (full integer, uint8 input and
output, calibrated on training images), and each is scored on IMAGEFOLDER/val by ``tf.lite.Interpreter`` with the
model's own preprocessing (the images as they are, already ``size`` square). ``OUT/keras.json`` holds the numbers;
``tests/test_foreign.py`` scores the same files with edgecv and ``--preprocess keras.edgecv.yaml``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    load = dict(image_size=(args.size, args.size), batch_size=64, label_mode="int", shuffle=False)
    train = tf.keras.utils.image_dataset_from_directory(args.folder / "train", **{**load, "shuffle": True, "seed": 0})
    val = tf.keras.utils.image_dataset_from_directory(args.folder / "val", **load)
    classes = train.class_names
    layers = tf.keras.layers

    def conv(filters: int) -> list:
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(),
                layers.ReLU()]

    model = tf.keras.Sequential([
        tf.keras.Input((args.size, args.size, 3)), layers.Rescaling(1 / 255),
        *conv(32), layers.MaxPooling2D(), *conv(64), layers.MaxPooling2D(), *conv(96), layers.MaxPooling2D(),
        *conv(128), layers.GlobalAveragePooling2D(),
        layers.Dense(len(classes)),
    ])
    model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(train, epochs=args.epochs, verbose=2)
    args.out.mkdir(parents=True, exist_ok=True)
    fp32 = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[None].numpy()] for x, _ in train.unbatch().take(200))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    int8 = conv.convert()
    images = np.concatenate([x.numpy() for x, _ in val])
    labels = np.concatenate([y.numpy() for _, y in val])
    results = {"keras_top1": round(100 * float(model.evaluate(val, verbose=0)[1]), 2), "classes": classes}
    for name, blob in (("keras-fp32", fp32), ("keras-int8", int8)):
        path = args.out / f"{name}.tflite"
        path.write_bytes(blob)
        interp = tf.lite.Interpreter(model_path=str(path))
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        hits = 0
        for image, label in zip(images, labels):
            x = image[None]
            if inp["dtype"] == np.uint8:
                scale, zero = inp["quantization"]
                x = np.clip(np.round(x / scale + zero), 0, 255)
            interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
            interp.invoke()
            hits += int(np.argmax(interp.get_tensor(out["index"])[0]) == label)
        results[name] = {"file": path.name, "top1": round(100 * hits / len(labels), 2), "images": int(len(labels))}
        print(name, results[name])
    (args.out / "keras.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
