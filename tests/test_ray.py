"""``edgecv profile --executor ray``: cells as tasks on a real (in-process, multi-node) Ray cluster."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

FAST = {"iters": 3, "warmup": 1, "min_time_s": 0.0, "threads": 1, "limit": 32,
        "runtime": "torch,onnxruntime,litert"}  # pinned: OpenVINO, when installed, also opens .onnx (test_openvino.py)


def _files(zoo_artifacts, folder: Path, *keys) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key in keys:
        shutil.copy(zoo_artifacts[key].path, folder)
    return folder


def _fake_device(folder: Path) -> str:
    """A device profile only one node advertises; ``local = true``: that node is the device (a board that is itself
    a Ray worker), so its cells run there as on a host."""
    path = folder / "fake.toml"
    path.write_text('name = "fake"\ndescription = "a board that is its own Ray worker"\nlocal = true\ndetect = true\n')
    return str(path)


# -- without a cluster -----------------------------------------------------------------------------------------

def test_what_a_cell_asks_of_a_node_and_why_none_can_run_it(tmp_path):
    from edgecv.profiler.matrix import Cell
    from edgecv.profiler.ray_executor import demand, fits, unmet

    host = Cell("m", "onnx", "fp32", "onnxruntime", "cpu", "host", 32, 1, "m.onnx")
    board = Cell("m", "onnx", "fp32", "onnxruntime", "cpu", _fake_device(tmp_path), 32, 1, "m.onnx")
    assert demand(host, 2) == {"CPU": 2.0} and demand(board, 2) == {"device:fake": 1.0}
    nodes = [{"resources": {"CPU": 1.0}}, {"resources": {"CPU": 4.0, "device:rpi5": 1.0}}]
    assert fits({"CPU": 2.0}, nodes) and not fits({"CPU": 8.0}, nodes) and not fits({"device:fake": 1.0}, nodes)
    assert "offers device:fake" in unmet({"device:fake": 1.0}) and "8 CPUs" in unmet({"CPU": 8.0})


def test_the_executor_options_fail_in_one_line(tmp_path, monkeypatch):
    import sys

    from click.testing import CliRunner

    from edgecv.cli import cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["profile", "x.onnx", "--ray-address", "auto", "--out", str(tmp_path / "p")])
    assert bad.exit_code == 2 and "--ray-address needs --executor ray" in bad.output
    bad = runner.invoke(cli, ["profile", "x.onnx", "--executor", "dask", "--out", str(tmp_path / "p")])
    assert bad.exit_code == 2 and "dask" in bad.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    bad = runner.invoke(cli, ["profile", "x.onnx", "--executor", "ray", "--out", str(tmp_path / "p")])
    assert bad.exit_code != 0 and "pip install 'edgecv[ray]'" in bad.output and "Traceback" not in bad.output


# -- on a cluster ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """Three nodes of one CPU each; the second advertises device:fake."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    small = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
    c = Cluster(initialize_head=True, head_node_args=small)
    fake = c.add_node(**small, resources={"device:fake": 1})
    spare = c.add_node(**small)
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    c.wait_for_nodes()
    yield c, fake, spare
    ray.shutdown()
    c.shutdown()


