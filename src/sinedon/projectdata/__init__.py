"""The project database (``projectdb``): projects, their sessions and Appion databases."""
