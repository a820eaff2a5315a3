"""fer_lib.realtime + fer_lib.testmedia: paper 3's detect/track/classify pipeline on generated face videos."""
import csv

import cv2
import numpy as np
import pytest
import torch

from fer_lib import realtime as rt
from fer_lib.models.small import SmallCNN
from fer_lib.testmedia import iou_matrix, make_clip, score, write_frames, write_video


@pytest.fixture(scope="module")
def clip1():
    return make_clip(12, (320, 240), n_faces=1, seed=0)


@pytest.fixture(scope="module")
def clip3():
    return make_clip(12, (480, 360), n_faces=3, seed=1, background="rocket")


@pytest.fixture(scope="module")
def small_cls():
    torch.manual_seed(0)
    return rt.Classifier(SmallCNN(widths=(8, 16)), name="SmallCNN")


def test_clip_truth_boxes_are_inside_and_disjoint(clip3):
    assert len(clip3) == 12 and clip3.frames[0].shape == (360, 480, 3) and clip3.frames[0].dtype == np.uint8
    for b in clip3.boxes:
        assert b.shape == (3, 4)
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 480).all() and (b[:, 1] >= 0).all() and (b[:, 3] <= 360).all()
        m = iou_matrix(b, b)
        assert np.allclose(np.diag(m), 1) and (m[~np.eye(3, dtype=bool)] == 0).all()
    again = make_clip(12, (480, 360), n_faces=3, seed=1, background="rocket")
    assert np.array_equal(again.frames[5], clip3.frames[5])  # deterministic per seed


def test_score_counts_hits_misses_and_false_positives():
    truth = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]])]
    pred = [np.array([[1, 1, 10, 10], [50, 50, 60, 60]]), np.zeros((0, 4))]
    s = score(pred, truth)
    assert s["recall"] == 0.5 and s["precision"] == 0.5 and s["false_positives"] == 1 and s["min_iou"] == 0
    assert s["frames_ok"] == 0.5 and s["mean_iou"] == pytest.approx(0.81 / 2)


@pytest.mark.parametrize("which", ["clip1", "clip3"])
def test_mtcnn_detect_one_track_five_keeps_iou_with_truth(which, request, small_cls):
    clip = request.getfixturevalue(which)
    r = rt.evaluate_clip(clip, "mtcnn", 5, small_cls, warmup=1)
    # every truth face in every frame found at IoU >= 0.5, nothing else boxed
    assert r["recall"] == 1.0 and r["min_iou"] >= 0.5 and r["false_positives"] == 0, r
    assert r["detections"] == 2  # frames 0 and 6 of 12: detect one, track five, no failures here


def test_haar_vs_mtcnn_is_measured(clip1, clip3, small_cls, capsys):
    """Both detectors scored on the same clips; the numbers are printed (pytest -s), no winner assumed."""
    rows = []
    for name, clip in (("1 face", clip1), ("3 faces", clip3)):
        for det in ("mtcnn", "haar"):
            for te in (0, 5):
                r = rt.evaluate_clip(clip, det, te, small_cls, warmup=0)
                for k in ("recall", "precision", "mean_iou", "frames_ok"):
                    assert 0.0 <= r[k] <= 1.0 or np.isnan(r[k])
                rows.append(f"{name:8} {det:6} track_every={te}: recall {r['recall']:.2f} precision "
                            f"{r['precision']:.2f} mean IoU {r['mean_iou']:.2f} false pos {r['false_positives']}")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert len(rows) == 8


class _Fixed:
    """A detector that returns given boxes and counts its calls."""
    name = "fixed"

    def __init__(self, boxes):
        self.boxes, self.calls = np.asarray(boxes, float).reshape(-1, 4), 0

    def __call__(self, frame):
        self.calls += 1
        return self.boxes.copy(), np.ones(len(self.boxes))


