"""What users read: the report's renderings, the SLA report, and the `serve` exporter.
"""
