"""Classic image selection on both backends, with rows inserted as Leginon would."""

from __future__ import annotations

import random
from contextlib import ExitStack

import pytest

from appion.base.errors import AppionError
from appion.base.retrieve.images import (
    combine_status,
    keeps_tilt,
    order_ids,
    select_image_ids,
    status_changes_since,
)
from tests.base.builders import (
    assess,
    make_image,
    make_preset,
    make_session,
    selection,
    set_viewer_status,
)

BASE = ["--projectid=1", "--session=25jan01a"]


@pytest.fixture
def session(db):
    """A session with every kind of image classic selection distinguishes."""
    sid = make_session()
    enn, esn = make_preset(sid, "enn"), make_preset(sid, "esn")
    images = {name: make_image(sid, f"25jan01a_{name}_enn", preset_id=enn)
              for name in ("plain", "hidden", "trash", "exemplar", "rejected", "kept",
                           "unhidden", "exemplar_rejected")}
    images["tilt35"] = make_image(sid, "25jan01a_tilt35_enn", preset_id=enn, tilt_degrees=35)
    images["tiltm10"] = make_image(sid, "25jan01a_tiltm10_enn", preset_id=enn,
                                   tilt_degrees=-10)
    images["esn"] = make_image(sid, "25jan01a_x_esn", preset_id=esn)
    images["manual"] = make_image(sid, "25jan01a_manual")
    set_viewer_status(sid, images["hidden"], "hidden")
    set_viewer_status(sid, images["trash"], "trash")
    set_viewer_status(sid, images["exemplar"], "exemplar")
    set_viewer_status(sid, images["unhidden"], "hidden")
    set_viewer_status(sid, images["unhidden"], None)
    set_viewer_status(sid, images["exemplar_rejected"], "exemplar")
    assess(sid, images["rejected"], True)
    assess(sid, images["rejected"], False)
    assess(sid, images["kept"], True)
    assess(sid, images["exemplar_rejected"], False)
    other = make_session("25jan02b")
    make_image(other, "25jan02b_other_enn", preset_id=make_preset(other, "enn"))
    return sid, images


def _ids(images, *names):
    return sorted(images[name] for name in names)


ENN = ("plain", "hidden", "trash", "exemplar", "rejected", "kept", "unhidden",
       "exemplar_rejected", "tilt35", "tiltm10")


def test_preset_selects_the_session_images_of_that_preset_in_id_order(session):
    sid, images = session
    assert select_image_ids(selection([*BASE, "--preset=enn"]), sid) == _ids(images, *ENN)


def test_manual_means_images_without_preset_and_no_preset_means_all(session):
    sid, images = session
    assert select_image_ids(selection([*BASE, "--preset=manual"]), sid) == [images["manual"]]
    assert select_image_ids(selection(BASE), sid) == sorted(images.values())


def test_rejects_are_processed_without_no_rejects_as_in_classic(session):
    sid, images = session
    selected = select_image_ids(selection([*BASE, "--preset=enn"]), sid)
    assert {images["hidden"], images["trash"], images["rejected"]} <= set(selected)


def test_no_rejects_drops_hidden_trash_and_latest_assessment_false(session):
    sid, images = session
    selected = select_image_ids(selection([*BASE, "--preset=enn", "--no-rejects"]), sid)
    assert selected == _ids(images, "plain", "exemplar", "kept", "unhidden", "tilt35",
                            "tiltm10")


def test_best_images_keeps_only_exemplar_or_kept(session):
    sid, images = session
    selected = select_image_ids(selection([*BASE, "--preset=enn", "--best-images"]), sid)
    assert selected == _ids(images, "exemplar", "kept")


@pytest.mark.parametrize("tilt, expected", [
    ("notilt", [name for name in ENN if name not in ("tilt35", "tiltm10")]),
    ("hightilt", ["tilt35"]),
    ("lowtilt", [name for name in ENN if name != "tilt35"]),
    ("minustilt", ["tiltm10"]),
    ("plustilt", ["tilt35"]),
])
def test_tilt_filter_uses_stage_alpha_in_degrees(session, tilt, expected):
    sid, images = session
    selected = select_image_ids(selection([*BASE, "--preset=enn", f"--tiltangle={tilt}"]), sid)
    assert selected == _ids(images, *expected)


def test_id_range_and_after_id(session):
    sid, images = session
    ordered = _ids(images, *ENN)
    options = selection([*BASE, "--preset=enn", f"--startimgid={ordered[2]}",
                     f"--endimgid={ordered[5]}"])
    assert select_image_ids(options, sid) == ordered[2:6]
    assert select_image_ids(options, sid, after_id=ordered[3]) == ordered[4:6]
    assert select_image_ids(selection([*BASE, "--preset=enn"]), sid, after_id=ordered[-1]) == []


def test_reverse_is_newest_first_and_shuffle_keeps_the_set(session):
    sid, images = session
    forward = select_image_ids(selection([*BASE, "--preset=enn"]), sid)
    assert select_image_ids(selection([*BASE, "--preset=enn", "--reverse"]), sid) == forward[::-1]
    shuffled = select_image_ids(selection([*BASE, "--preset=enn", "--shuffle"]), sid)
    assert sorted(shuffled) == forward


