"""Appion: near-real-time cryo-EM preprocessing (motion correction, CTF estimation)."""

__version__ = "2026.11.24"
