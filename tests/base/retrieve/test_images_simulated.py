"""Selection on a session made by the project's simulator (SQLite: the backends are
covered row by row in test_select_images)."""

from __future__ import annotations

import pytest

from appion.base.retrieve.images import select_image_ids, status_changes_since
from tests.base.builders import selection

simulation = pytest.importorskip("appion.simulation.session",
                                 reason="the simulator has not landed yet")


@pytest.fixture
def simulated(sqlite_db, tmp_path):
    return simulation.simulate_session(tmp_path / "sim", "sim25jan01a", camera="k3",
                                       exposures=6, extras=True)


def _is_reject(exposure) -> bool:
    return exposure.viewer_status in ("hidden", "trash") or exposure.assessment_keep is False


def test_selection_follows_the_simulated_ground_truth(simulated):
    sid, images = simulated.session_id, simulated.images
    base = ["--projectid=1", f"--session={simulated.name}",
            f"--preset={simulated.preset_name}"]
    assert select_image_ids(selection(base), sid) == sorted(e.image_id for e in images)
    kept = [e.image_id for e in images if not _is_reject(e)]
    assert select_image_ids(selection([*base, "--no-rejects"]), sid) == sorted(kept)
    untilted = [e.image_id for e in images if not e.tilted]
    assert select_image_ids(selection([*base, "--tiltangle=notilt"]), sid) == sorted(untilted)
    assert select_image_ids(selection([*base, "--tiltangle=hightilt"]), sid) == \
        [e.image_id for e in images if e.tilted]
    rejected = status_changes_since(sid, viewer_after_id=0, assessment_after_id=0).rejected
    assert rejected == {e.image_id for e in images if _is_reject(e)}
    assert len(rejected) == 3 and sum(e.tilted for e in images) == 1
