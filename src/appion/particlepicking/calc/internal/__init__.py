"""The picking algorithms themselves (NumPy/SciPy only)."""
