"""``appion simulate``: Leginon-like sessions with ground truth, for tests and demos.

Library use (sinedon set up for the project, tables created)::

    from appion.simulation import simulate_session, add_exposure
    session = simulate_session(tmp_path, "sim25jan01a", camera="k3", exposures=6)
    session.images[0].truth["shifts_px"]

Several microscopes at once (:mod:`appion.simulation.facility`)::

    from appion.simulation import ScopeSpec, run_facility
    run_facility(tmp_path, [ScopeSpec("Krios1", "k3", 0.2, 3),
                            ScopeSpec("Glacios", "falcon4-eer", 0.5, 2, start_delay_s=5)],
                 session_prefix="sim25jan01a", stop=threading.Event())

See :mod:`appion.simulation.calc` for the CTF, motion and orientation conventions.
"""

from appion.simulation.facility import ScopeSpec, parse_scope_spec, run_facility
from appion.simulation.session import (
                                       SimulatedExposure,
                                       SimulatedSession,
                                       add_exposure,
                                       simulate_session,
                                       start_session,
)

__all__ = ["ScopeSpec", "SimulatedExposure", "SimulatedSession", "add_exposure",
           "parse_scope_spec", "run_facility", "simulate_session", "start_session"]
