"""Incremental discovery: only new images, one query when nothing is new, new rejects,
restored images."""

from django.db import connections
from django.test.utils import CaptureQueriesContext

import sinedon
from appion.base.loop.feed import ImageFeed
from tests.base.loop.sessions import pipeline_selection


def options(session, *flags):
    return pipeline_selection(["--projectid", "1", "--session", session.name,
                               "--preset", "enn", *flags])


def test_each_poll_returns_only_images_newer_than_the_last(session):
    first = session.add_images(3)
    feed = ImageFeed(options(session), session.id)
    assert feed.poll() == first
    assert feed.poll() == []
    other_preset = sinedon.insert("PresetData", {"session": session.id, "name": "gr"})
    session.add_images(1, preset_id=other_preset)
    second = session.add_images(2)
    assert feed.poll() == second


def test_a_poll_with_nothing_new_is_one_query(session):
    session.add_images(50)
    feed = ImageFeed(options(session), session.id)
    feed.poll()
    with CaptureQueriesContext(connections[sinedon.LEGINON]) as leginon, \
            CaptureQueriesContext(connections[sinedon.APPION]) as appion:
        assert feed.poll() == []
    assert len(leginon.captured_queries) == 1 and len(appion.captured_queries) == 0


def test_with_no_rejects_new_hidden_images_are_reported(session):
    images = session.add_images(4)
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[0],
                                         "status": "hidden"})
    feed = ImageFeed(options(session, "--no-rejects"), session.id)
    assert feed.poll() == images[1:]
    assert feed.status_changes() == (set(), [])
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[2],
                                         "status": "trash"})
    assert feed.status_changes() == ({images[2]}, [])
    assert feed.status_changes() == (set(), [])


def test_with_no_rejects_an_image_un_hidden_later_is_restored(session):
    images = session.add_images(3)
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[0],
                                         "status": "hidden"})
    feed = ImageFeed(options(session, "--no-rejects"), session.id)
    assert feed.poll() == images[1:]
    assert feed.status_changes() == (set(), [])
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[0],
                                         "status": None})
    assert feed.status_changes() == (set(), [images[0]])
    assert feed.status_changes() == (set(), [])


def test_without_no_rejects_status_rows_are_not_read(session):
    images = session.add_images(2)
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[0],
                                         "status": "hidden"})
    feed = ImageFeed(options(session), session.id)
    assert feed.poll() == images
    assert feed.status_changes() == (set(), [])