def test_policy_detect_one_track_n_and_redetect_on_failure(clip1):
    det = _Fixed(clip1.boxes[0])
    tr = rt.FaceTracker(det, track_every=5)
    for f in clip1.frames[:12]:
        tr.step(f)
    assert det.calls == 2  # frames 0 and 6 (a detector without .verify: KCF alone decides)
    det0 = _Fixed(clip1.boxes[0])
    tr0 = rt.FaceTracker(det0, track_every=0)
    for f in clip1.frames[:4]:
        tr0.step(f)
    assert det0.calls == 4
    # The face is gone (a blank frame). OpenCV's KCF still reports success there: measured, not assumed.
    blank = np.zeros_like(clip1.frames[0])
    kcf = rt.make_kcf()
    b = clip1.boxes[0][0]
    kcf.init(clip1.frames[0], tuple(int(v) for v in (b[0], b[1], b[2] - b[0], b[3] - b[1])))
    kcf_ok = kcf.update(blank)[0]
    print("KCF update on a blank frame reports success:", kcf_ok)
    # ... so the detector's own check (MTCNN's O-Net) catches it and the detector runs again on that frame.
    for verify, calls in ((True, 2), (False, 1 if kcf_ok else 2)):
        det2 = _Counting(rt.make_detector("mtcnn"))
        tr2 = rt.FaceTracker(det2, track_every=5, verify=verify)
        tr2.step(clip1.frames[0])
        tracks, times = tr2.step(blank)
        assert det2.calls == calls and tr2.n_redetect == calls - 1
        assert len(tracks) == (0 if calls == 2 else 1)  # without the check, a box stays on the blank frame


class _Counting:
    """A real detector that counts its calls."""

    def __init__(self, det):
        self.det, self.name, self.calls = det, det.name, 0

    def __call__(self, frame):
        self.calls += 1
        return self.det(frame)

    def verify(self, frame, boxes):
        return self.det.verify(frame, boxes)


@pytest.mark.parametrize("name", ["mtcnn", "haar"])
def test_verify_tells_faces_from_background(name, clip1):
    det = rt.make_detector(name)
    f, truth = clip1.frames[3], clip1.boxes[3]
    w = truth[0, 2] - truth[0, 0]
    away = truth + np.array([[-1.5 * w, 0, -1.5 * w, 0]]) if truth[0, 0] > 1.6 * w else truth + [[1.5 * w, 0, 1.5 * w, 0]]
    assert det.verify(f, truth).tolist() == [True]
    assert det.verify(f, away).tolist() == [False]
    assert det.verify(np.zeros_like(f), truth).tolist() == [False]


def test_ids_survive_redetection(clip3):
    det = rt.make_detector("mtcnn")
    tr = rt.FaceTracker(det, track_every=1)
    ids = [sorted(t.id for t in tr.step(f)[0]) for f in clip3.frames[:6]]
    assert all(i == [0, 1, 2] for i in ids)


def test_crop_faces_square_grey_and_padded():
    frame = np.full((100, 120, 3), 200, np.uint8)
    frame[40:60, 50:70] = 0
    crops = rt.crop_faces(frame, [[50, 40, 70, 60], [-10, -10, 30, 20], [110, 90, 130, 110]])
    assert crops.shape == (3, 48, 48) and crops.dtype == np.uint8
    assert crops[0].max() == 0  # the dark square exactly
    assert (crops[1] == 200).all() and (crops[2] == 200).all()  # edge-replicated outside the frame
    assert rt.crop_faces(frame, np.zeros((0, 4))).shape == (0, 48, 48)


def test_classifier_batches_all_faces(small_cls):
    crops = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    p = small_cls(crops)
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    one = np.concatenate([small_cls(crops[i:i + 1]) for i in range(3)])
    assert np.allclose(p, one, atol=1e-5)


