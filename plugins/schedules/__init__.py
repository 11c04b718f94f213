"""Built-in schedules: one plugin per module."""
