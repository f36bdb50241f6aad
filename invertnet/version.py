"""The package's version, in a module of its own so that any module (and setuptools) can read it without importing the rest."""

__version__ = "0.1.0"


def versioned(kind: str, record: dict[str, object]) -> dict[str, object]:
    """``record`` under the schema of invertnet's ``kind`` of JSON (``invertnet.KIND``, version 1; docs/outputs.md), with the version
    of invertnet that wrote it."""
    return {"schema": f"invertnet.{kind}", "schema_version": 1, "invertnet_version": __version__, **record}
