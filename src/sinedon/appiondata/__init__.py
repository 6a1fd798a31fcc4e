"""A project's Appion database (``ap<projectid>``): runs, jobs and results."""
