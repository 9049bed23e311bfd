"""``smsgateway menus check``: validate the USSD menus before they reach a phone."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from menus.check import check, render_all
from menus.model import DEFAULT_PATH, MenuError, load_menu


@click.group("menus")
def menus_group() -> None:
    """USSD menus."""


@menus_group.command("check")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PATH,
              show_default=True, help="The menu file to check.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check_command(path: Path, strict: bool) -> None:
    """Translations, dangling or unreachable screens, every page of every screen in every
    language within 182 GSM-7 / 80 UCS-2 characters."""
    try:
        menu = load_menu(path)
    except (MenuError, OSError) as error:
        problems = error.problems if isinstance(error, MenuError) else [str(error)]
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    findings = check(menu)
    for finding in findings:
        click.echo(str(finding), err=True)
    errors = [f for f in findings if f.level == "error" or strict]
    pages = len(render_all(menu))
    if errors:
        click.echo(f"{path.name}: {len(errors)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{path.name}: {len(menu.screens)} screens, {len(menu.languages)} languages, "
               f"{pages} pages rendered, all within limits")
