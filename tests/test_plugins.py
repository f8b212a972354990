"""A format and a runtime added from outside edgecv, through the entry points alone, work end to end:
listed, exported with metadata and a parity check, predicted, and profiled (as a file and as a zoo variant)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EDGECV = str(Path(sys.executable).with_name("edgecv"))
PLUGIN = Path(__file__).parent / "data" / "plugin" / "edgecv_torchscript.py"
FAST = ["--iters", "5", "--min-time", "0", "--warmup", "1"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """A site folder holding the plugin module and its dist-info, as `pip install` would leave them."""
    site = tmp_path_factory.mktemp("site")
    shutil.copy(PLUGIN, site / PLUGIN.name)
    info = site / "edgecv_torchscript-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: edgecv-torchscript\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgecv.exporters]\ntorchscript = edgecv_torchscript:TorchScriptExporter\n\n"
                                           "[edgecv.runtimes]\ntorchscript = edgecv_torchscript:TorchScriptRuntime\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "EDGECV_CACHE": str(site / "cache")}


def _edgecv(args, env):
    return subprocess.run([EDGECV, *args], capture_output=True, text=True, env=env)


def test_a_plugin_format_is_exported_predicted_and_profiled_end_to_end(plugin_env, tmp_path):
    listed = _edgecv(["runtimes", "--json"], plugin_env)
    assert listed.returncode == 0 and "torchscript" in listed.stdout, listed.stderr
    out = tmp_path / "exports"
    export = _edgecv(["export", "mobilenet_v2", "--format", "torchscript", "--imgsz", "32", "--data", "shapes",
                      "--parity-samples", "8", "--out", str(out), "--json"], plugin_env)
    assert export.returncode == 0, export.stderr[-2000:]
    (art,) = json.loads(export.stdout)["artifacts"]
    path = Path(art["path"])
    assert path.name == "mobilenet_v2-32-fp32.torchscript" and art["format"] == "torchscript"
    assert art["parity"]["top1_agreement"] == 100.0 and not art["parity"]["failed"]
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["format"] == "torchscript" and meta["task"] == "classification"

    from edgecv.data import get_dataset

    images = []
    for k, (image, _) in enumerate(get_dataset("shapes", "val", imgsz=32, limit=2)):
        from PIL import Image

        images.append(str(tmp_path / f"{k}.png"))
        Image.fromarray(image).save(images[-1])
    ran = _edgecv(["predict", str(path), *images, "--json"], plugin_env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["runtime"] == "torchscript"

    report = tmp_path / "report"
    ran = _edgecv(["profile", str(out), "mobilenet_v2", "--format", "pytorch,torchscript", "--precision", "fp32",
                   "--imgsz", "32", "--limit", "32", "--out", str(report), *FAST], plugin_env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    rows = json.loads((report / "results.json").read_text())["rows"]
    assert {(r["format"], r["runtime"]) for r in rows} == {("pytorch", "torch"), ("torchscript", "torchscript")}
    assert all(r["status"] == "ok" and r["top1"] is not None for r in rows)
    plugin_rows = [r for r in rows if r["format"] == "torchscript"]
    assert len(plugin_rows) == 2  # the exported file, and the zoo model exported by the profile itself
    assert all(r["accuracy_delta"] == 0 for r in plugin_rows)  # TorchScript computes what PyTorch computes


def test_without_the_plugin_its_files_are_named_not_guessed(tmp_path):
    stray = tmp_path / "m.torchscript"
    stray.write_bytes(b"not a model")
    ran = _edgecv(["profile", str(stray), "--out", str(tmp_path / "o")], dict(os.environ))
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "not a model file edgecv reads" in ran.stderr
