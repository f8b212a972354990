"""Make ``tests/data/foreign/support_classifier.tflite``: a tiny (untrained, seeded) Keras image classifier with TFLite
Support metadata written by ``tflite_support.metadata_writers`` -- the metadata TF Lite Model Maker and MediaPipe
Model Maker write (NormalizationOptions mean/std, ImageProperties, a TENSOR_AXIS_LABELS file in the appended zip).

    tf/bin/python scripts/foreign/tflite_support_file.py model OUT_DIR       # needs tensorflow
    tfs/bin/python scripts/foreign/tflite_support_file.py metadata OUT_DIR   # needs tflite-support==0.4.4

The two steps run in two venvs because tflite-support 0.4.4 pins an older flatbuffers than current TensorFlow.
``tests/test_byom.py`` checks that edgecv reads the file's mean/std, size and labels, and that its predictions
equal the ones made with those facts stated by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

LABELS = ["arrow", "circle", "crescent", "cross", "diamond", "heart", "hexagon", "pentagon", "ring", "square",
          "star", "triangle"]
MEAN, STD = 127.5, 127.5  # Model Maker's default: pixels to [-1, 1]


def model(out: Path) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    net = tf.keras.Sequential([tf.keras.Input((32, 32, 3)), layers.Conv2D(8, 3, strides=2, activation="relu"),
                               layers.GlobalAveragePooling2D(), layers.Dense(len(LABELS)), layers.Softmax()])
    (out / "plain.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())


def metadata(out: Path) -> None:
    from tflite_support.metadata_writers import image_classifier, writer_utils

    labels = out / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    writer = image_classifier.MetadataWriter.create_for_inference(
        writer_utils.load_file(str(out / "plain.tflite")), [MEAN], [STD], [str(labels)])
    writer_utils.save_file(writer.populate(), str(out / "support_classifier.tflite"))
    (out / "plain.tflite").unlink()
    labels.unlink()


if __name__ == "__main__":
    step, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    {"model": model, "metadata": metadata}[step](folder)
