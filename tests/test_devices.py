"""Device profiles, the standalone device script, the emulated Raspberry Pi and the SSH path."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import edgecv
from edgecv.devices import get_device
from edgecv.devices.script import write_device_script
from edgecv.errors import EdgecvError, UsageError
from edgecv.models.yolo_ops import nms as torch_nms
from edgecv.portable.image import _read_without_pillow
from edgecv.portable.postprocess import nms as numpy_nms

EDGECV = str(Path(sys.executable).with_name("edgecv"))
can_emulate = pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("unshare") is None,
                                 reason="Pi emulation is set up for x86_64 hosts with util-linux's unshare")
# x86 without VNNI computes onnxruntime's uint8 x int8 products in saturating 16-bit sums; ARM does not. There,
# and only there, plain int8 ONNX outputs of the host and a board differ (docs/runtimes.md gives by how much;
# measured with benchmarks/int8_isa_parity.py, an AVX2 CPU emulated by qemu-x86_64 against the emulated Pi).
# --reduce-range (7-bit weights) cannot saturate: its integer outputs are the board's on every x86 CPU.
SATURATES = get_device("host").int8_saturates


def _saturated(fmt: str, precision: str, reduced: bool = False) -> bool:
    """Whether this host's int8 arithmetic for the file is not the board's."""
    return SATURATES and fmt == "onnx" and precision == "int8" and not reduced


@pytest.fixture(scope="session")
def reduced_artifacts(tmp_path_factory):
    """MobileNetV2 and yolo_n int8 ONNX exported with --reduce-range (7-bit weights): no x86 saturation."""
    out = tmp_path_factory.mktemp("reduced")
    arts = {}
    for model, data in (("mobilenet_v2", "shapes"), ("yolo_n", "shapes-det")):
        (art,) = edgecv.export(model, "onnx", "int8", data=data, imgsz=64, out=out, calib_samples=128,
                               parity_samples=0, threads=2, reduce_range=True)
        assert art.metadata["calibration"]["reduce_range"] is True
        arts[model] = art
    return arts


def test_devices_lists_host_rpi4_rpi5_with_their_facts():
    out = subprocess.run([EDGECV, "devices", "--json"], capture_output=True, text=True, check=True)
    devices = {d["name"]: d for d in json.loads(out.stdout)["devices"]}
    assert {"host", "rpi4", "rpi5"} <= set(devices)
    assert devices["host"]["reach"] == "local" and devices["host"]["cores"] >= 1 and devices["host"]["arch"]
    assert devices["rpi4"]["cpu"] == "Cortex-A72" and devices["rpi4"]["emulated"] is True
    assert devices["rpi5"]["emulation"]["qemu_cpu"] == "cortex-a76" and "dotprod" in devices["rpi5"]["isa"]


def test_user_profiles_come_from_edgecv_devices_and_bad_ones_fail_in_one_line(tmp_path):
    (tmp_path / "jetson.toml").write_text('name = "jetson"\narch = "aarch64"\ncores = 6\n[ssh]\nhost = "me@jetson"\n')
    env = {**os.environ, "EDGECV_DEVICES": str(tmp_path)}
    out = subprocess.run([EDGECV, "devices", "--json"], env=env, capture_output=True, text=True, check=True)
    jetson = next(d for d in json.loads(out.stdout)["devices"] if d["name"] == "jetson")
    assert jetson["reach"] == "ssh" and jetson["emulated"] is False
    (tmp_path / "broken.toml").write_text('name = "x"\ncolour = "red"\n')
    bad = subprocess.run([EDGECV, "devices"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "unknown device profile keys colour" in bad.stderr
    with pytest.raises(UsageError, match="unknown device 'nope'"):
        get_device("nope")


def test_numpy_nms_in_the_device_script_equals_the_evaluators_nms():
    rng = np.random.default_rng(0)
    for _ in range(5):
        xy = rng.uniform(0, 100, (300, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2)).astype(np.float32)], 1)
        scores = rng.uniform(0, 1, (300, 6)).astype(np.float32) ** 4
        ours = numpy_nms(boxes, scores, 0.25, 0.45, 300)
        theirs = torch_nms(torch.from_numpy(boxes[None]), torch.from_numpy(scores[None]), 0.25, 0.45, 300)[0].numpy()
        assert ours.shape == theirs.shape and np.allclose(ours, theirs)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_the_scripts_png_reader_without_pillow_equals_pillow(tmp_path, mode):
    from edgecv.data.base import read_image

    rng = np.random.default_rng(1)
    smooth = np.cumsum(rng.integers(0, 9, (37, 53, 4)), axis=1).astype(np.uint8)  # makes PNG pick every filter
    image = Image.fromarray(smooth, "RGBA").convert(mode)
    path = tmp_path / f"x-{mode}.png"
    image.save(path)
    assert np.array_equal(_read_without_pillow(path), read_image(path))
    (tmp_path / "x.ppm").write_bytes(b"P6\n# c\n3 2\n255\n" + bytes(range(18)))
    assert _read_without_pillow(tmp_path / "x.ppm").reshape(-1).tolist() == list(range(18))


def _png_with_every_filter(pixels: np.ndarray) -> bytes:
    """An RGB PNG whose rows cycle through filter types 0-4 (None, Sub, Up, Average, Paeth)."""
    import struct
    import zlib

    h, w, c = pixels.shape
    img = pixels.astype(np.int32).reshape(h, w * c)
    rows = []
    for y in range(h):
        kind, line = y % 5, img[y]
        prev = img[y - 1] if y else np.zeros_like(line)
        left = np.concatenate([np.zeros(c, np.int32), line[:-c]])
        up_left = np.concatenate([np.zeros(c, np.int32), prev[:-c]])
        if kind == 4:
            p = left + prev - up_left
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - up_left)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, up_left))
        else:
            pred = [np.zeros_like(line), left, prev, (left + prev) >> 1][kind]
        rows.append(bytes([kind]) + ((line - pred) & 0xFF).astype(np.uint8).tobytes())

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def test_the_png_reader_undoes_every_png_filter(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (23, 17, 3)).astype(np.uint8)
    path = tmp_path / "filters.png"
    path.write_bytes(_png_with_every_filter(pixels))
    assert np.array_equal(np.asarray(Image.open(path)), pixels)  # Pillow agrees the file is what we meant
    assert np.array_equal(_read_without_pillow(path), pixels)


def _images(tmp_path: Path, data: str, size: int, n: int = 3) -> list[str]:
    from edgecv.data import get_dataset

    ds = get_dataset(data, "val", imgsz=size, limit=n)
    paths = []
    for i in range(n):
        path = tmp_path / f"{data}-{i}.png"
        Image.fromarray(ds[i][0]).save(path)
        paths.append(str(path))
    return paths


def test_predict_prints_classes_and_boxes_and_survives_a_corrupt_image(zoo_artifacts, tmp_path):
    cls = _images(tmp_path, "shapes", 64)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    art = zoo_artifacts[("mobilenet_v2", "tflite", "int8")]
    out = subprocess.run([EDGECV, "predict", str(art.path), *cls, str(tmp_path / "corrupt.png"), "--top", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot read image" in out.stderr and "corrupt.png" in out.stderr and out.stdout.count("shapes-") == 3
    det = subprocess.run([EDGECV, "predict", str(zoo_artifacts[("yolo_n", "onnx", "fp32")].path),
                          *_images(tmp_path, "shapes-det", 64, 1), "--json"], capture_output=True, text=True)
    report = json.loads(det.stdout)
    assert report["task"] == "detection" and all(len(p["box"]) == 4 for p in report["results"][0]["predictions"])
    wrong = subprocess.run([EDGECV, "predict", str(tmp_path / "corrupt.png"), cls[0]], capture_output=True, text=True)
    assert wrong.returncode == 2 and "no runtime opens corrupt.png" in wrong.stderr


def test_predict_with_the_torch_runtime_matches_the_fp32_artifact(zoo_artifacts, tmp_path):
    images = _images(tmp_path, "shapes", 64, 2)
    art = zoo_artifacts[("mobilenet_v2", "onnx", "fp32")]
    from edgecv.predict import predict

    a = predict("mobilenet_v2", images, top=3, imgsz=64)
    b = predict(str(art.path), images, top=3)
    assert [[p["label"] for p in r["predictions"]] for r in a["results"]] == \
           [[p["label"] for p in r["predictions"]] for r in b["results"]]


def test_the_device_script_runs_standalone_with_numpy_and_a_runtime(zoo_artifacts, tmp_path):
    """Copied out of the package and run with python -I, it needs nothing of edgecv's."""
    script = write_device_script(tmp_path / "edgecv_device.pyz")
    images = _images(tmp_path, "shapes", 64, 2)
    art = zoo_artifacts[("mobilenet_v2", "onnx", "int8")]
    out = subprocess.run([sys.executable, "-I", str(script), "predict", str(art.path), *images, "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    from edgecv.predict import predict

    ours = predict(str(art.path), images)
    assert json.loads(out.stdout)["results"] == ours["results"]
    bad = subprocess.run([sys.executable, "-I", str(script), "predict", str(tmp_path / "nope.onnx"), images[0]],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("edgecv_device: error: model file not found")


# --- emulated Raspberry Pi ---------------------------------------------------------------------------------

@can_emulate
def test_emulated_rpi4_gives_the_hosts_outputs_for_every_artifact(zoo_artifacts, reduced_artifacts):
    """The real aarch64 onnxruntime and LiteRT under qemu (Cortex-A72) against the same x86 builds."""
    rng = np.random.default_rng(0)
    cases = [(key, art, False) for key, art in sorted(zoo_artifacts.items())]
    cases += [((model, "onnx", "int8"), art, True) for model, art in sorted(reduced_artifacts.items())]
    for (model, fmt, precision), art, reduced in cases:
        shape = [2 if d is None else d for d in art.metadata["inputs"][0]["shape"]]
        x = rng.standard_normal(shape).astype(np.float32)
        host = edgecv.load(art.path).run(x)
        with edgecv.load(art.path, device="rpi4") as pi:
            assert pi.emulated and pi.device == "rpi4" and pi.environment["machine"] == "aarch64"
            assert pi.environment["cpu"].startswith("Raspberry Pi 4")
            out = pi.run(x)
        for name in host:
            scale = float(np.abs(host[name]).max()) or 1.0
            error = np.abs(host[name] - out[name])
            case = (model, fmt, precision, reduced, name, float(error.max() / scale))
            if _saturated(fmt, precision, reduced):
                # measured on an (emulated) AVX2 CPU with these random inputs: mean 0.034, max 0.12 of the range
                # for MobileNetV2; the reduce-range files below are held to 1e-6 on the same host
                assert error.mean() / scale < 0.1, case
            elif precision == "int8":  # integer arithmetic on both sides: identical but the float box decoding
                assert error.max() / scale < 1e-6, case
            else:  # fp32 differs by float summation order only
                assert error.max() / scale < 1e-4, case


@can_emulate
@pytest.mark.parametrize("model, fmt, reduced", [("mobilenet_v2", "tflite", False), ("yolo_n", "onnx", False),
                                                 ("yolo_n", "onnx", True)])
def test_emulated_rpi4_scores_the_same_accuracy_as_the_host(zoo_artifacts, reduced_artifacts, model, fmt, reduced):
    from edgecv.evaluate import evaluate_artifact

    art = reduced_artifacts[model] if reduced else zoo_artifacts[(model, fmt, "int8")]
    limit = 48 if model == "mobilenet_v2" else 16
    host = evaluate_artifact(str(art.path), limit=limit)
    pi = evaluate_artifact(str(art.path), device="rpi4", limit=limit)
    assert pi["emulated"] is True and host["emulated"] is False
    if not SATURATES or fmt == "tflite":
        assert pi["metrics"] == host["metrics"]
    else:  # AVX2 without VNNI, measured on the whole val split: plain int8 moved yolo_n's mAP50-95 by 0.38 points,
        # reduce-range by 0.04 (float rounding in the box decoding); a real host/board bug costs tens of points
        allowed = 3.0 if _saturated(fmt, "int8", reduced) else 0.25
        for name, value in host["metrics"].items():
            assert abs(pi["metrics"][name] - value) <= (0 if name == "images" else allowed), (name, pi["metrics"])


@can_emulate
def test_the_device_script_predicts_inside_the_emulated_pi_without_pillow_or_edgecv(zoo_artifacts, reduced_artifacts,
                                                                                    tmp_path):
    from edgecv.devices.emulation import Emulator
    from edgecv.predict import predict

    emulator = Emulator()
    emulator.ensure()
    assert not list(emulator.site.glob("PIL*")) and not list(emulator.site.glob("edgecv*"))
    # the ONNX detector with 7-bit weights: the same int8 arithmetic on every CPU, VNNI or not
    for art, data in ((zoo_artifacts[("mobilenet_v2", "tflite", "int8")], "shapes"),
                      (reduced_artifacts["yolo_n"], "shapes-det")):
        images = _images(tmp_path, data, 64, 2)
        cmd = emulator.command(get_device("rpi4"), ["predict", str(art.path), *images, "--json"])
        out = subprocess.run(cmd, env=emulator.env(), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        report = json.loads(out.stdout)
        assert report["environment"]["machine"] == "aarch64"
        host = predict(str(art.path), images)
        for mine, theirs in zip(report["results"], host["results"]):
            assert [p["label"] for p in mine["predictions"]] == [p["label"] for p in theirs["predictions"]]
            assert np.allclose([p["score"] for p in mine["predictions"]], [p["score"] for p in theirs["predictions"]],
                               atol=1e-4)


@can_emulate
def test_eval_and_predict_on_rpi4_from_the_command_line(zoo_artifacts, tmp_path):
    art = zoo_artifacts[("mobilenet_v2", "tflite", "int8")]
    out = subprocess.run([EDGECV, "eval", str(art.path), "--device", "rpi4", "--limit", "8", "--json"],
                         capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert result["device"] == "rpi4" and result["emulated"] is True and result["metrics"]["images"] == 8
    pred = subprocess.run([EDGECV, "predict", str(art.path), *_images(tmp_path, "shapes", 64, 1), "--device", "rpi4"],
                          capture_output=True, text=True)
    assert pred.returncode == 0 and "rpi4 (emulated)" in pred.stderr and "says nothing about the board" in pred.stderr
    torch_on_pi = subprocess.run([EDGECV, "predict", "mobilenet_v2", str(tmp_path / "shapes-0.png"), "--device", "rpi4"],
                                 capture_output=True, text=True)
    assert torch_on_pi.returncode == 2 and "runs on this machine only" in torch_on_pi.stderr


# --- a board over SSH (an sshd the test starts on 127.0.0.1) -----------------------------------------------

def test_a_board_over_ssh_runs_the_pushed_artifact_and_reports_device_timings(zoo_artifacts, sshd, tmp_path):
    profile, keys, port = sshd
    art = zoo_artifacts[("mobilenet_v2", "tflite", "int8")]
    x = np.random.default_rng(0).standard_normal((3, 64, 64, 3)).astype(np.float32)
    with edgecv.load(art.path, device=str(profile)) as board:
        assert board.device == "board" and board.emulated is False
        out = board.run(x)
        assert board.last_infer_ms > 0 and len(board.bench(1, 3)) == 3
    assert np.array_equal(out["logits"], edgecv.load(art.path).run(x)["logits"])  # the ONNX file's names too
    pushed = sorted(p.name for p in (tmp_path / "remote").iterdir())
    assert any(n.endswith(art.path.name) for n in pushed) and any(n.startswith("edgecv_device-") for n in pushed)
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "remote").iterdir()}
    edgecv.load(art.path, device=str(profile)).close()  # content-named: nothing is pushed twice
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "remote").iterdir()} == stamp


def test_ssh_refuses_an_unknown_host_key(zoo_artifacts, sshd):
    profile, keys, port = sshd
    other = keys / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{port} {other.with_suffix('.pub').read_text()}")
    with pytest.raises(EdgecvError, match="ssh to .*127.0.0.1 failed: .*[Hh]ost key verification failed"):
        edgecv.load(zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path, device=str(profile))


def test_a_device_that_stops_answering_is_stopped_and_reported(tmp_path):
    """A fake device prints nothing and sleeps: the session gives up after its timeout, in one line."""
    from edgecv.runtimes.remote import RemoteSession

    start = time.perf_counter()
    with pytest.raises(EdgecvError, match=r"fake board: no reply within 1 s during start"):
        RemoteSession([sys.executable, "-c", "import time; time.sleep(60)"], None, "fake board", timeout_s=1)
    assert time.perf_counter() - start < 10


def test_the_device_script_names_an_x86_cpu_by_model_name_and_a_pi_by_model(monkeypatch):
    from edgecv.portable import environment as edgecv_device

    monkeypatch.setattr(edgecv_device, "cpuinfo", lambda: {"model": "1", "model name": "AMD EPYC"})
    assert edgecv_device.cpu_model() == "AMD EPYC"  # x86 lists a family number under "model" first
    monkeypatch.setattr(edgecv_device, "cpuinfo", lambda: {"model": "Raspberry Pi 4 Model B Rev 1.5"})
    assert edgecv_device.cpu_model().startswith("Raspberry Pi 4")


def test_only_x86_without_vnni_is_said_to_saturate_int8():
    from edgecv.devices import Device

    assert Device("a", arch="x86_64", isa=["avx2", "fma"]).int8_saturates
    assert not Device("b", arch="x86_64", isa=["avx2", "avx512-vnni"]).int8_saturates
    assert not Device("c", arch="x86_64", isa=["avx2", "avx-vnni"]).int8_saturates
    assert not Device("d", arch="aarch64", isa=["neon"]).int8_saturates


def _unsigned(zoo_artifacts, tmp_path) -> Path:
    from helpers import strip_tflite_tables

    path = tmp_path / "unsigned.tflite"  # no SignatureDef and no edgecv metadata: a file from another tool
    src = zoo_artifacts[("mobilenet_v2", "tflite", "int8")].path
    path.write_bytes(strip_tflite_tables(src.read_bytes(), metadata=True))
    return path


@can_emulate
def test_a_tflite_without_signature_runs_on_the_emulated_pi(zoo_artifacts, tmp_path):
    path = _unsigned(zoo_artifacts, tmp_path)
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32)
    host = edgecv.load(path).run(x)
    with edgecv.load(path, device="rpi4") as pi:
        assert pi.inputs[0].shape == (1, 64, 64, 3)  # from the interpreter's details
        out = pi.run(x)
    assert out.keys() == host.keys() and all(np.array_equal(out[k], host[k]) for k in host)


