"""Real Prometheus and Alertmanager processes, synthetic data with known counts, the demo workload and
`make demo`: for tests, benchmarks and the demo, never imported by the stages above.
"""
