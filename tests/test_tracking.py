

def test_a_new_tracker_has_its_solver_imported_before_the_first_frame(monkeypatch):
    """The first frame's tracker time must not include importing scipy (issue 27: tracker_ms_max 328 ms)."""
    from edgecv.portable import tracker

    monkeypatch.setattr(tracker, "_SOLVER", [])
    tracker.Tracker()
    assert tracker._SOLVER, "constructing a Tracker looks the solver up"
