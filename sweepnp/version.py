"""sweepnp's version, in a module of its own: the plugin manager names it without importing the
whole public API (``sweepnp/__init__.py`` re-exports it)."""

__version__ = "0.1.0"
