"""Requests in flight and the draining flag, shared by the middleware, health and shutdown.

Only the event loop touches them (the middleware counts each request in and out, the health
route reads the count, the lifespan's signal wrapper sets ``draining``), so they are plain
attributes: there is no other thread to guard against.

Example::

    >>> traffic = Traffic()
    >>> traffic.in_flight += 1
    >>> traffic.begin_drain(); traffic.draining
    True
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class Traffic:
    """How many requests are in flight, and whether new ones are refused (draining)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False

    def begin_drain(self) -> None:
        """From now on new requests get 503 ``shutting_down``; those in flight finish."""
        if not self.draining:
            self.draining = True
            logger.info("draining: %d requests in flight", self.in_flight)
