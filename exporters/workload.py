"""The demo workload as a deployable process (after ``make venv``):
``.venv/bin/python exporters/workload.py --port 9200``.

Serves the bundled example services' counters, latency histogram and probe
with scripted incidents (see ``sloengine/devstack/workload.py``), on 127.0.0.1.
"""

from sloengine.devstack.workload import COMMAND, main

if __name__ == "__main__":
    main(prog_name=COMMAND)
