"""Test-only step plug-ins (``noop``, ``noop2``) and rows-only Leginon sessions.

Found through ``appion_test_steps-0.dist-info/entry_points.txt`` when
``tests/plugins`` is on ``sys.path`` / ``PYTHONPATH`` (``tests/conftest.py`` puts
it there).
"""
