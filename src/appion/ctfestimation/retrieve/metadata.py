"""Read, in bulk, what CTF estimation needs about images and their earlier CTFs.

The micrographs' files and pixel sizes come from
:func:`appion.base.retrieve.micrographs.load_micrographs`; one more query reads the
microscopes (voltage, Cs) of the whole batch.
Earlier CTFs are searched over the image, its source movie and the source's
other aligned images (classic ``ctfdb.getBestCtfByResolution`` siblings).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sinedon
from appion.base.retrieve.leginon_rows import referenced_row, rows_by_ids
from appion.base.retrieve.micrographs import load_micrographs


@dataclass(frozen=True)
class CtfImageInfo:
    """One micrograph's file and optics, from Leginon."""

    image_id: int
    filename: str
    path: str  # <session image path>/<filename>.mrc
    pixel_size_a: float | None
    kv: float | None
    cs_mm: float | None
    scope_defocus_m: float | None


def load_ctf_metadata(image_ids: Iterable[int]) -> dict[int, CtfImageInfo]:
    """``{image_id: CtfImageInfo}`` for every image found."""
    micrographs = load_micrographs(image_ids)
    tems = rows_by_ids("InstrumentData",
                       (micrograph.scope.get("tem") for micrograph in micrographs.values()))
    found = {}
    for image_id, micrograph in micrographs.items():
        scope = micrograph.scope
        tem = referenced_row(tems, scope.get("tem")) or {}
        high_tension = scope.get("high_tension")
        found[image_id] = CtfImageInfo(
            image_id=image_id, filename=micrograph.filename, path=micrograph.path,
            pixel_size_a=micrograph.pixel_size_a,
            kv=high_tension / 1000.0 if high_tension else None,
            cs_mm=tem["cs"] * 1e3 if tem.get("cs") is not None else None,
            scope_defocus_m=scope.get("defocus"))
    return found


def related_images(image_ids: Iterable[int]) -> dict[int, set[int]]:
    """Each image with its source movie and that source's other aligned images."""
    ids = {int(i) for i in image_ids}
    pairs = sinedon.filter("ApDDAlignImagePairData", {"result__in": sorted(ids)},
                           fields=("source", "result")) if ids else []
    source_of = {row["result"]: row["source"] for row in pairs if row.get("source")}
    sources = sorted(set(source_of.values()))
    siblings: dict[int, set[int]] = {}
    if sources:
        for row in sinedon.filter("ApDDAlignImagePairData", {"source__in": sources},
                                  fields=("source", "result")):
            siblings.setdefault(row["source"], set()).add(row["result"])
    related = {}
    for image_id in ids:
        group = {image_id}
        source = source_of.get(image_id)
        if source:
            group |= {source} | siblings.get(source, set())
        related[image_id] = group
    return related


def ctf_rows_of(image_ids: Iterable[int]) -> list[dict]:
    """Every ApCtfData row of these images, from any run."""
    ids = sorted({int(i) for i in image_ids})
    rows: list[dict] = []
    for start in range(0, len(ids), 500):
        rows += sinedon.filter("ApCtfData", {"image__in": ids[start:start + 500]})
    return rows


def prior_ctfs(image_ids: Iterable[int]) -> dict[int, list[dict]]:
    """``{image_id: ApCtfData rows of the image and its aligned siblings}``."""
    related = related_images(image_ids)
    rows = ctf_rows_of(set().union(*related.values()) if related else set())
    by_image: dict[int, list[dict]] = {}
    for row in rows:
        by_image.setdefault(row["image"], []).append(row)
    return {image_id: [row for member in group for row in by_image.get(member, [])]
            for image_id, group in related.items()}


def session_cs_mm(session_id: int) -> float | None:
    """The spherical aberration (mm) of the session's microscope, from its scope rows."""
    scope = sinedon.get("ScopeEMData", {"session": session_id})
    tem = (sinedon.get("InstrumentData", {"id": scope["tem"]})
           if scope and scope.get("tem") else None)
    return tem["cs"] * 1e3 if tem and tem.get("cs") is not None else None


def session_image_ids(session_id: int) -> list[int]:
    """Every image of the session."""
    return list(sinedon.ids("AcquisitionImageData", {"session": session_id}))
