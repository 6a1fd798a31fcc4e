"""Pure functions of the particle-picking step: no database, no file, no clock."""
