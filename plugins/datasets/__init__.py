"""Built-in datasets: one plugin per module."""
