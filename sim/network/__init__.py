"""Network elements, one per file: the fluid FIFO link."""

from sim.network.link import FluidLink

__all__ = ["FluidLink"]
