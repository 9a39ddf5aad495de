"""racereplay: replay Formula 1 sessions from real timing and telemetry."""

__version__ = "0.1.0"