def test_a_tflite_without_signature_runs_on_a_board_over_ssh(zoo_artifacts, sshd, tmp_path):
    profile, _, _ = sshd
    path = _unsigned(zoo_artifacts, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    with edgecv.load(path, device=str(profile)) as board:
        out = board.run(x)
    host = edgecv.load(path).run(x)
    assert out.keys() == host.keys() and all(np.array_equal(out[k], host[k]) for k in host)


def test_the_device_script_is_the_portable_package_reproducibly_and_imports_only_numpy_and_runtimes(tmp_path):
    """The zipapp a board runs is built from edgecv/portable (what the host imports), byte for byte the same
    every time (its digest names the copy pushed to a board), and needs nothing beyond numpy, a runtime and
    optionally Pillow: checked on the package's own imports, so a new host-only import fails here."""
    import ast
    import zipfile

    from edgecv.devices.script import PORTABLE, device_script, script_digest

    a = write_device_script(tmp_path / "a.pyz").read_bytes()
    device_script.cache_clear()
    assert device_script() == a and len(script_digest()) == 16
    with zipfile.ZipFile(tmp_path / "a.pyz") as zf:
        names = sorted(zf.namelist())
    assert names == ["__main__.py", *sorted(f"edgecv_portable/{p.name}" for p in PORTABLE.glob("*.py"))]
    # Pillow and scipy are optional: imported where present (PNG decoding, the tracker's Hungarian), else numpy's
    allowed = set(sys.stdlib_module_names) | {"numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "openvino", "PIL",
                                             "scipy"}
    for path in PORTABLE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed, f"{path.name} imports {roots}: a board has only numpy and a runtime"
