"""Which images a run takes: classic ``appionLoop2``'s image flags, parsed once.

The command line (``appion.cli.classic_options``) turns the flags into one frozen
:class:`ImageSelection`; everything below the command line (the image query, the
feed, the controller, ``--dry-run``) reads this, never the parsed arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Classic ``--tiltangle`` choices.
TILT_CHOICES = ("notilt", "hightilt", "lowtilt", "minustilt", "plustilt", "all")


@dataclass(frozen=True)
class ImageSelection:
    """The images of a run and their order (classic flag in brackets)."""

    session_name: str | None = None          # --session
    session_id: int | None = None            # --expid
    preset: str | None = None                # --preset
    image_names: tuple[str, ...] = ()        # --mrclist, without .mrc, in order
    limit: int | None = None                 # --limit
    tilt_angle: str = "all"                  # --tiltangle
    start_image_id: int | None = None        # --startimgid
    end_image_id: int | None = None          # --endimgid
    continue_run: bool = True                # --continue / --no-continue
    wait: bool = True                        # --wait / --no-wait
    no_rejects: bool = False                 # --no-rejects
    best_images: bool = False                # --best-images
    shuffle: bool = False                    # --shuffle
    reverse: bool = False                    # --reverse

    def __post_init__(self) -> None:
        if self.tilt_angle not in TILT_CHOICES:
            raise ValueError(f"tilt angle {self.tilt_angle!r} is not one of {TILT_CHOICES}")

    @property
    def waits_for_more(self) -> bool:
        """Whether the run waits for new images (classic ``--wait``; not with
        ``--no-wait``, ``--mrclist`` or ``--limit``)."""
        return self.wait and not self.image_names and self.limit is None

    @property
    def watches_rejects(self) -> bool:
        """Whether images hidden, trashed or rejected later must be dropped."""
        return self.no_rejects or self.best_images


def image_name(name: str) -> str:
    """An ``--mrclist`` entry as the ``AcquisitionImageData.filename`` (no ``.mrc``)."""
    name = name.strip()
    return name[:-4] if name.lower().endswith(".mrc") else name


def mrclist_names(text: str | None) -> tuple[str, ...]:
    """The comma-separated ``--mrclist`` names, without ``.mrc`` and blanks, in order."""
    names = [image_name(part) for part in (text or "").split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


__all__ = ["ImageSelection", "TILT_CHOICES", "image_name", "mrclist_names"]