def test_checkpoint_roundtrip_and_wrong_shape(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN(widths=(8, 16))
    path = rt.save_checkpoint(tmp_path / "ok.pt", model, "SmallCNN", {"widths": [8, 16]}, mean=0.4, std=0.6)
    cls = rt.load_checkpoint(path)
    assert cls.classes == rt.FER7 and cls.mean == 0.4 and cls.std == 0.6
    x = np.random.default_rng(1).integers(0, 255, (2, 48, 48), dtype=np.uint8)
    ref = model.eval()(((torch.from_numpy(x).float()[:, None] / 255) - 0.4) / 0.6).softmax(1).detach().numpy()
    assert np.allclose(cls(x), ref, atol=1e-5)
    # kwargs that do not match the weights: one clear error naming the mismatch
    bad = tmp_path / "bad.pt"
    torch.save({"model": model.state_dict(), "arch": "SmallCNN", "kwargs": {"widths": [8, 32]},
                "classes": list(rt.FER7)}, bad)
    with pytest.raises(rt.CheckpointError, match="shape mismatch"):
        rt.load_checkpoint(bad)
    # 8 classes named for a 7-output model
    torch.save({"model": model.state_dict(), "arch": "SmallCNN", "kwargs": {"widths": [8, 16]},
                "classes": list(rt.FER7) + ["contempt"]}, bad)
    with pytest.raises(rt.CheckpointError, match="outputs shape"):
        rt.load_checkpoint(bad)
    torch.save(model.state_dict(), bad)  # a bare state_dict
    with pytest.raises(rt.CheckpointError, match="not a fer_lib.realtime checkpoint"):
        rt.load_checkpoint(bad)
    with pytest.raises(rt.CheckpointError, match="does not fit"):
        rt.save_checkpoint(tmp_path / "no.pt", model, "SmallCNN", {"widths": [8, 8]})
    with pytest.raises(rt.CheckpointError, match="unknown architecture"):
        rt.build_model("NoSuchNet")


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_cli_video_and_folder(clip1, tmp_path, capsys):
    video = write_video(clip1, tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    assert rt.main([str(video), "-o", str(out), "--detector", "haar"]) == 0
    printed = capsys.readouterr()
    assert rt.NO_CHECKPOINT in printed.out and "fps" in printed.out and rt.NO_CHECKPOINT in printed.err
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(clip1)
    cap.release()
    rows = _read_csv(tmp_path / "out.csv")
    assert sorted({int(r["frame"]) for r in rows}) == list(range(len(clip1)))
    assert {"x1", "label", "p_happy", "detect_ms", "track_ms", "crop_ms", "classify_ms", "total_ms"} <= set(rows[0])
    assert all(rt.NO_CHECKPOINT in r["classifier"] and "ort-int8" in r["classifier"] for r in rows)
    # a folder of images, with a checkpoint
    folder = write_frames(clip1, tmp_path / "frames")
    ck = rt.save_checkpoint(tmp_path / "m.pt", SmallCNN(widths=(8, 16)), "SmallCNN", {"widths": [8, 16]})
    assert rt.main([str(folder), "-o", str(tmp_path / "f.mp4"), "--checkpoint", str(ck), "--max-frames", "7"]) == 0
    assert rt.NO_CHECKPOINT not in capsys.readouterr().out
    rows = _read_csv(tmp_path / "f.csv")
    assert {int(r["frame"]) for r in rows} == set(range(7)) and all(r["label"] in rt.FER7 for r in rows)


def test_cli_errors_are_one_line_and_leave_nothing(clip1, tmp_path, capsys):
    def fails(args, msg):
        before = set(tmp_path.rglob("*"))
        assert rt.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and msg in err[-1], err
        assert set(tmp_path.rglob("*")) == before  # no (partial) output left behind

    out = str(tmp_path / "o.mp4")
    fails([str(tmp_path / "missing.mp4"), "-o", out], "no such file")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    fails([str(junk), "-o", out], "cannot read a frame")
    (tmp_path / "empty").mkdir()
    fails([str(tmp_path / "empty"), "-o", out], "holds no images")
    badck = tmp_path / "bad.pt"
    torch.save({"model": SmallCNN(widths=(8, 16)).state_dict(), "arch": "SmallCNN", "kwargs": {},
                "classes": list(rt.FER7)}, badck)
    fails([str(junk), "-o", out, "--checkpoint", str(badck)], "shape mismatch")
    # an unreadable image half-way through a folder: the run stops and removes its partial files
    folder = write_frames(make_clip(4, (160, 120), seed=2), tmp_path / "frames")
    (folder / "00002.png").write_bytes(b"broken")
    fails([str(folder), "-o", out, "--detector", "haar"], "cannot read this image")
    fails([str(folder), "-o", str(tmp_path / "nodir" / "o.mp4")], "does not exist")


class _FakeCamera:
    """Stands in for cv2.VideoCapture(index): no camera exists on the test machines."""

    def __init__(self, frames, opened=True):
        self.frames, self.opened, self.released = list(frames), opened, False

    def isOpened(self):
        return self.opened

    def read(self):
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def get(self, prop):
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


def test_camera_index_input_reads_frames_and_a_missing_camera_is_one_clear_error(clip1, monkeypatch):
    cams = {}

    def fake_capture(index):
        cams[index] = _FakeCamera(clip1.frames[:5] if index == 0 else [], opened=index == 0)
        return cams[index]

    monkeypatch.setattr(rt.cv2, "VideoCapture", fake_capture)
    src = rt.open_input("0")
    assert (src.name, src.fps, src.size) == ("camera0", 25.0, (320, 240))
    assert len(list(src.frames)) == 5 and cams[0].released
    with pytest.raises(rt.RealtimeError, match="input camera 3: cannot be opened"):
        rt.open_input("3")
    assert cams[3].released


# ------------------------------------------------------------------------------------------ issue 17: speed switches
def test_engines_keep_the_interface_and_the_predictions(small_cls, tmp_path):
    from fer_lib import engines
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (5, 48, 48), dtype=np.uint8)
    ref = small_cls(crops)
    got = {e: engines.to_engine(small_cls, e, 1, calibration=crops, cache=tmp_path) for e in engines.ENGINES}
    for e, c in got.items():
        p = c(crops)
        assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-4), e
        assert c(crops[:0]).shape == (0, 7) and e in c.describe()
    assert np.allclose(got["ort-fp32"](crops), ref, atol=1e-4)  # the export itself changes nothing
    assert np.allclose(got["torch-fp32"](crops), ref, atol=1e-6)
    rows = engines.agreement(got, crops, np.zeros(5, int))
    assert [r["engine"] for r in rows] == list(engines.ENGINES) and rows[0]["identical to float32 (%)"] == 100
    # exported once: the cached file is reused (same name for the same weights and engine)
    again = engines.to_engine(small_cls, "ort-int8", 1, cache=tmp_path)
    assert again.path == got["ort-int8"].path and len(list(tmp_path.glob("*.onnx"))) == 3
    with pytest.raises(rt.RealtimeError, match="calibration"):
        engines.to_engine(small_cls, "ort-int8-static", cache=tmp_path)
    with pytest.raises(rt.RealtimeError, match="engine="):
        engines.to_engine(small_cls, "tensorrt")


