"""Built-in callbacks: one plugin per module."""
