"""The web UI ``sloengine serve`` serves next to ``/metrics``: server-rendered HTML, charts from a vendored uPlot.

* :mod:`.markup`: escaping and the page frame (every outside string goes through :func:`.markup.esc`).
* :mod:`.slo_list`: the SLO list (filters and sorting from the query string, no JavaScript needed).
* :mod:`.slo_detail`: one SLO over a time range, from Prometheus range queries of the recorded series.
* :mod:`.assets`: the static files (uPlot, its licence, the page's style and chart script), served by name.
* :mod:`.routes`: which page a path is, for the exporter's WSGI app.
"""