@pytest.mark.parametrize("which", ["clip1", "clip3"])
def test_detection_in_a_second_thread_keeps_the_boxes(which, request, small_cls):
    clip = request.getfixturevalue(which)
    r = rt.evaluate_clip(clip, "mtcnn", 5, small_cls, warmup=1, detect_async=True, track_scale=0.5)
    assert r["recall"] == 1.0 and r["min_iou"] >= 0.5 and r["false_positives"] == 0, r
    # the first detection runs in the pipeline's thread (nothing to track yet), later ones in the second thread
    # (how many finish before the clip ends depends on the machine's speed)
    assert r["detect_async"] and r["detections"] == 1 + r["background_detections"]
    assert r["cpu_ms"] > 0 and r["wall_fps"] > 0


def test_second_thread_detection_is_carried_to_the_frame_it_arrives_at(clip1):
    det = _Counting(rt.make_detector("mtcnn"))
    tr = rt.FaceTracker(det, track_every=2, detect_async=True)
    for f in clip1.frames[:4]:
        tr.step(f)
    assert tr.n_detect == 1 and tr._pending is not None  # frame 0 here; frame 3 handed to the second thread
    tr._pending[0].result()  # let it finish: the next frame takes it
    tracks, times = tr.step(clip1.frames[4])
    assert det.calls == 2 and tr.n_detect == 2 and tr.background_s and tr.latency == [1]
    assert tracks[0].source == "detect" and tracks[0].id == 0
    assert iou_matrix(tracks[0].box[None], clip1.boxes[4])[0, 0] >= 0.5
    tr.close()


class _Gated(_Counting):
    """A real detector whose calls in the second thread wait until `gate` is set: a detection that lands late."""

    def __init__(self, det):
        import threading
        super().__init__(det)
        self.gate = threading.Event()

    def __call__(self, frame):
        import threading
        if threading.current_thread() is not threading.main_thread():
            assert self.gate.wait(30)
        return super().__call__(frame)


def test_a_late_detection_is_caught_up_by_its_own_kcf():
    """A face crossing the frame at ~12 px per frame; the second thread's detection of frame 6 lands at frame 12.
    Its box is followed by a KCF of its own through the kept frames 7-12 (the older reading moved it by the old
    track's lagging motion: IoU with the truth fell to 0.46 on the frames after)."""
    clip = make_clip(120, (640, 480), n_faces=1, seed=0)
    frames, truth = clip.frames[90:], clip.boxes[90:]
    det = _Gated(rt.make_detector("mtcnn", scale=0.5))
    tr = rt.FaceTracker(det, track_every=5, detect_async=True, track_scale=0.25)
    for f in frames[:12]:
        tr.step(f)
    assert det.calls == 1 and tr._pending is not None and tr._pending[1] == 6 and len(tr._since) == 6
    det.gate.set()
    tr._pending[0].result()
    for i in range(12, 18):
        tracks, _ = tr.step(frames[i])
        assert len(tracks) == 1 and iou_matrix(tracks[0].box[None], truth[i])[0, 0] >= 0.55, i
    assert tr.latency[0] == 6 and tracks[0].id == 0
    tr.close()


