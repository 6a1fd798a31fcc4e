"""Finding sessions as Leginon records them: incremental, with microscope, camera,
preset and project, and the first start's lookback."""

from __future__ import annotations

import datetime

from django.db import connections

import sinedon
from appion.facility.discovery import SessionDiscovery, start_mark
from appion.simulation.session import add_exposure, start_session


def test_a_poll_reads_only_new_images_and_names_their_session(db, tmp_path):
    discovery = SessionDiscovery(start_mark(3600))
    assert discovery.poll() == []
    krios = start_session(tmp_path, "disc-a", "k3", microscope="Krios1", extras=False)
    glacios = start_session(tmp_path, "disc-b", "k2", microscope="Glacios", extras=False)
    first = [add_exposure(krios, 0).image_id, add_exposure(glacios, 0).image_id]

    sightings = {s.session: s for s in discovery.poll() if s.preset == "enn"}
    assert set(sightings) == {"disc-a", "disc-b"}
    a = sightings["disc-a"]
    assert (a.microscope, a.camera, a.preset, a.project) == ("Krios1", "GatanK3", "enn", 1)
    assert a.image_ids == (first[0],)
    assert sightings["disc-b"].microscope == "Glacios"
    assert sightings["disc-b"].camera == "GatanK2"
    assert a.image_path.endswith("disc-a/rawdata")

    assert discovery.poll() == []
    second = add_exposure(krios, 1).image_id
    again = [s for s in discovery.poll() if s.preset == "enn"]
    assert [(s.session, s.image_ids) for s in again] == [("disc-a", (second,))]
    assert again[0].newest_at > 0


def test_the_first_start_takes_up_only_sessions_within_the_lookback(db, tmp_path):
    old = start_session(tmp_path, "disc-old", "k3", extras=False)
    old_ids = [add_exposure(old, index).image_id for index in range(2)]
    two_days_ago = datetime.datetime.now() - datetime.timedelta(days=2)
    with connections[sinedon.LEGINON].cursor() as cursor:  # the server sets DEF_timestamp
        cursor.executemany("UPDATE AcquisitionImageData SET DEF_timestamp = %s "
                           "WHERE DEF_id = %s", [(two_days_ago, i) for i in old_ids])
    new = start_session(tmp_path, "disc-new", "k3", extras=False)
    new_id = add_exposure(new, 0).image_id

    discovery = SessionDiscovery(start_mark(12 * 3600))
    found = {s.session for s in discovery.poll()}
    assert "disc-new" in found and "disc-old" not in found
    assert discovery.mark >= new_id
    everything = SessionDiscovery(start_mark(3 * 24 * 3600))
    assert {"disc-old", "disc-new"} <= {s.session for s in everything.poll()}
