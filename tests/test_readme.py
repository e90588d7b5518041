"""The README and docs/ say what works: every command block marked runnable (``<!-- runnable -->`` on the line before
a ```bash fence) parses with the tool's own binder, every script it runs exists, every relative link resolves, and
the README stays short enough to read in ten minutes.

Only parsing is checked (``Command.parse(argv, check=False)``: recipes are loaded, flag names, types and ranges
checked, input files not required to exist); the quickstart test runs the pipeline itself."""
import ast
import importlib
import pathlib
import re
import shlex

import pytest

from electra.configs import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
MARK = "<!-- runnable -->"
README_MAX_LINES = 320
SCRIPT_RUNNERS = ("bash", "sh", "source", "sbatch")   # set-up / launcher scripts: checked for existence only


def _console_commands() -> dict[str, str]:
    """setup.py's ``COMMANDS`` (console command → "module:function"), read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMMANDS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no COMMANDS dict")


def _launcher_module(script: pathlib.Path) -> str:
    """The module a ``run_scripts/*.py`` launcher imports its entry point from."""
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("electra", "data_prep"):
            return node.module
    raise AssertionError(f"{script.relative_to(ROOT)} imports no electra/data_prep entry point")


def _runnable_blocks(page: pathlib.Path) -> list[tuple[int, str]]:
    """``(line number of the fence, block text)`` for every ```bash block right after the marker."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert i + 1 < len(lines) and lines[i + 1].strip() == "```bash", \
            f"{page.name}:{i + 1}: {MARK} must be followed by a ```bash fence"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        blocks.append((i + 2, "\n".join(lines[i + 2:end])))
    return blocks


def _commands(block: str) -> list[str]:
    """Shell commands of a block: comments dropped, ``\\`` continuations joined."""
    joined = re.sub(r"\\\n", " ", block)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


def _cases() -> list:
    cases = []
    for page in PAGES:
        for line, block in _runnable_blocks(page):
            for command in _commands(block):
                cases.append(pytest.param(command, id=f"{page.relative_to(ROOT)}:{line}:{command[:60]}"))
    return cases


def _strip(word: str) -> str:
    return word[len(".venv/bin/"):] if word.startswith(".venv/bin/") else word


def _resolve(words: list[str]) -> tuple[str, str | None, list[str]]:
    """``(kind, target, argv)``: kind "script" (target: a path that must exist) or "module" (target: the module whose
    ``COMMAND`` parses argv)."""
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):   # VAR=value prefixes
        words = words[1:]
    assert words, "an empty command"
    program, *rest = words
    program = _strip(program)
    if program == "horovodrun":                 # horovodrun -np N [-H hosts] python ...
        while rest and rest[0].startswith("-"):
            rest = rest[1:] if "=" in rest[0] or rest[0] in ("--gloo", "--mpi") else rest[2:]
        assert rest, "horovodrun launches nothing"
        program, *rest = rest
        program = _strip(program)
    if program in SCRIPT_RUNNERS:
        script = next(w for w in rest if not w.startswith("-"))
        return "script", script, []
    if program in ("python", "python3"):
        assert rest, "python without a program"
        if rest[0] == "-m":
            return "module", rest[1], rest[2:]
        script = ROOT / rest[0]
        assert script.is_file(), f"{rest[0]} does not exist"
        return "module", _launcher_module(script), rest[1:]
    commands = _console_commands()
    assert program in commands, (f"{program!r} is neither a setup.py console command ({sorted(commands)}), a "
                                 f"run_scripts launcher, python -m, nor a script run by {SCRIPT_RUNNERS}")
    return "module", commands[program].split(":")[0], rest


@pytest.mark.parametrize("command", _cases())
def test_every_runnable_command_parses_with_its_tools_binder(command):
    kind, target, argv = _resolve(shlex.split(command))
    if kind == "script":
        assert (ROOT / target).is_file(), f"{target} does not exist"
        return
    module = importlib.import_module(target)
    parser = getattr(module, "COMMAND", None)
    assert parser is not None and hasattr(parser, "parse"), \
        f"{target} exposes no COMMAND (electra.commands.entry.Command): its flags cannot be checked"
    argv = [a for a in argv if a not in ("--help", "-h")]
    try:
        parser.parse(argv, check=False)
    except ConfigError as e:                       # an unknown flag, a bad value
        pytest.fail(f"{command}\n  was refused by {target}'s binder: {e}")


def test_the_docs_mark_the_pipeline_runnable():
    """The check above would pass vacuously if the markers went missing."""
    pages = {page.name: len(_runnable_blocks(page)) for page in PAGES}
    assert pages["README.md"] >= 2 and sum(pages.values()) >= 8, pages
    programs = {_strip(shlex.split(c)[0]) for page in PAGES for _, b in _runnable_blocks(page) for c in _commands(b)}
    assert set(_console_commands()) <= programs, sorted(set(_console_commands()) - programs)


def test_the_readme_reads_in_ten_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def _links(page: pathlib.Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)   # code is not linked
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file(page):
    missing = [t for t in _links(page) if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"