@pytest.mark.parametrize("now", [True, False])
def test_a_lost_face_is_detected_again_at_once_or_in_the_second_thread(clip3, now):
    """With the detector in a second thread, a face whose tracker fails: redetect_now=True runs the detector on
    that frame in the pipeline's thread (same id by IoU, all faces back); False drops the face until the second
    thread's detection lands."""
    det = _Gated(rt.make_detector("mtcnn"))
    tr = rt.FaceTracker(det, track_every=5, detect_async=True, redetect_now=now)
    tracks, _ = tr.step(clip3.frames[0])
    assert det.calls == 1 and len(tracks) == 3
    class Lost:  # KCF reports this face lost on the next frame
        def update(self, frame):
            return False, (0, 0, 1, 1)

    tracks[1].kcf = Lost()
    tracks, times = tr.step(clip3.frames[1])
    assert tr.n_redetect == 1
    if now:
        assert det.calls == 2 and times["detect"] > 0 and len(tracks) == 3 and tr._pending is None
        assert sorted(t.id for t in tracks) == [0, 1, 2] and all(t.source == "detect" for t in tracks)
    else:
        assert det.calls == 1 and len(tracks) == 2 and tr._pending is not None and 1 not in [t.id for t in tracks]
    det.gate.set()
    tr.close()


@pytest.mark.parametrize("keep", [True, False])
def test_a_late_detection_is_waited_for_when_the_next_is_due_to_keep_the_cadence(clip1, keep):
    import threading
    det = _Gated(rt.make_detector("mtcnn"))
    tr = rt.FaceTracker(det, track_every=2, detect_async=True, keep_cadence=keep)
    for f in clip1.frames[:6]:  # frame 0 in this thread; frame 3's detection held in the second thread
        tr.step(f)
    assert tr._pending is not None and tr._pending[1] == 3
    opener = threading.Timer(0.3, det.gate.set)
    opener.start()
    tracks, times = tr.step(clip1.frames[6])  # the next detection is due here
    if keep:  # waited for frame 3's, took it, and started frame 6's
        assert times["detect"] >= 0.2 and tr.latency == [3] and tr._pending[1] == 6 and tracks[0].source == "detect"
    else:  # went on: frame 3's detection is still the pending one
        assert times["detect"] < 0.2 and tr.latency == [] and tr._pending[1] == 3
    opener.join()
    tr.close()


def test_catch_up_stops_where_kcf_loses_the_face():
    class FakeKCF:
        def __init__(self, answers):
            self.answers = list(answers)

        def update(self, frame):
            return self.answers.pop(0)

    run = rt._CatchUp(FakeKCF([(True, (4, 4, 10, 10)), (False, (0, 0, 0, 0))]), [0, 0, 10, 10])
    frames = [None, None]
    assert run.advance(frames, 0.5).n == 2 and np.allclose(run.box, [8, 8, 28, 28]) and run.kcf is not None
    frames += [None, None]
    assert run.advance(frames, 0.5).kcf is None and run.n == 3  # lost on frame 2; frame 3 never tried


def test_detector_on_a_reduced_frame_returns_full_frame_boxes(clip1):
    f, truth = clip1.frames[2], clip1.boxes[2]
    for name in ("mtcnn", "haar"):
        boxes, _ = rt.make_detector(name, scale=0.5)(f)
        assert len(boxes) == 1 and iou_matrix(boxes, truth)[0, 0] >= 0.5, (name, boxes, truth)
    with pytest.raises(rt.RealtimeError, match="detect_scale"):
        rt.make_detector("mtcnn", scale=1.5)


def test_one_classifier_call_per_face_gives_the_same_labels(clip3, small_cls):
    a = rt.evaluate_clip(clip3, "mtcnn", 5, small_cls, warmup=0, keep=True)
    b = rt.evaluate_clip(clip3, "mtcnn", 5, small_cls, warmup=0, keep=True, batch=False)
    assert all(np.allclose(x.probs, y.probs, atol=1e-5) for x, y in zip(a["results"], b["results"]))


