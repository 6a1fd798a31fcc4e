"""Exports of a session's exposures to RELION and cryoSPARC, from the classic tables."""
