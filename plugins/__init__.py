"""sweepnp's built-in plugins, installed as ``sweepnp_plugins``. Each module is one plugin."""
