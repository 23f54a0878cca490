"""Every command line quoted in README.md and docs/ still parses: a renamed or removed flag, command or
argument fails here, not in a user's terminal.

Each ``vcam-sharpen ...`` line in a code block goes through click's own parser (``make_context``: options,
arguments, choices and ranges, without running the command); a value that only fails because a file
named in the example does not exist here is fine. ``python -m train ...`` lines go through the recipe's
argparse parser the same way.
"""

from __future__ import annotations

import re
import shlex

import click
import pytest

from conftest import REPO
from train import recipe, unsharp
from vcam_sharpen.cli import cli

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SEPARATORS = ("&&", "|", ";", "||", "sudo")
ASSIGNMENT = re.compile(r"^(\w+)=(.*)$")
VARIABLE = re.compile(r"\$(\w+)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def quoted_commands() -> list[tuple[str, list[str]]]:
    """``(where, argv)`` for every vcam-sharpen / train command in a code block of the docs."""
    found = []
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text()):
            variables: dict[str, str] = {}  # shell variables the block sets (R="--data-mix mix ...")
            for line in block.splitlines():
                if m := ASSIGNMENT.match(line):
                    variables[m[1]] = " ".join(shlex.split(m[2]))
                expanded = VARIABLE.sub(lambda m: variables.get(m[1], "X"), line)
                try:
                    words = shlex.split(expanded, comments=True)
                except ValueError:
                    continue
                # a command may follow `&&` (the set-up lines); it ends at the next && | ;
                starts = [i for i, w in enumerate(words) if (i == 0 or words[i - 1] in SEPARATORS) and
                          w == "vcam-sharpen" or w == "-m" and words[i + 1: i + 2] == ["train"]]
                for i in starts:
                    argv = []
                    for w in words[i:]:
                        if w in SEPARATORS:
                            break
                        argv.append(w)
                    found.append((f"{doc.name}: {line.strip()}", argv))
    return found


COMMANDS = quoted_commands()


def test_the_docs_quote_commands():
    names = {argv[0] for _, argv in COMMANDS}
    assert "vcam-sharpen" in names and "-m" in names and len(COMMANDS) > 30


def _remaining(ctx: click.Context) -> list[str]:
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def _parse_click(argv: list[str]) -> None:
    """Parse like click does before it runs a command; click's own make_context, not the CLI's, which
    turns errors into an exit."""
    command: click.Command = cli
    ctx = click.Command.make_context(cli, "vcam-sharpen", argv)
    args = _remaining(ctx)
    while isinstance(command, click.Group) and args:
        name, command, args = command.resolve_command(ctx, args)
        ctx = click.Command.make_context(command, name, args, parent=ctx)
        args = _remaining(ctx) if isinstance(command, click.Group) else []


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w[:80] for w, _ in COMMANDS])
def test_a_quoted_command_parses(where, argv, capsys):
    if argv[0] == "-m":  # python -m train ...
        args = argv[2:]
        try:
            if args[:1] == ["unsharp"]:
                unsharp.parser().parse_args(args[1:])
            else:
                recipe.parse(args)
        except SystemExit as e:
            err = capsys.readouterr().err
            assert e.code == 0 or "unrecognized" not in err and "invalid choice" not in err, f"{where}: {err}"
        return
    try:
        _parse_click(argv[1:])
    except click.exceptions.Exit:
        pass  # --help and friends
    except (click.NoSuchOption, click.BadOptionUsage, click.BadArgumentUsage) as e:
        pytest.fail(f"{where}: {e.format_message()}")
    except click.UsageError as e:
        if isinstance(e, click.BadParameter) and re.search(r"does not exist|is a directory|not readable",
                                                           e.format_message()):
            return  # an example file (talk.mp4) that this machine lacks
        pytest.fail(f"{where}: {e.format_message()}")
