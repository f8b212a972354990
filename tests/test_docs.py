"""Every code block in README.md and docs/ is checked against the code (issue 27: the README's own example raised
UsageError), without running anything slow:

- each ``edgecv ...`` line of a bash block is parsed by the real CLI: the command exists, every option is one of
  its own, every choice and number is accepted (click's parser, the same one a user's shell reaches);
- each Python block compiles; every call to ``edgecv.NAME(...)`` binds to that function's real signature; and
  every ``create_model(NAME, ...)`` with a literal name is built for real with its keyword arguments (weights
  files the docs name are not read: a builder's arguments are what the docs can get wrong).
Placeholders (``[--flag]``, ``ARTIFACT``, ``...``) are synopses, not commands, and are skipped.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks(kind: str) -> list[tuple[str, str]]:
    return [(f"{path.name}#{k}", body) for path in DOCS
            for k, (lang, body) in enumerate(BLOCK.findall(path.read_text(encoding="utf-8"))) if lang == kind]


def edgecv_lines() -> list[tuple[str, str]]:
    out = []
    for where, body in blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;", line.split(" #")[0]):
                part = part.strip()
                if part.startswith("edgecv ") and not re.search(r"\[|\.\.\.|\b[A-Z][A-Z_]{3,}\b(?!:)", part):
                    out.append((where, part))
    return out


def test_the_docs_have_commands_and_python_to_check():
    assert len(edgecv_lines()) > 40 and len(blocks("python")) >= 4


@pytest.mark.parametrize(("where", "line"), edgecv_lines(), ids=lambda v: v if "#" in v else None)
def test_every_documented_command_parses(where, line):
    from edgecv.cli import cli

    args = [a for a in shlex.split(line)[1:] if a != "--debug"]  # the group's one option
    assert args, f"{where}: `{line}` names no command"
    ctx = click.Context(cli, info_name="edgecv")
    command = cli.get_command(ctx, args[0])
    assert command is not None, f"{where}: `{line}`: no such command {args[0]!r}"
    try:
        command.make_context(args[0], args[1:], parent=ctx)
    except click.UsageError as exc:
        pytest.fail(f"{where}: `{line}`: {exc.format_message()}")


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return inspect.Parameter.empty  # a name the block defines: any value binds


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=[w for w, _ in blocks("python")])
def test_every_documented_python_call_matches_the_code(where, code):
    import edgecv

    tree = ast.parse(code, where)  # compiles
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "edgecv" else \
            func.id if isinstance(func, ast.Name) and hasattr(edgecv, func.id) else None
        if name is None:
            continue
        target = getattr(edgecv, name, None)
        assert target is not None, f"{where}: edgecv.{name} does not exist"
        args = [_literal(a) for a in node.args]
        kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
        try:
            inspect.signature(target).bind(*args, **kwargs)
        except TypeError as exc:
            pytest.fail(f"{where}: edgecv.{name}({ast.unparse(node)[len(name) + 1:]}: {exc}")
        if name == "create_model" and isinstance(args[0], str):
            built = {k: v for k, v in kwargs.items() if k != "weights" and v is not inspect.Parameter.empty}
            edgecv.create_model(args[0], **built)  # the builder takes these arguments