def test_cells_spread_over_nodes_devices_land_where_offered_and_match_a_local_run(cluster, zoo_artifacts, tmp_path):
    import edgecv

    c, fake, _ = cluster
    files = _files(zoo_artifacts, tmp_path / "files", ("mobilenet_v2", "onnx", "fp32"), ("mobilenet_v2", "onnx", "int8"),
                   ("mobilenet_v2", "tflite", "int8"))
    device = _fake_device(tmp_path)
    remote = edgecv.profile([str(files)], device=f"host,{device},rpi4", out=tmp_path / "ray", executor="ray",
                            log=lambda m: None, **FAST)
    rows = remote["rows"]
    host = [r for r in rows if r["device"] == "host"]
    assert len(host) == 3, rows
    assert all(r["status"] == "ok" for r in host), [r.get("error") for r in host]
    assert len({r["node"]["ray_node_id"] for r in host}) >= 2  # one CPU per node: the cells spread
    assert all(r["target"].startswith(str(files)) for r in rows)  # the driver's paths, not the workers' copies
    fake_rows = [r for r in rows if r["device"] == device]
    assert fake_rows and all(r["node"]["ray_node_id"] == fake.node_id for r in fake_rows)
    assert all(r["status"] == "ok" for r in fake_rows), [r.get("error") for r in fake_rows]
    nobody = [r for r in rows if r["device"] == "rpi4"]  # no node offers device:rpi4: failed at once
    assert nobody and all("offers device:rpi4" in r["error"] and "node" not in r for r in nobody)
    local = edgecv.profile([str(files)], out=tmp_path / "local", log=lambda m: None, **FAST)
    accuracy = {(r["format"], r["precision"]): r["top1"] for r in local["rows"]}
    assert accuracy == {(r["format"], r["precision"]): r["top1"] for r in host}  # the same numbers as here
    assert all(r["node"] == {"hostname": host[0]["node"]["hostname"]} for r in local["rows"])
    saved = [json.loads(line) for line in (tmp_path / "ray" / "rows.jsonl").read_text().splitlines()]
    assert len(saved) == len(rows) and "node" in (tmp_path / "ray" / "results.csv").read_text().splitlines()[0]

    from click.testing import CliRunner

    from edgecv.cli import cli

    runner = CliRunner()  # edgecv check re-profiles a baseline's matrix on the cluster, and it passes
    (tmp_path / "local.json").write_text(json.dumps(local))
    gate = runner.invoke(cli, ["check", "--baseline", str(tmp_path / "local.json"), "--executor", "ray",
                               "--out", str(tmp_path / "check")])
    assert gate.exit_code == 0, gate.output
    checked = [json.loads(line) for line in (tmp_path / "check" / "rows.jsonl").read_text().splitlines()]
    assert len(checked) == 3 and all(r["node"].get("ray_node_id") for r in checked)
    listed = runner.invoke(cli, ["devices", "--ray-address", c.address, "--json"])
    assert listed.exit_code == 0, listed.output
    nodes = json.loads(listed.output)["nodes"]
    assert len(nodes) >= 3 and [n["devices"] for n in nodes if n["ray_node_id"] == fake.node_id] == [["fake"]]


@pytest.mark.slow
def test_an_interrupted_ray_profile_resumes_with_what_is_missing(cluster, zoo_artifacts, tmp_path):
    import edgecv

    files = _files(zoo_artifacts, tmp_path / "files", ("mobilenet_v2", "onnx", "fp32"), ("mobilenet_v2", "onnx", "int8"),
                   ("mobilenet_v2", "tflite", "fp32"), ("mobilenet_v2", "tflite", "int8"))

    def stop(row, k, n):
        raise KeyboardInterrupt  # Ctrl-C after the first row

    with pytest.raises(KeyboardInterrupt):
        edgecv.profile([str(files)], out=tmp_path / "p", executor="ray", on_row=stop, log=lambda m: None, **FAST)
    kept = (tmp_path / "p" / "rows.jsonl").read_text().splitlines()
    assert len(kept) == 1  # the finished row is saved; the cancelled ones are not
    measured = []
    report = edgecv.profile([str(files)], out=tmp_path / "p", executor="ray", log=lambda m: None,
                            on_start=lambda n, runtimes: measured.append(n), **FAST)
    assert measured == [3] and all(r["status"] == "ok" for r in report["rows"]) and len(report["rows"]) == 4


@pytest.mark.slow
def test_a_node_removed_mid_run_has_its_cell_retried_elsewhere(cluster, zoo_artifacts, tmp_path):
    """Four cells of 15 s on three one-CPU nodes: one runs on the spare node when it is removed, 8 s in."""
    import edgecv

    c, _, spare = cluster
    gone = spare.node_id
    files = _files(zoo_artifacts, tmp_path / "files", ("mobilenet_v2", "onnx", "fp32"), ("mobilenet_v2", "onnx", "int8"),
                   ("mobilenet_v2", "tflite", "fp32"), ("mobilenet_v2", "tflite", "int8"))
    timer = threading.Timer(8.0, c.remove_node, args=(spare,))
    timer.start()
    try:
        report = edgecv.profile([str(files)], out=tmp_path / "p", executor="ray", log=lambda m: None,
                                **{**FAST, "min_time_s": 15.0})
    finally:
        timer.join()
    rows = report["rows"]
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert all(r["node"]["ray_node_id"] != gone for r in rows)  # its cell finished on another node
