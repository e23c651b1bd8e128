"""The model out as files: recording and alerting rules, promtool alert tests, Grafana dashboards and
the Alertmanager configuration (pure: catalogue in, files out; promtool and amtool check them).
"""