def test_mrclist_names_with_or_without_extension(session):
    sid, images = session
    options = selection(["--projectid=1", "--mrclist=25jan01a_kept_enn.mrc,25jan01a_plain_enn"])
    assert select_image_ids(options, sid) == _ids(images, "kept", "plain")


def test_mrclist_unknown_name_is_a_clear_error(session):
    sid, _ = session
    with pytest.raises(AppionError, match="'nosuch' from --mrclist not found"):
        select_image_ids(selection(["--projectid=1", "--mrclist=25jan01a_kept_enn,nosuch"]), sid)


def test_status_changes_report_new_rejects_and_restores_and_advance_marks(session):
    sid, images = session
    rejected, kept, viewer_mark, assess_mark = status_changes_since(
        sid, viewer_after_id=0, assessment_after_id=0)
    assert rejected == set(_ids(images, "hidden", "trash", "rejected", "exemplar_rejected"))
    assert images["exemplar"] in kept and not kept & rejected
    assert (viewer_mark, assess_mark) > (0, 0)
    assert status_changes_since(sid, viewer_after_id=viewer_mark,
                                assessment_after_id=assess_mark) == (set(), set(),
                                                                     viewer_mark, assess_mark)
    set_viewer_status(sid, images["plain"], "trash")
    set_viewer_status(sid, images["hidden"], None)     # un-hidden: not a reject any more
    assess(sid, images["kept"], False, run_name="run2")
    rejected, kept, new_viewer, new_assess = status_changes_since(
        sid, viewer_after_id=viewer_mark, assessment_after_id=assess_mark)
    assert rejected == set(_ids(images, "plain", "kept"))
    assert kept == {images["hidden"]}
    assert new_viewer > viewer_mark and new_assess > assess_mark


def test_status_changes_best_only_reports_images_no_longer_best(session):
    sid, images = session
    changes = status_changes_since(sid, viewer_after_id=0, assessment_after_id=0)
    set_viewer_status(sid, images["exemplar"], None)
    later = status_changes_since(sid, viewer_after_id=changes.viewer_mark,
                                 assessment_after_id=changes.assessment_mark, best_only=True)
    assert later.rejected == {images["exemplar"]} and later.kept == set()


def test_selection_among_given_ids_applies_every_filter(session):
    sid, images = session
    base = ["--projectid=1", "--session=25jan01a", "--preset=enn", "--no-rejects"]
    asked = _ids(images, "plain", "hidden", "kept")
    assert select_image_ids(selection(base), sid, only_ids=asked) == sorted(
        _ids(images, "plain", "kept"))


def _count_queries(call) -> int:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext
    with ExitStack() as stack:
        contexts = [stack.enter_context(CaptureQueriesContext(connections[alias]))
                    for alias in ("leginondata", "appiondata")]
        call()
    return sum(len(context.captured_queries) for context in contexts)


def test_query_count_does_not_grow_with_the_number_of_images(db):
    sid = make_session()
    enn = make_preset(sid, "enn")
    options = selection([*BASE, "--preset=enn", "--no-rejects", "--tiltangle=notilt"])

    def add_images(count):
        for index in range(count):
            image = make_image(sid, f"img{index:04d}", preset_id=enn,
                               tilt_degrees=40 * (index % 3 == 0))
            if index % 5 == 0:
                set_viewer_status(sid, image, "hidden")
            if index % 7 == 0:
                assess(sid, image, False)

    add_images(10)
    small = _count_queries(lambda: select_image_ids(options, sid))
    add_images(150)
    selected = []
    large = _count_queries(lambda: selected.extend(select_image_ids(options, sid)))
    assert large == small
    assert len(selected) > 0


def test_combine_status_false_wins_then_true():
    assert combine_status(True, False) is False
    assert combine_status(False, None) is False
    assert combine_status(None, True) is True
    assert combine_status(None, None) is None


def test_tilt_thresholds_are_classic_at_their_edges():
    import math
    assert keeps_tilt(math.radians(2.99), "notilt")
    assert not keeps_tilt(math.radians(-3.01), "notilt")
    assert keeps_tilt(math.radians(-30.01), "hightilt")
    assert not keeps_tilt(math.radians(29.99), "hightilt")
    assert not keeps_tilt(math.radians(30.01), "lowtilt")
    assert keeps_tilt(math.radians(-2.01), "minustilt")
    assert not keeps_tilt(math.radians(-1.99), "minustilt")
    assert not keeps_tilt(math.radians(1.99), "plustilt")
    assert keeps_tilt(None, "notilt")


def test_shuffle_order_comes_from_the_generator():
    ids = list(range(1, 30))
    assert order_ids(ids, shuffle=True, rng=random.Random(4)) == \
        order_ids(ids, shuffle=True, rng=random.Random(4))
    assert order_ids(ids, shuffle=True, rng=random.Random(4)) != ids
