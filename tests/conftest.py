import torch

torch.set_num_threads(2)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def zoo_artifacts(tmp_path_factory):
    """MobileNetV2 (64 px) and yolo_n (64 px) exported to ONNX and TFLite at fp32 and int8, once per run."""
    import edgecv

    out = tmp_path_factory.mktemp("zoo_artifacts")
    arts = {}
    for model, data, size in (("mobilenet_v2", "shapes", 64), ("yolo_n", "shapes-det", 64)):
        for a in edgecv.export(model, "onnx,tflite", "fp32,int8", data=data, imgsz=size, out=out, calib_samples=128,
                               parity_samples=0, threads=2):
            arts[(model, a.format, a.precision)] = a
    return arts
