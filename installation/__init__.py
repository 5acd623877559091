"""installation: a real-time generative installation and VJ tool."""

__version__ = "0.1.0"
