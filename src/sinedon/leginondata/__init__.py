"""The Leginon database (``leginondb``): sessions, presets, instruments and images."""
