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


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_tables_section_is_the_schema(con):
    """Every table and view of a migrated database is described, under its real columns."""
    schema = {name: {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    rows = re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?(?: \(view\))? \| [^|]+ \| ([^\n]+) \|$", _section("Tables"),
                      re.M)
    described = {name for first, second, _ in rows for name in (first, second) if name}
    assert not set(schema) - described, f"tables the README does not describe: {sorted(set(schema) - described)}"
    assert not described - set(schema), f"README describes tables that do not exist: {sorted(described - set(schema))}"
    for first, second, columns in rows:
        plain = re.sub(r"\([^)]*\)", "", columns)  # values and remarks in parentheses are not columns
        for column in re.findall(r"`([a-z_]+)`", plain):
            for table in filter(None, (first, second)):
                assert column in schema[table], f"README: {table}.{column} does not exist"


def test_the_readme_names_no_file_outside_the_repository():
    text = README.read_text()
    for outside in ("PRODUCT.md", "../shared", "/work/", "NOTES.md", "STYLE.md"):
        assert outside not in text, outside


def test_the_readme_shows_the_flows_real_task_list():
    from flows.stages import PIPELINE

    assert " → ".join(stage.__name__ for stage in PIPELINE) in README.read_text()


def _needs_outside_material(function) -> bool:
    """The test takes the ``shared`` fixture or reads ``SHARED`` (the reference folder beside the project)."""
    import ast

    return any(isinstance(node, ast.arg) and node.arg == "shared"
               or isinstance(node, ast.Name) and node.id == "SHARED" for node in ast.walk(function))


def test_tests_the_readme_cites_exist_and_run_on_a_fresh_clone():
    """A test cited as proof must exist, and must not depend on material outside the repository
    (it would be skipped on a fresh clone, proving nothing there)."""
    import ast

    cited = set(re.findall(r"tests/(test_[a-z0-9_]+)\.py(?:::([A-Za-z0-9_*]+))?", README.read_text()))
    assert cited
    for module, name in sorted(cited):
        tree = ast.parse((README.parent / "tests" / f"{module}.py").read_text())
        tests = {node.name: node for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
        matching = [node for test, node in tests.items() if re.fullmatch((name or "test_*").replace("*", ".*"), test)]
        assert matching, f"README cites tests/{module}.py::{name}, which does not exist"
        assert any(not _needs_outside_material(node) for node in matching), \
            f"README cites tests/{module}.py{'::' + name if name else ''}: it needs material outside the repository"

def test_the_run_commands_help_shows_the_flows_real_task_list():
    from flows.cli import run
    from flows.stages import PIPELINE

    assert " → ".join(stage.__name__ for stage in PIPELINE) in run.__doc__


def test_the_for_sales_section_shows_the_report_and_the_e_mail():
    """Sales read their part first: the screenshots it shows are in the repository, PNGs made by the script it names."""
    section = _section("For sales")
    images = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", section)
    assert images == ["docs/sales-report.png", "docs/sales-email.png"]
    root = Path(__file__).resolve().parents[1]
    for image in images:
        assert (root / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (root / "data" / "demo" / "screenshots.py").is_file()
