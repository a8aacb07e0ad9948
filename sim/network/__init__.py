"""Network elements, one per file: the fluid FIFO link."""

from sim.network.link import Link

__all__ = ["Link"]
