"""Curation's assessment rows on both backends, read back by classic image selection."""

from __future__ import annotations

from appion.curation.calc.rules import Rule
from appion.export.calc.exposure import Exposure, Movie


def _exposure(session_id: int, source: int, drift_px: float) -> Exposure:
    positions = tuple((drift_px * i, 0.0) for i in range(4))
    return Exposure(source_id=source, name=f"img{source}", session_id=session_id,
                    preset="enn", camera="k3", aligned_id=source + 100,
                    aligned_path=f"/x/img{source}-a.mrc", aligned_dw_path=None,
                    aligned_pixel_size_a=1.0, positions=positions,
                    movie=Movie(None, 64, 64, 4, 1.0), voltage_kv=300.0, total_dose=40.0,
                    image_ids=(source, source + 100))


def test_curate_writes_classic_rows_that_classic_selection_reads(db):
    import sinedon
    from appion.base.retrieve.images import complete_status
    from appion.curation.apply import curate, record_manual
    db.setup()
    session_id = sinedon.insert("SessionData", {"name": "cur25jan01a"})
    exposures = [_exposure(session_id, 1, 1.0), _exposure(session_id, 2, 5.0)]
    rules = (Rule("total_drift", high=6.0),)  # 3 Å passes, 15 Å does not

    outcome = curate(session_id, exposures, rules)
    assert outcome.decisions == {1: True, 2: False} and outcome.rows_written == 4
    assert complete_status(session_id) == {1: True, 101: True, 2: False, 102: False}

    record_manual(session_id, exposures[1:], keep=True)  # a person keeps the drifty one
    again = curate(session_id, exposures, (Rule("total_drift", high=2.0),))
    assert again.new_run and again.decisions == {1: False, 2: True}
    assert complete_status(session_id) == {1: False, 101: False, 2: True, 102: True}
    assert sinedon.count("ApAssessmentData") == 4 + 2 + 4  # nothing deleted
    runs = sinedon.filter("ApAssessmentRunData", {"session": session_id})
    assert [run["name"] for run in runs] == [
        'appion-curate {"total_drift":[null,6.0]}', "appion-manual",
        'appion-curate {"total_drift":[null,2.0]}']
