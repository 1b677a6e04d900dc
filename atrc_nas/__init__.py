"""atrc-nas: Adaptive Task-Relational Context as a NAS platform for multi-task dense prediction."""

__version__ = "0.1.0"
