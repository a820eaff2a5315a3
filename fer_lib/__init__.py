"""fer_lib — the helper library of the FER reproduction study (five papers, one engine)."""
__version__ = "0.1.0"
