"""deadlinewatch: tells a client, early and well, that a deadline will slip — before it slips."""

__version__ = "0.1.0"
