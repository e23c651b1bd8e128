"""sloengine: service level objectives and agreements as code for Prometheus."""

__version__ = "0.1.0"
