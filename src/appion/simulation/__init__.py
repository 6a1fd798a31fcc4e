"""``appion simulate``: Leginon-like sessions with ground truth, for tests and demos.

Library use (sinedon set up for the project, tables created)::

    from appion.simulation import simulate_session, add_exposure
    session = simulate_session(tmp_path, "sim25jan01a", camera="k3", exposures=6)
    session.images[0].truth["shifts_px"]

See :mod:`appion.simulation.calc` for the CTF, motion and orientation conventions.
"""

from appion.simulation.session import (
                                       SimulatedExposure,
                                       SimulatedSession,
                                       add_exposure,
                                       simulate_session,
                                       start_session,
)

__all__ = ["SimulatedExposure", "SimulatedSession", "add_exposure", "simulate_session",
           "start_session"]
