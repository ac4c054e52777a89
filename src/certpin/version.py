"""The version of certpin (one place: the package, the CLI and violation reports read it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