def test_cli_defaults_are_the_bench_defaults():
    import argparse

    from fer_lib import realtime_bench as rb
    ap = argparse.ArgumentParser()
    rt.add_pipeline_options(ap)
    a = ap.parse_args([])
    got = dict(detector=a.detector, track_every=a.track_every, engine=a.engine, threads=a.threads,
               track_scale=a.track_scale, detect_scale=a.detect_scale, detect_async=not a.detect_sync,
               verify=not a.no_verify, batch=not a.per_face, redetect_now=not a.redetect_later,
               keep_cadence=not a.loose_cadence)
    assert got == rt.DEFAULTS == rb.CONFIGS[rb.DEFAULT_LABEL]
    assert all(set(c) == set(rt.DEFAULTS) for c in rb.CONFIGS.values())


def _gui_opencv() -> bool:
    """Whether this OpenCV was built with a GUI ("GUI: NONE" in the headless wheels)."""
    return rt.cv2.getBuildInformation().split("GUI:")[1].split()[0] != "NONE"


def test_show_without_a_display_or_a_camera_is_one_clear_error(monkeypatch, capsys, clip1):
    def fails(args, msg):
        assert rt.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and msg in err[-1], err

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if rt.sys.platform.startswith("linux"):
        fails(["--camera", "0", "--show"], "needs a display")
    monkeypatch.setenv("DISPLAY", ":0")
    if not _gui_opencv():  # the project's headless OpenCV, for real (in the probe's child process)
        fails(["--camera", "0", "--show"], "cannot open a window")
    # a GUI build (Qt) that cannot reach the display aborts its process: the probe turns that into one error
    monkeypatch.setattr(rt, "_PROBE", "import os, sys; sys.stderr.write('qt.qpa.xcb: could not connect to display :0\\n'); os.abort()")
    fails(["--camera", "0", "--show"], "no window could be opened on display :0: qt.qpa.xcb: could not connect")
    monkeypatch.setattr(rt, "_PROBE", "import cv2")

    def headless(*a, **k):  # what opencv-contrib-python-headless does in this process
        raise rt.cv2.error("The function is not implemented. Rebuild the library with Windows, GTK+ 2.x or Cocoa support")

    monkeypatch.setattr(rt.cv2, "namedWindow", headless)
    fails(["--camera", "0", "--show"], "cannot open a window")
    monkeypatch.setattr(rt.cv2, "VideoCapture", lambda i: _FakeCamera([], opened=False))
    fails(["--camera", "3", "--engine", "torch-fp32", "--max-frames", "2", "-o", "/tmp/never.mp4"],
          "input camera 3: cannot be opened")
    fails([], "give one input")


def test_show_displays_labelled_frames_with_the_live_fps(monkeypatch, capsys, clip1):
    shown = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(rt, "_window_probe", lambda *a, **k: None)
    monkeypatch.setattr(rt.cv2, "namedWindow", lambda *a, **k: None)
    monkeypatch.setattr(rt.cv2, "destroyWindow", lambda *a, **k: None)
    monkeypatch.setattr(rt.cv2, "imshow", lambda name, img: shown.append(img))
    monkeypatch.setattr(rt.cv2, "waitKey", lambda ms: -1)
    banners = []
    real_annotate = rt.annotate
    monkeypatch.setattr(rt, "annotate", lambda f, r, banner="": banners.append(banner) or real_annotate(f, r, banner))
    monkeypatch.setattr(rt.cv2, "VideoCapture", lambda i: _FakeCamera(clip1.frames[:6]))
    assert rt.main(["--camera", "0", "--show", "--engine", "torch-fp32", "--detector", "haar"]) == 0
    out = capsys.readouterr().out
    assert len(shown) == 6 and shown[0].shape == clip1.frames[0].shape and "wrote" not in out
    assert all(" fps (pipeline " in b for b in banners)


def test_bench_prints_the_table_and_the_targets(capsys, tmp_path):
    """bench/realtime_fps.py end to end on a tiny clip (the speed itself is the bench's business, not a test's)."""
    import importlib.util

    from fer_lib.core.paths import project_root
    spec = importlib.util.spec_from_file_location("realtime_fps", project_root() / "bench" / "realtime_fps.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ck = rt.save_checkpoint(tmp_path / "m.pt", SmallCNN(widths=(8, 16)), "SmallCNN", {"widths": [8, 16]})
    bench.main(["--frames", "4", "--faces", "1", "--repeats", "1", "--only", "default", "--no-agreement",
                "--checkpoint", str(ck), "--json", str(tmp_path / "b.json"), "--seed", "0", "1", "--rotate", "10"])
    out = capsys.readouterr().out
    assert "1 face s0 r10 default" in out and "1 face s1 r10 default" in out and "Zhao §V" in out and "target >= 80" in out and "load average" in out
    assert (tmp_path / "b.json").is_file()
