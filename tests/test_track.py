"""Tracking: the numpy tracker (Kalman + Hungarian), ``shapes-track``, TrackEval scores and ``edgecv track``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecv.portable.tracker import Tracker, hungarian, hungarian_numpy

EDGECV = str(Path(sys.executable).with_name("edgecv"))


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (3, 7), (7, 3), (20, 20), (0, 3)])
def test_the_numpy_hungarian_finds_scipys_optimum(shape):
    scipy = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for _ in range(30):
        cost = rng.random(shape)
        want = scipy.linear_sum_assignment(cost)
        rows, cols = hungarian_numpy(cost)
        assert len(rows) == min(shape) and len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
        assert cost[rows, cols].sum() == pytest.approx(cost[want].sum())
    assert [list(a) for a in hungarian(np.array([[5.0, 1.0], [1.0, 5.0]]))] == [[0, 1], [1, 0]]


def _box(x, y, size=20.0):
    return [x, y, x + size, y + size]


def test_two_shapes_crossing_keep_their_identities():
    tracker = Tracker()
    for f in range(40):  # one moves right, one left, crossing at frame ~15 with 6 px of vertical offset
        tracker.update(np.array([_box(10 + 4 * f, 50), _box(130 - 4 * f, 56)]), np.ones(2), np.zeros(2))
    first = {int(r[0]): r[1] for r in tracker.update(np.array([_box(170, 50), _box(-30, 56)]), np.ones(2), np.zeros(2))}
    assert len(first) == 2 and first[1] > first[2]  # track 1 (started on the left) is now on the right
    assert tracker.next_id == 3  # no track was ever started again


def test_births_wait_for_min_hits_and_deaths_come_after_max_age():
    tracker = Tracker(min_hits=3, max_age=2)
    for _ in range(5):
        tracker.update(np.array([_box(10, 10)]), np.ones(1), np.zeros(1))  # the first frames report at once
    shown = []
    for _ in range(4):  # a newcomer: reported from its third frame in a row
        out = tracker.update(np.array([_box(10, 10), _box(100, 100)]), np.ones(2), np.zeros(2))
        shown.append(sorted(int(i) for i in out[:, 0]))
    assert shown == [[1], [1], [1, 2], [1, 2]]
    for _ in range(3):  # both vanish for longer than max_age
        assert len(tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0))) == 0
    out = tracker.update(np.array([_box(10, 10)]), np.ones(1), np.zeros(1))
    assert len(tracker.ids) == 1 and int(tracker.ids[0]) == 3 and len(out) == 0  # a new, tentative track


def test_a_track_survives_a_short_occlusion_on_its_predicted_path():
    tracker = Tracker(max_age=5)
    for f in range(10):
        tracker.update(np.array([_box(5 * f, 40)]), np.ones(1), np.zeros(1))
    for _ in range(3):  # hidden for three frames
        tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    out = tracker.update(np.array([_box(5 * 13, 40)]), np.ones(1), np.zeros(1))
    assert [int(i) for i in out[:, 0]] == [1]


def test_shapes_track_is_deterministic_and_keeps_identities():
    from edgecv.data.shapes_track import ShapesTrack

    data = ShapesTrack("val", size=64, frames=12)
    a, b = data[1], data[1]
    assert len(a) == 12 and all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    ids = [set(f.ids.tolist()) for f in a]
    assert all(ids) and set.union(*ids) <= set(range(1, 9))
    for f in a:
        assert f.image.shape == (64, 64, 3) and len(f.ids) == len(f.boxes) == len(f.classes)
        assert (f.boxes >= 0).all() and (f.boxes <= 64).all() and (f.boxes[:, 2:] > f.boxes[:, :2]).all()
    moved = [np.abs(a[0].boxes[k] - a[-1].boxes[list(a[-1].ids).index(i)]).sum() for k, i in enumerate(a[0].ids)
             if i in a[-1].ids]
    assert moved and max(moved) > 2  # the shapes move


def test_trackeval_scores_perfect_and_switched_tracks():
    pytest.importorskip("trackeval")
    from edgecv.metrics.tracking import frame_data, tracking_scores

    boxes = np.array([_box(0, 0), _box(50, 50)], float)
    perfect = [frame_data([1, 2], boxes, [7, 8], boxes) for _ in range(6)]
    s = tracking_scores([perfect])
    assert s["mota"] == 100 and s["idf1"] == 100 and s["id_switches"] == 0 and s["gt_boxes"] == 12
    switched = perfect[:3] + [frame_data([1, 2], boxes, [8, 7], boxes) for _ in range(3)]
    s = tracking_scores([switched])
    assert s["id_switches"] == 2 and s["mota"] == pytest.approx(100 * (1 - 2 / 12), abs=1e-3) and s["idf1"] == 50


def _track(args):
    ran = subprocess.run([EDGECV, "track", *map(str, args)], capture_output=True, text=True)
    return ran.returncode, ran.stdout + ran.stderr


def test_edgecv_track_on_the_builtin_sequences_and_on_frames_with_mot_ground_truth(zoo_artifacts, tmp_path):
    pytest.importorskip("trackeval")
    from PIL import Image

    from edgecv.data.shapes_track import ShapesTrack

    detector = zoo_artifacts[("yolo_n", "onnx", "fp32")].path  # 64 px
    code, out = _track([detector, "--data", "shapes-track", "--sequences", "1", "--out", tmp_path / "builtin"])
    assert code == 0, out
    report = json.loads((tmp_path / "builtin" / "track.json").read_text())
    scores, timing = report["scores"], report["timing"]
    assert scores["gt_boxes"] > 100 and -100 < scores["mota"] <= 100 and 0 <= scores["idf1"] <= 100
    assert timing["frames"] == 60 and timing["tracker_ms"] > 0 and 0 < timing["tracker_share"] < 1
    lines = (tmp_path / "builtin" / "shapes-track-00.txt").read_text().splitlines()
    for line in lines:
        frame, ident, left, top, width, height, score, *rest = line.split(",")
        assert 1 <= int(frame) <= 60 and int(ident) >= 1 and float(width) > 0 and rest == ["-1", "-1", "-1"]

    frames = tmp_path / "frames"  # the same sequence as image files, its ground truth as a MOT gt.txt
    frames.mkdir()
    gt = []
    for k, f in enumerate(ShapesTrack("val", size=64)[0], 1):
        Image.fromarray(f.image).save(frames / f"{k:04d}.png")
        gt += [f"{k},{i},{b[0]},{b[1]},{b[2] - b[0]},{b[3] - b[1]},1,-1,-1,-1" for i, b in zip(f.ids, f.boxes)]
    (tmp_path / "gt.txt").write_text("\n".join(gt) + "\n")
    code, out = _track([detector, frames, "--gt", tmp_path / "gt.txt", "--out", tmp_path / "files"])
    assert code == 0, out
    assert json.loads((tmp_path / "files" / "track.json").read_text())["scores"] == scores
    assert (tmp_path / "files" / "frames.txt").read_text().splitlines() == lines

    classifier = zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path  # the appearance cue: crops through it
    code, out = _track([detector, "--data", "shapes-track", "--sequences", "1", "--embedder", classifier,
                        "--out", tmp_path / "appearance"])
    assert code == 0, out
    seen = json.loads((tmp_path / "appearance" / "track.json").read_text())
    assert seen["tracker"]["embedder"] == str(classifier) and seen["scores"]["gt_boxes"] == scores["gt_boxes"]


def test_edgecv_track_refuses_in_one_line(zoo_artifacts, tmp_path):
    classifier = zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path
    detector = zoo_artifacts[("yolo_n", "onnx", "fp32")].path
    (tmp_path / "gt.txt").write_text("1,1,x,0,10,10\n")
    (tmp_path / "f.png").write_bytes(b"")
    for args, message in (([classifier, "--data", "shapes-track"], "is not a detector"),
                          ([detector], "give FRAMES"),
                          ([detector, tmp_path, "--data", "shapes-track"], "not both"),
                          ([detector, "--data", "shapes"], "built-in tracking sequences are shapes-track"),
                          ([detector, tmp_path / "f.png", "--gt", tmp_path / "gt.txt"], "line 1"),
                          ([detector, "--data", "shapes-track", "--embedder", detector], "is not an edgecv classifier")):
        code, out = _track([*args, "--out", tmp_path / "o"])
        assert code == 2 and message in out and "Traceback" not in out, out


def test_profile_track_reports_the_detector_and_tracker_pipeline_next_to_its_accuracy(zoo_artifacts, tmp_path):
    pytest.importorskip("trackeval")
    import csv
    import shutil

    import edgecv

    files = tmp_path / "files"
    files.mkdir()
    for key in (("yolo_n", "onnx", "int8"), ("mobilenet_v2", "onnx", "int8")):
        shutil.copy(zoo_artifacts[key].path, files)
    report = edgecv.profile([str(files)], out=tmp_path / "p", track=1, iters=3, warmup=1, min_time_s=0.0, limit=16,
                            log=lambda m: None)
    rows = {r["model"]: r for r in report["rows"]}
    t = rows["yolo_n"]["tracking"]
    assert t["data"] == "shapes-track" and t["sequences"] == 1 and t["frames"] == 60
    assert -100 < t["mota"] <= 100 and 0 <= t["idf1"] <= 100 and t["fps"] > 0 and 0 < t["tracker_share"] < 1
    assert "tracking" not in rows["mobilenet_v2"]  # a classifier is not tracked
    assert report["matrix"]["track"] == 1
    assert "| MOTA | IDF1 | track fps | tracker % |" in (tmp_path / "p" / "report.md").read_text()
    with open(tmp_path / "p" / "results.csv") as f:
        csv_rows = {r["model"]: r for r in csv.DictReader(f)}
    assert float(csv_rows["yolo_n"]["mota"]) == t["mota"] and csv_rows["mobilenet_v2"]["mota"] == ""


def test_appearance_decides_where_motion_cannot():
    """Two shapes side by side meet, stay together three frames and bounce back apart: the constant-velocity
    filter expects each to carry on across, so motion alone swaps them; their embeddings do not."""
    a, b = np.array([1.0, 0.0, 0.1]), np.array([0.0, 1.0, 0.1])
    frames = [([_box(10, 10), _box(16, 10)], [a, b])] * 5 + [([_box(13, 10), _box(13, 10)], [a, b])] * 3
    frames += [([_box(16, 10), _box(10, 10)], [b, a])] * 3  # a back on the left, b on the right
    found = {}
    for use in (True, False):
        tracker = Tracker()
        for boxes, embeddings in frames:
            last = tracker.update(np.array(boxes), np.ones(2), np.zeros(2), np.array(embeddings) if use else None)
        found[use] = {round(r[1]): int(r[0]) for r in last}
    assert found[True] == {10: 1, 16: 2} and found[False] == {16: 1, 10: 2}


def test_an_unreadable_frame_is_said_and_tracked_as_empty_and_the_rest_keep_their_numbers(zoo_artifacts, tmp_path):
    from PIL import Image

    from edgecv.data.shapes_track import ShapesTrack

    frames = tmp_path / "frames"
    frames.mkdir()
    for k, f in enumerate(ShapesTrack("val", size=64, frames=8)[1], 1):
        Image.fromarray(f.image).save(frames / f"{k:03d}.png")
    (frames / "004.png").write_bytes(b"not a png")
    code, out = _track([zoo_artifacts[("yolo_n", "onnx", "fp32")].path, frames, "--out", tmp_path / "o"])
    assert code == 0 and "004.png is unreadable" in out and "Traceback" not in out, out
    report = json.loads((tmp_path / "o" / "track.json").read_text())
    assert report["sequences"][0]["frames"] == 8 and report["timing"]["frames"] == 8
    assert all(1 <= int(line.split(",")[0]) <= 8 for line in (tmp_path / "o" / "frames.txt").read_text().splitlines())


def test_the_device_script_tracks_as_the_host_does(zoo_artifacts, tmp_path):
    """Copied out of the package and run with python -I: the same MOT lines as ``edgecv track`` on the host."""
    from PIL import Image

    from edgecv.data.shapes_track import ShapesTrack
    from edgecv.devices.script import write_device_script
    from edgecv.track import track

    script = write_device_script(tmp_path / "edgecv_device.pyz")
    frames = tmp_path / "frames"
    frames.mkdir()
    for k, f in enumerate(ShapesTrack("val", size=64, frames=30)[1], 1):
        Image.fromarray(f.image).save(frames / f"{k:03d}.png")
    detector = zoo_artifacts[("yolo_n", "onnx", "int8")].path
    out = subprocess.run([sys.executable, "-I", str(script), "track", str(detector), str(frames)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "frames at" in out.stderr, out.stderr
    track(str(detector), [str(frames)], out=tmp_path / "host", log=lambda m: None)
    assert out.stdout.splitlines() == (tmp_path / "host" / "frames.txt").read_text().splitlines()
    assert out.stdout.strip()
