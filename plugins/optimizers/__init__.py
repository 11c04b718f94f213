"""Built-in optimizers: one plugin per module."""
