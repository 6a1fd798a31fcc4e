"""Job-script templates shipped with Appion (Jinja2, rendered by runJob.py)."""
