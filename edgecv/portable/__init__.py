"""The on-device core of edgecv: everything a board needs to run an edgecv artifact, in numpy and the
standard library only.

    python3 edgecv_device.pyz predict model.tflite photo.png [more images or folders] [--json]
    python3 edgecv_device.pyz info model.onnx
    python3 edgecv_device.pyz bench model.tflite --iters 50 --json
    python3 edgecv_device.pyz serve model.tflite     # framed requests on stdin (edgecv over SSH/qemu)

One module per job: ``metadata`` (read the contract from the file), ``image`` (decode), ``preprocess``,
``postprocess`` (top-k, NMS, the Pipeline), ``engines`` (onnxruntime / LiteRT and I/O quantization),
``shapes`` (the input-shape rule, synthetic inputs), ``timing``, ``environment``, ``protocol`` (serve),
``cli``. The host imports these same functions, so host and board cannot drift; ``edgecv device-script``
packs this package into the one-file zipapp a board runs (``edgecv.devices.script``).

Nothing here may import from the rest of edgecv (an import-linter contract checks it).
"""
