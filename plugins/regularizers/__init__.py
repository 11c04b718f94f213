"""Built-in regularizers: one plugin per module."""
