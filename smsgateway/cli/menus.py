"""``smsgateway menus check``: validate the USSD menus and the message catalog before they
reach a phone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from menus.catalog import DEFAULT_PATH as TEXTS_PATH
from menus.catalog import load_catalog
from menus.check import check, render_all
from menus.errors import DataError
from menus.model import DEFAULT_PATH, load_menu

from ..dashboard import i18n


@click.group("menus")
def menus_group() -> None:
    """USSD menus and the message catalog."""


def _fail(error: DataError | OSError) -> NoReturn:
    for problem in error.problems if isinstance(error, DataError) else [str(error)]:
        click.echo(f"error: {problem}", err=True)
    sys.exit(1)


@menus_group.command("check")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PATH,
              show_default=True, help="The menu file to check.")
@click.option("--texts", type=click.Path(dir_okay=False, path_type=Path), default=TEXTS_PATH,
              show_default=True, help="The message catalog to check.")
@click.option("--dashboard-texts", type=click.Path(dir_okay=False, path_type=Path),
              default=i18n.CATALOG_PATH, show_default=True,
              help="The dashboard's catalog to check.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check_command(path: Path, texts: Path, dashboard_texts: Path, strict: bool) -> None:
    """Every message and screen in every language (same placeholders in each); menus without
    dangling or unreachable screens; every page within 182 GSM-7 / 80 UCS-2 characters and
    every SMS within the segments it may take; the dashboard's texts in each of its languages
    with the same placeholders."""
    try:
        catalog = load_catalog(texts)
        menu = load_menu(path, catalog)
    except (DataError, OSError) as error:
        _fail(error)
    findings = check(menu)
    for finding in findings:
        click.echo(str(finding), err=True)
    # The dashboard's own catalog: the same rule, every language with the same placeholders.
    dashboard, dashboard_problems = i18n.load(dashboard_texts)
    for problem in dashboard_problems:
        click.echo(f"error: {problem}", err=True)
    errors = [*dashboard_problems, *(f for f in findings if f.level == "error" or strict)]
    if errors:
        click.echo(f"{path.name}, {texts.name}: {len(errors)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{path.name}: {len(menu.screens)} screens, {len(menu.languages)} languages, "
               f"{len(render_all(menu))} pages rendered; {texts.name}: "
               f"{len(catalog.entries)} messages; all within limits")
    click.echo(f"{dashboard_texts.name} (dashboard): {len(dashboard)} texts in "
               f"{', '.join(i18n.LANGUAGES)}, the same placeholders in each")
