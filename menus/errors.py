"""The menus package's exceptions, in one place."""

from __future__ import annotations


class DataError(ValueError):
    """A data file cannot be used; ``problems`` lists every fault found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class MenuError(DataError):
    """The menu file cannot be used."""


class CatalogError(DataError):
    """The message catalog cannot be used."""


class YamlError(ValueError):
    """A data file is not valid YAML (the message names the file and the line)."""
