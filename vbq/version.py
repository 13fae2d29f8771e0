"""vbq's version, in a module of its own so that any module can read it without importing
the package root (which re-exports the producers' names: see :mod:`vbq`)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
