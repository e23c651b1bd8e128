"""A varied catalogue of N SLOs, as an organisation writes them: no two services alike.

Each service has its own metric names, its own number of SLOs (1 to 9) and its own mix of SLI kinds
(ratio of bad or good events, grouped ratios, histogram latency at several thresholds, probes, raw
error-ratio queries), objectives (95 % to 99.99 %), rolling windows (7d to 30d) and calendar windows
(week, month, quarter) in several time zones, alert options (``min_events``, ``for``, custom conditions),
escalation with one to three levels and support hours, and agreements (SLAs over tiers, OLAs under them).
Seeded, so every run compiles the same catalogue; nothing repeats a shape with names swapped, so a
compiler cannot fold the catalogue into a few canonical services.
"""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("cart", "auth", "search", "ledger", "inbox", "media", "quote", "route", "stock", "fraud", "promo",
         "order", "price", "ship", "track", "user", "feed", "chat", "pay", "rank", "geo", "mail", "sync", "doc")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo")
OBJECTIVES = (95, 98.5, 99, 99.5, 99.9, 99.95, 99.99, 99.8, 97)
ROLLING = ("7d", "14d", "28d", "30d", "21d")
CALENDARS = ("week", "month", "quarter")
THRESHOLDS = ("100ms", "250ms", "300ms", "500ms", "1s", "2.5")
LABELS = ("method", "route", "region", "tenant", "handler")


def _q(text: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


def _window(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{{calendar: {rng.choice(CALENDARS)}, timezone: {rng.choice(ZONES)}}}"
    return rng.choice(ROLLING)


def _sli(rng: random.Random, prefix: str, job: str, k: int) -> str:
    kind = rng.choices(("bad", "good", "grouped", "latency", "probe", "raw"), (30, 20, 12, 22, 8, 8))[0]
    metric = f"{prefix}_{rng.choice(WORDS)}{k}"
    sel = f'job="{job}"'
    if kind == "bad":
        code = rng.choice(('code=~"5.."', 'status="error"', 'outcome!="ok"'))
        return (f"{{ratio: {{bad: {_q(f'{metric}_total{{{sel},{code}}}')}, "
                f"total: {_q(f'{metric}_total{{{sel}}}')}}}}}")
    if kind == "good":
        return (f"{{ratio: {{good: {_q(f'{metric}_ok_total{{{sel}}}')}, "
                f"total: {_q(f'{metric}_calls_total{{{sel}}}')}}}}}")
    if kind == "grouped":
        by = sorted(rng.sample(LABELS, rng.randint(1, 2)))
        bad = _q(metric + "_total{" + sel + ',result="fail"}')
        return (f"{{ratio: {{bad: {bad}, "
                f"total: {_q(f'{metric}_total{{{sel}}}')}, group_by: [{', '.join(by)}]}}}}")
    if kind == "latency":
        return (f"{{latency: {{histogram: {_q(f'{metric}_duration_seconds{{{sel}}}')}, "
                f"threshold: {rng.choice(THRESHOLDS)}}}}}")
    if kind == "probe":
        probe = _q('probe_success{job="blackbox",instance="' + f'{job}-{k}' + '"}')
        return f"{{probe: {{metric: {probe}}}}}"
    rate = f"rate({metric}_failed_total{{{sel}}}[$window])"
    total = f"rate({metric}_total{{{sel}}}[$window])"
    return f"{{raw: {{error_ratio: {_q(f'sum({rate}) / sum({total})')}}}}}"


def _alerting(rng: random.Random, k: int) -> str:
    roll = rng.random()
    if roll < 0.5:
        return ""
    if roll < 0.75:
        return f"    alerting: {{min_events: {rng.choice((10, 50, 100, 500))}}}\n"
    if roll < 0.9:
        return (f"    alerting:\n      name: Budget{k}Burn{rng.randint(0, 999)}\n"
                f"      annotations: {{summary: 'SLO {k} burns its budget'}}\n")
    return ("    alerting:\n      conditions:\n"
            f"        - {{severity: page, long: 1h, short: 5m, factor: 14.4, for: {rng.choice(('1m', '2m'))}}}\n"
            "        - {severity: page, long: 6h, short: 30m, factor: 6}\n"
            "        - {severity: ticket, long: 3d, short: 6h, budget_percent: 10, for: 30m}\n")


def service_spec(i: int, rng: random.Random) -> tuple[str, int]:
    """One service's spec file and its number of SLOs."""
    name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i:05d}"
    prefix = f"{rng.choice(WORDS)}{i}"
    team = f"team{rng.randint(0, 60)}"
    levels = [f"      - {{level: L1, receiver: {team}-oncall}}"]
    if rng.random() < 0.7:
        levels.append(f"      - {{level: L2, receiver: {team}-leads, after: {rng.choice(('15m', '30m', '1h'))}}}")
    if len(levels) == 2 and rng.random() < 0.4:
        levels.append("      - {level: L3, receiver: incident-command, after: 2h}")
    zone = rng.choice(ZONES)
    support = (f"    support_hours: {{timezone: {zone}, weekdays: [\"monday:friday\"], times: [\"08:00-18:00\"]}}\n"
               if rng.random() < 0.5 else "")
    count = rng.randint(1, 9)
    slos, names = [], []
    for k in range(count):
        names.append(f"slo-{k}-{rng.choice(WORDS)}")
        slos.append(f"  - name: {names[-1]}\n"
                    f"    objective: {rng.choice(OBJECTIVES)}\n"
                    f"    window: {_window(rng)}\n"
                    f"    sli: {_sli(rng, prefix, name, k)}\n" + _alerting(rng, k))
    agreements = ""
    if rng.random() < 0.4:
        agreements = (
            "agreements:\n"
            f"  - {{name: sla-{name}, kind: sla, provider: shop, customer: customer{i}, objective: 95,\n"
            f"     period: {{calendar: month, timezone: {zone}}}, covers: [{{slo: {names[0]}}}],\n"
            f"     depends_on: [ola-{name}]}}\n"
            f"  - {{name: ola-{name}, kind: ola, provider: {team}, customer: shop, objective: 99.5,\n"
            f"     covers: [{{slo: {names[0]}}}]}}\n")
    text = (
        "apiVersion: sloengine/v1\nkind: ServiceLevels\n"
        f"service: {{name: {name}, team: {team}}}\n"
        "receivers:\n"
        f"  {team}-oncall: {{webhook_configs: [{{url: 'http://127.0.0.1:9/{team}/oncall'}}]}}\n"
        f"  {team}-leads: {{webhook_configs: [{{url: 'http://127.0.0.1:9/{team}/leads'}}]}}\n"
        "  incident-command: {webhook_configs: [{url: 'http://127.0.0.1:9/ic'}]}\n"
        "defaults:\n  escalation:\n    levels:\n" + "\n".join(levels) + "\n"
        f"    tickets: {team}-oncall\n" + support +
        "slos:\n" + "".join(slos) + agreements)
    return text, count


def write_catalogue(slos: int, directory: Path, seed: int = 13) -> int:
    """Write spec files holding ``slos`` SLOs (the last service is cut to fit); returns the SLO count."""
    rng = random.Random(seed)
    written = i = 0
    while written < slos:
        state = rng.getstate()
        text, count = service_spec(i, rng)
        if written + count > slos:  # regenerate the same service, cut to fit
            rng.setstate(state)
            while True:
                text, count = service_spec(i, rng)
                if written + count <= slos:
                    break
                rng.setstate(state)
                rng.random()
                state = rng.getstate()
        (directory / f"service-{i:05d}.yaml").write_text(text, encoding="utf-8")
        written += count
        i += 1
    return written
