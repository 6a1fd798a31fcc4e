"""One processed simulated session for all export tests (built once: ~25 s on 2 cores)."""

from __future__ import annotations

import pytest

from tests.conftest import service_missing
from tests.export.processed import processed_session, relion_programs


@pytest.fixture(scope="session")
def processed(tmp_path_factory):
    return processed_session(tmp_path_factory.mktemp("export-session"))


@pytest.fixture
def relion():
    """RELION's programs (Debian's relion package), or skip (fail when services are required)."""
    reason = relion_programs()
    if reason:
        service_missing(reason)
