"""The README and ``--help`` describe the same commands: every option click knows is in the README's row for
its command (every choice of a ``--format`` too), every flag the README shows exists, and the commands that read
Prometheus share one set of connection options, documented once."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from sloengine.cli import connection_options, main
from sloengine.engine import connection

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

#: Commands that read Prometheus; each takes exactly the shared connection options.
READERS = ("report", "serve", "sla-report", "recommend", "backfill", "validate")
CONNECTION_SECTION = "## Reading Prometheus: `sloengine report`"
CONNECTION_POINTER = "connection flags"


def commands() -> dict[str, click.Command]:
    return dict(sorted(main.commands.items()))


def long_flags(command: click.Command) -> dict[str, click.Option]:
    out = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--"):
                    out[opt] = param
    return out


def connection_flags() -> set[str]:
    """The flags of the one decorator every reader of Prometheus uses."""
    def probe(**_):
        pass

    return set(long_flags(click.command()(connection_options(probe))))


def readme_rows() -> dict[str, str]:
    """The README's command table: command name -> its row."""
    rows = re.findall(r"^\| `sloengine ([a-z-]+)[^`]*`.*\|$", README, re.M)
    lines = [line for line in README.splitlines() if line.startswith("| `sloengine ")]
    return dict(zip(rows, lines))


def connection_docs() -> str:
    start = README.index(CONNECTION_SECTION)
    end = README.index("\n## ", start + 1)
    return README[start:end]


def flags_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def test_every_command_has_a_readme_row_and_every_row_a_command():
    assert set(readme_rows()) == set(commands())


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_of_a_command_is_in_its_readme_row(name):
    row = readme_rows()[name]
    shared = connection_flags() if name in READERS else set()
    missing = sorted(flag for flag in long_flags(commands()[name]) if flag not in shared and flag not in flags_in(row))
    assert missing == [], f"README row of {name} does not mention {missing}"
    if shared:
        assert CONNECTION_POINTER in row, f"README row of {name} does not point at the connection flags"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_choice_of_an_option_is_listed_in_the_readme_row(name):
    usage = readme_rows()[name].split(" | ")[0]   # `sloengine report PATH... [--format table\|json]`
    for flag, option in long_flags(commands()[name]).items():
        if isinstance(option.type, click.Choice):
            listed = re.search(rf"{flag}[ =]([\w\\|,-]+)", usage)
            assert listed, f"README row of {name} does not list the choices of {flag}"
            assert set(listed.group(1).split("\\|")) == set(option.type.choices), f"{name} {flag}"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_flag_in_a_readme_row_exists(name):
    row = readme_rows()[name]
    unknown = sorted(flags_in(row) - set(long_flags(commands()[name])) - {"--help"})
    assert unknown == [], f"README row of {name} names flags the command does not have: {unknown}"


def _readme_command_lines() -> list[str]:
    """Every ``sloengine ...`` command line in the README's shell examples, continuation lines joined."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", README, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("sloengine "):
                out.append(line)
    return out


def test_every_flag_in_a_readme_example_exists():
    lines = _readme_command_lines()
    assert lines
    for line in lines:
        name = line.split()[1]
        assert name in main.commands, line
        unknown = flags_in(line) - set(long_flags(main.commands[name]))
        assert not unknown, f"{line}: {sorted(unknown)}"


def test_commands_reading_prometheus_share_one_set_of_connection_options():
    def signature(option: click.Option) -> dict:
        return option.to_info_dict()

    shared = connection_flags()
    assert {"--prometheus", "--connection-file", "--timeout", "--retries", "--username", "--bearer-token-file",
            "--ca-file", "--insecure-skip-verify", "--header"} <= shared
    reference = {flag: signature(o) for flag, o in long_flags(main.commands["report"]).items() if flag in shared}
    for name in READERS:
        mine = {flag: signature(o) for flag, o in long_flags(main.commands[name]).items() if flag in shared}
        assert mine == reference, name
    for name in set(main.commands) - set(READERS):
        assert not shared & set(long_flags(main.commands[name])) - {"--prometheus"}, name


def test_the_connection_flags_and_environment_are_documented_once_for_every_reader():
    docs = connection_docs()
    missing = sorted(flag for flag in connection_flags() if flag not in flags_in(docs))
    assert missing == [], f"the README's connection settings do not mention {missing}"
    variables = sorted(v for k, v in vars(connection).items() if k.startswith("ENV_"))
    assert [v for v in variables if v not in docs] == []
    for name in READERS:
        assert f"`{name}`" in docs, f"the connection settings do not say that {name} takes them"
