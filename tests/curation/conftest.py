"""A motion-corrected simulated session of its own (curation writes assessment rows into
it; its thresholds are on drift, so no CTF run is needed)."""

from __future__ import annotations

import pytest

from tests.export.processed import processed_session


@pytest.fixture(scope="session")
def curated_session(tmp_path_factory):
    return processed_session(tmp_path_factory.mktemp("curation-session"), with_ctf=False)
