"""OpenVINO as a runtime (ONNX files and IR) and as an export format (IR fp32/fp16, NNCF int8)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import edgecv
from edgecv.artifact import read_metadata
from edgecv.portable.metadata import is_openvino_ir, openvino_rt_info

openvino = pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def ir_artifacts(tmp_path_factory):
    """MobileNetV2 at 64 px as OpenVINO IR at fp32, fp16 and int8 (parity-checked against PyTorch), and its ONNX fp32."""
    out = tmp_path_factory.mktemp("ir")
    arts = edgecv.export("mobilenet_v2", "openvino,onnx", "fp32,fp16,int8", data="shapes", imgsz=64, out=out,
                         calib_samples=64, parity_samples=32, threads=2)
    return {(a.format, a.precision): a for a in arts}


# --- the IR's metadata, read without openvino ---------------------------------------------------------------

def test_an_ir_is_told_from_other_xml_and_its_metadata_read_with_the_standard_library(ir_artifacts):
    art = ir_artifacts[("openvino", "fp32")]
    data = art.path.read_bytes()
    assert is_openvino_ir(data[:512]) and not is_openvino_ir(b'<?xml version="1.0"?>\n<testsuites>')
    meta = json.loads(openvino_rt_info(data)["edgecv"])
    assert meta["format"] == "openvino" and meta["precision"] == "fp32" and meta["model"] == "mobilenet_v2"
    assert read_metadata(art.path)["inputs"][0]["name"] == "input"


@pytest.mark.parametrize("text, why", [
    (b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY a "aaaa">]><net>&a;</net>', "DTD"),
    (b'<?xml version="1.0"?><testsuites/>', "not an OpenVINO IR"),
    (b"<net><rt_info>", "not well-formed"),
])
def test_hostile_or_foreign_xml_is_refused_in_one_line(tmp_path, text, why):
    path = tmp_path / "m.xml"
    path.write_bytes(text)
    (tmp_path / "m.bin").write_bytes(b"")
    with pytest.raises(edgecv.UsageError, match=why):
        read_metadata(path)
    out = subprocess.run([sys.executable, "-m", "edgecv", "eval", str(path)], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr and why.split()[0] in out.stderr


def test_a_folder_scan_takes_irs_and_leaves_other_xml(ir_artifacts, tmp_path):
    from edgecv.profiler.matrix import expand_files

    folder = tmp_path / "f"
    folder.mkdir()
    for suffix in (".xml", ".bin"):
        src = ir_artifacts[("openvino", "fp32")].path.with_suffix(suffix)
        (folder / ("m" + suffix)).write_bytes(src.read_bytes())
    (folder / "junit.xml").write_text('<?xml version="1.0"?><testsuites/>')
    assert [p.name for p in expand_files(str(folder))] == ["m.xml"]


# --- export ---------------------------------------------------------------------------------------------------

def test_ir_exports_are_one_artifact_with_weights_beside_parity_checked(ir_artifacts):
    sizes = {}
    for precision in ("fp32", "fp16", "int8"):
        art = ir_artifacts[("openvino", precision)]
        weights = art.path.with_suffix(".bin")
        assert art.path.suffix == ".xml" and weights.is_file()
        assert art.size_bytes == art.path.stat().st_size + weights.stat().st_size  # the size is the model's
        assert art.parity and not art.parity["failed"], art.parity
        sizes[precision] = weights.stat().st_size
    # fp16 halves the weights; int8 (NNCF) quarters those it quantizes
    assert sizes["fp16"] < 0.6 * sizes["fp32"] and sizes["int8"] < 0.45 * sizes["fp32"]
    meta = ir_artifacts[("openvino", "int8")].metadata
    assert meta["calibration"]["images"] == 64 and meta["outputs"][0]["role"] == "logits"


def test_ir_int8_keeps_accuracy_and_the_onnx_and_ir_files_agree(ir_artifacts):
    from edgecv.scoring import score

    fp32 = score(edgecv.load(ir_artifacts[("onnx", "fp32")].path), "shapes", 200)["top1"]
    for precision in ("fp32", "fp16", "int8"):
        top1 = score(edgecv.load(ir_artifacts[("openvino", precision)].path), "shapes", 200)["top1"]
        assert top1 >= fp32 - (2.0 if precision == "int8" else 0.5), (precision, top1, fp32)


# --- the runtime ------------------------------------------------------------------------------------------------

def test_openvino_runs_the_onnx_file_as_onnxruntime_does_and_says_how_it_computed(ir_artifacts):
    onnx_file = ir_artifacts[("onnx", "fp32")].path
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    ort = edgecv.load(onnx_file).run(x)["logits"]
    with edgecv.load(onnx_file, runtime="openvino", threads=1) as ov:
        assert ov.runtime == "openvino" and [o.name for o in ov.outputs] == ["logits"]
        ex = ov.execution
        assert ex["device"] == "CPU" and ex["hint"] == "latency" and ex["streams"] == 1
        assert ex["precision"] in ("fp32", "bf16")  # bf16 only on CPUs with AMX / AVX-512 BF16
        assert ov.model.compiled.get_property("INFERENCE_NUM_THREADS") == 1
        got = ov.run(x)["logits"]
    tolerance = 0.05 if ex["precision"] == "bf16" else 1e-3
    assert np.abs(got - ort).max() <= tolerance * max(1.0, np.abs(ort).max())
    ir = edgecv.load(ir_artifacts[("openvino", "fp32")].path)  # an .xml opens on openvino by default
    assert ir.runtime == "openvino" and np.allclose(ir.run(x)["logits"], got, atol=1e-3)


def test_options_that_do_not_exist_or_do_not_fit_are_refused(ir_artifacts, tmp_path):
    path = ir_artifacts[("openvino", "fp32")].path
    with pytest.raises(edgecv.UsageError, match="hint must be one of latency, throughput"):
        edgecv.load(path, hint="fast")
    with pytest.raises(edgecv.UsageError, match="no provider 'tpu'"):
        edgecv.load(path, provider="tpu")
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(edgecv.UsageError, match="lonely.bin are not beside it"):
        edgecv.load(lonely)


def test_the_throughput_hint_measures_requests_in_flight(ir_artifacts):
    with edgecv.load(ir_artifacts[("openvino", "int8")].path, hint="throughput") as s:
        feeds = s.prepare(np.zeros((1, 3, 64, 64), np.float32))
        assert s.execution["hint"] == "throughput" and s.execution["requests"] >= 1
        ips = s.throughput(feeds, 0.3)
    assert ips is not None and ips > 0
    with edgecv.load(ir_artifacts[("openvino", "int8")].path) as s:  # the latency hint leaves img/s to the p50
        assert s.throughput(s.prepare(np.zeros((1, 3, 64, 64), np.float32)), 0.1) is None


def test_importing_openvino_through_edgecv_sends_no_telemetry_and_writes_nothing_home(tmp_path):
    """openvino's converter module sends a usage event on import and creates ~/intel; edgecv's import does not."""
    code = ("import sys; from edgecv.portable.engines import import_openvino; import_openvino(); "
            "import nncf; print(sys.modules.get('openvino_telemetry'))")
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("CI", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None" and not (tmp_path / "intel").exists()


# --- profile ----------------------------------------------------------------------------------------------------

def test_profile_runs_onnx_files_on_openvino_too_and_records_the_execution(ir_artifacts, tmp_path):
    onnx_file = ir_artifacts[("onnx", "int8")].path
    report = edgecv.profile([str(onnx_file), str(ir_artifacts[("openvino", "int8")].path)], out=tmp_path / "p",
                            iters=5, warmup=1, min_time_s=0.05, limit=20, threads=1)
    rows = {(r["format"], r["runtime"]): r for r in report["rows"]}
    assert set(rows) == {("onnx", "onnxruntime"), ("onnx", "openvino"), ("openvino", "openvino")}
    for key in (("onnx", "openvino"), ("openvino", "openvino")):
        row = rows[key]
        assert row["status"] == "ok" and row["top1"] is not None and row["execution"]["hint"] == "latency"
    assert "execution" not in rows[("onnx", "onnxruntime")]
    md = (tmp_path / "p" / "report.md").read_text()
    assert "| openvino |" in md


def test_profile_hint_throughput_is_recorded_and_labelled(ir_artifacts, tmp_path):
    from edgecv.profiler.table import report_rows, table_rows

    report = edgecv.profile([str(ir_artifacts[("openvino", "fp32")].path)], out=tmp_path / "p", iters=3, warmup=1,
                            min_time_s=0.05, limit=10, threads=2, hint="throughput")
    assert report["matrix"]["hint"] == "throughput"
    _, body = table_rows(report_rows(report))
    assert body[0][3] == "openvino (throughput)"
    bad = subprocess.run([sys.executable, "-m", "edgecv", "profile", "--hint", "fast"], capture_output=True, text=True)
    assert bad.returncode == 2 and "'fast' is not one of 'latency', 'throughput'" in bad.stderr


def test_a_baseline_with_an_unknown_hint_is_refused():
    from edgecv.profiler.spec import ProfileSpec

    with pytest.raises(edgecv.UsageError, match="matrix.hint must be latency or throughput"):
        ProfileSpec.from_dict({"targets": ["mobilenet_v2"], "hint": "fast"}, "b.json")


def test_a_bf16_computed_row_says_so_and_gets_no_efficiency_against_the_fp32_peak():
    from edgecv.profiler.peak import efficiency
    from edgecv.profiler.row import Row
    from edgecv.profiler.table import precision_text

    row = Row("m", "onnx", "fp32", "openvino", "cpu", "host", 224, 1, status="ok", macs=300_000_000,
              latency_ms={"p50": 2.0}, execution={"precision": "bf16", "hint": "latency"})
    peak = {"fp32_gmacs": 100.0, "int8_gmacs": 200.0}
    assert precision_text(row) == "fp32 (bf16 compute)" and efficiency(row, peak) is None
    row.execution["precision"] = "fp32"
    assert precision_text(row) == "fp32" and efficiency(row, peak) == pytest.approx(1.5)


def test_int8_that_is_not_faster_than_fp32_says_so_and_names_the_faster_choice():
    from edgecv.profiler.row import Row
    from edgecv.profiler.run import _derive

    def row(fmt, precision, runtime, p50, top1):
        return Row("efficientnet_b0", fmt, precision, runtime, "cpu", "host", 224, 1, status="ok", top1=top1,
                   latency_ms={"p50": p50})

    rows = [row("pytorch", "fp32", "torch", 20.0, 90.0), row("onnx", "fp32", "onnxruntime", 5.75, 90.0),
            row("onnx", "int8", "onnxruntime", 6.10, 89.8), row("tflite", "fp32", "litert", 6.22, 90.0),
            row("tflite", "int8", "litert", 3.52, 89.7)]
    _derive(rows)
    slow, fast = rows[2], rows[4]
    assert slow.notes == ["int8 does not pay on onnxruntime here: onnx int8 6.10 ms against fp32 5.75 ms (1.06x); "
                          "fastest within a point here: tflite int8 on litert, 3.52 ms"]
    assert fast.notes == []
    _derive(rows)  # derived again (a resumed run): said once
    assert len(slow.notes) == 1


# --- the device script ------------------------------------------------------------------------------------------

def test_the_device_script_runs_an_ir_as_the_host_does(ir_artifacts, tmp_path):
    """openvino is an engine of edgecv_device.pyz too: an IR (with its .bin) predicts there as on the host."""
    from PIL import Image

    from edgecv.data import get_dataset
    from edgecv.devices.script import write_device_script
    from edgecv.predict import predict

    ds = get_dataset("shapes", "val", imgsz=64, limit=2)
    images = []
    for i in range(2):
        Image.fromarray(ds[i][0]).save(tmp_path / f"{i}.png")
        images.append(str(tmp_path / f"{i}.png"))
    script = write_device_script(tmp_path / "edgecv_device.pyz")
    art = ir_artifacts[("openvino", "int8")]
    out = subprocess.run([sys.executable, "-I", str(script), "predict", str(art.path), *images, "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"] == predict(str(art.path), images)["results"]


def test_max_drop_on_openvino_is_refused_before_any_work_naming_what_works(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edgecv", "export", "mobilenet_v2", "--format", "openvino",
                          "--precision", "int8", "--max-drop", "0.01", "--out", str(tmp_path / "e")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not openvino" in out.stderr and "--runtime openvino" in out.stderr
    assert not (tmp_path / "e").exists()
