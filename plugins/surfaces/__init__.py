"""Built-in test surfaces for ``sweepnp surface``: one plugin per module."""
