"""Errors a command reports as a failed run (exit status 1) rather than a bug."""


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite: the run stops, and nothing is derived from it."""
