"""Incremental discovery of a session's new images and of new rejects.

The feed remembers the newest image id it has seen and the newest status rows
(``ViewerImageStatus``, ``ApAssessmentData``), so a poll with nothing new costs one
indexed query whatever the size of the session; the image selection itself
(presets, ``--mrclist``, id range, ``--no-rejects``, ``--tiltangle``) is
:func:`appion.base.retrieve.images.select_image_ids`, run only over the new ids.
"""

from __future__ import annotations

import argparse

import sinedon

from appion.base.retrieve.images import rejected_since, select_image_ids


class ImageFeed:
    """New images of one session that this run should process."""

    def __init__(self, options: argparse.Namespace, session_id: int):
        self.options = options
        self.session_id = int(session_id)
        self.last_seen_id = 0
        self.viewer_mark = 0
        self.assessment_mark = 0
        self.watch_rejects = bool(getattr(options, "norejects", False)
                                  or getattr(options, "bestimages", False))
        self._marks_read = False

    def poll(self) -> list[int]:
        """Ids of images newer than the last poll that pass the selection, ascending."""
        if self.watch_rejects and not self._marks_read:
            self._read_status_marks()
        newest = sinedon.max_id("AcquisitionImageData", {"session": self.session_id})
        if newest <= self.last_seen_id:
            return []
        selected = select_image_ids(self.options, self.session_id, after_id=self.last_seen_id)
        self.last_seen_id = newest
        return sorted(image_id for image_id in selected if image_id <= newest)

    def newly_rejected(self) -> set[int]:
        """Images hidden, trashed or assessment-rejected since the last call
        (only with ``--no-rejects`` or ``--best-images``)."""
        if not self.watch_rejects:
            return set()
        if not self._marks_read:
            self._read_status_marks()
            return set()
        rejected, self.viewer_mark, self.assessment_mark = rejected_since(
            self.session_id, viewer_after_id=self.viewer_mark,
            assessment_after_id=self.assessment_mark,
            best_only=bool(getattr(self.options, "bestimages", False)))
        return rejected

    def _read_status_marks(self) -> None:
        """Status rows existing before the first poll are applied by the selection."""
        self.viewer_mark = sinedon.max_id("ViewerImageStatus", {"session": self.session_id})
        self.assessment_mark = sinedon.max_id("ApAssessmentData")
        self._marks_read = True
