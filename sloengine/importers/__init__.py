"""Readers for each spec format; :mod:`sloengine.loader` picks one per document."""
