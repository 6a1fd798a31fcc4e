"""Incremental discovery of a session's new images, new rejects and restored images.

The feed remembers the newest image id it has seen and the newest status rows
(``ViewerImageStatus``, ``ApAssessmentData``), so a poll with nothing new costs one
indexed query whatever the size of the session; the image selection itself
(presets, ``--mrclist``, id range, ``--no-rejects``, ``--tiltangle``) is
:func:`appion.base.retrieve.images.select_image_ids`, run only over the new ids.
"""

from __future__ import annotations

import sinedon
from appion.base.retrieve.images import select_image_ids, status_changes_since
from appion.base.selection import ImageSelection


class ImageFeed:
    """New images of one session that this run should process."""

    def __init__(self, selection: ImageSelection, session_id: int):
        self.selection = selection
        self.session_id = int(session_id)
        self.last_seen_id = 0
        self.viewer_mark = 0
        self.assessment_mark = 0
        self.watch_rejects = selection.watches_rejects
        self._marks_read = False

    def poll(self) -> list[int]:
        """Ids of images newer than the last poll that pass the selection, ascending."""
        if self.watch_rejects and not self._marks_read:
            self._read_status_marks()
        newest = sinedon.max_id("AcquisitionImageData", {"session": self.session_id})
        if newest <= self.last_seen_id:
            return []
        selected = select_image_ids(self.selection, self.session_id, after_id=self.last_seen_id)
        self.last_seen_id = newest
        return sorted(image_id for image_id in selected if image_id <= newest)

    def status_changes(self) -> tuple[set[int], list[int]]:
        """``(rejected, restored)`` since the last call (only with ``--no-rejects`` or
        ``--best-images``): images hidden, trashed or assessment-rejected, and images
        already seen that the selection now takes (un-hidden, re-assessed as keep)."""
        if not self.watch_rejects:
            return set(), []
        if not self._marks_read:
            self._read_status_marks()
            return set(), []
        changes = status_changes_since(
            self.session_id, viewer_after_id=self.viewer_mark,
            assessment_after_id=self.assessment_mark,
            best_only=self.selection.best_images)
        self.viewer_mark, self.assessment_mark = changes.viewer_mark, changes.assessment_mark
        seen = {image for image in changes.kept if image <= self.last_seen_id}
        restored = select_image_ids(self.selection, self.session_id, only_ids=seen) if seen else []
        return changes.rejected, restored

    def _read_status_marks(self) -> None:
        """Status rows existing before the first poll are applied by the selection."""
        self.viewer_mark = sinedon.max_id("ViewerImageStatus", {"session": self.session_id})
        self.assessment_mark = sinedon.max_id("ApAssessmentData")
        self._marks_read = True
