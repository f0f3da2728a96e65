"""pytest fixtures for the edged integration tests; the machinery lives in harness.py."""

from harness import blackhole, edged, origin  # noqa: F401  (pytest fixtures)
