"""Readers for each spec format; :mod:`sloengine.specs.loader` picks one per document."""
