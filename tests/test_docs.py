"""The README stays honest: every leadpipe command it shows exists, and its SQL runs."""

import re
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_command_in_the_readme_exists():
    text = README.read_text()
    shown = set(re.findall(r"(?:^|`)leadpipe ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?", text, re.M))
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    runner = CliRunner()
    for command, sub in sorted(shown):
        if command in groups:
            subs = {c.name or c.callback.__name__ for c in groups[command].registered_commands}
            assert sub in subs, f"README shows 'leadpipe {command} {sub}', which does not exist"
            args = [command, sub]
        else:
            assert command in commands, f"README shows 'leadpipe {command}', which does not exist"
            args = [command]
        assert runner.invoke(app, [*args, "--help"]).exit_code == 0


def test_readme_sql_runs_on_the_schema(con):
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README shows analyst queries"
    for block in blocks:
        for statement in filter(None, (s.strip() for s in block.split(";"))):
            con.execute(statement).fetchall()


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python3 bootstrap.py test" in ci
    assert "python3 bootstrap.py test" in README.read_text()
    assert "python3 bootstrap.py demo" in README.read_text()


def test_every_setting_is_in_the_readme():
    from flows.config import KEYS

    text = README.read_text()
    missing = [key for key in KEYS if f"`{key}`" not in text]
    assert not missing, f"settings the README does not describe: {missing}"
