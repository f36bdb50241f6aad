"""The package's version, in a module of its own so that any module (and setuptools) can read it without importing the rest."""

__version__ = "0.1.0"
