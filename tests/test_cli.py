"""The edgecv command line as a user meets it: help, version, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgecv
from edgecv.cli import cli

EDGECV = str(Path(sys.executable).with_name("edgecv"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and edgecv.__version__ in result.output


@pytest.mark.parametrize("command", [[], ["models"]] + [[name] for name in cli.commands])
def test_help_on_every_command(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output


def test_models_table_lists_the_zoo():
    result = run("models")
    assert result.exit_code == 0
    for name in ("mobilenet_v2", "efficientnet_lite0", "yolo_n", "lenet5"):
        assert name in result.output
    assert "3.50M" in result.output  # mobilenet_v2 params


def test_models_json_schema():
    result = run("models", "--json", "--task", "detection")
    assert result.exit_code == 0
    rows = json.loads(result.output)["models"]
    assert [r["name"] for r in rows] == ["yolo_n", "yolo_s"]
    for row in rows:
        assert {"name", "task", "params", "macs", "input_size"} <= set(row)
        assert row["task"] == "detection" and row["input_size"] == 640 and row["params"] > 0
    all_rows = json.loads(run("models", "--json").output)["models"]
    assert len(all_rows) == len(edgecv.list_models())


def test_one_model_card():
    result = run("models", "efficientnet_b0")
    assert result.exit_code == 0
    assert "5,288,548" in result.output and "77.692" in result.output and "bicubic" in result.output
    card = json.loads(run("models", "efficientnet_b0", "--json").output)
    assert card["preprocess"]["resize_size"] == 256 and card["reference"]["top5"] == 93.532


def test_unknown_model_is_a_usage_error_in_one_line():
    result = run("models", "mobilenet_v22")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "edgecv: error: unknown model 'mobilenet_v22'; did you mean mobilenet_v2, mobilenet_v1, mobilenet_v2_140?"
    ]


def test_bad_option_value_exits_2():
    assert run("models", "--task", "pose").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_real_entry_point_and_debug_traceback():
    ok = subprocess.run([EDGECV, "models", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["models"]
    bad = subprocess.run([EDGECV, "models", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    debug = subprocess.run([EDGECV, "--debug", "models", "nope"], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "UsageError" in debug.stderr


def test_help_does_not_import_torch():
    code = "import sys; from edgecv.cli import cli; import edgecv; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("args, message", [
    (["eval", "lenet5"], "lenet5 has no default weights: pass --weights FILE"),
    (["eval", "missing.safetensors"], "checkpoint not found: missing.safetensors"),
    (["eval", "mobilenet_v2", "--data", "shapes-det"], "mobilenet_v2 is a classification model but shapes-det"),
    (["train", "lenet5", "--data", "digits", "--epochs", "0"], "Invalid value for '--epochs'"),
])
def test_eval_and_train_usage_errors(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


def test_the_device_script_is_written_by_the_cli_and_runs_alone(tmp_path):
    written = subprocess.run([EDGECV, "devices", "--script", str(tmp_path)], capture_output=True, text=True)
    assert written.returncode == 0 and "edgecv_device.pyz" in written.stderr
    alone = subprocess.run([sys.executable, "-I", str(tmp_path / "edgecv_device.pyz"), "--help"], capture_output=True,
                           text=True)
    assert alone.returncode == 0 and "predict" in alone.stdout
    here = subprocess.run([sys.executable, "-m", "edgecv.portable", "--help"], capture_output=True, text=True)
    assert here.returncode == 0 and here.stdout == alone.stdout
