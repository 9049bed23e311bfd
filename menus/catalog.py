"""The message catalog: every sentence a member or coordinator reads, per language.

The data is ``texts.yaml`` (see its header). This module reads it once per process, checks
its structure (every key in every language, the same placeholders in each) and fills texts:
:func:`text` is a dict read and one ``format_map``. Numbers and amounts given for the
placeholders the catalog names in ``fields`` are written the reader's way
(:mod:`menus.numbers`). Lengths against each channel's limit are checked in
:mod:`menus.check`. Pure: no I/O beyond reading the packaged YAML.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .encoding import fold_to_gsm7
from .errors import CatalogError, YamlError
from .languages import FALLBACK, LANGUAGES, LATIN_SCRIPT
from .numbers import as_decimal, money, number, signed, unit

DEFAULT_PATH = Path(__file__).with_name("texts.yaml")
#: Sections of the catalog and the channel each one's texts travel on.
CHANNELS = ("screen", "sms", "words")
#: What shows between the languages of a text shown in several at once, per channel.
JOINS = {"screen": "\n", "sms": " / ", "words": " / "}
#: The currency when a caller names none (the configured one is passed as ``currency``).
DEFAULT_CURRENCY = "MAD"

# libyaml's loader when PyYAML was built with it: ten times faster than the pure-Python one.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Texts = Mapping[str, str]


@dataclass(frozen=True)
class Entry:
    """One message: its texts per language, the channel it travels on, its size limit."""

    key: str
    channel: str
    texts: Texts
    segments: int = 1
    langs: tuple[str, ...] | None = None


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


#: Letters before which French elides "de" into "d'".
_ELIDING = frozenset("aeiouyhàâäéèêëîïôöûüAEIOUYHÀÂÉÈÊÎÔÛ")


@dataclass(frozen=True)
class _Of:
    """A value after "of": ``{x:de}`` for a thing, ``{x:De}`` for a name (French elides)."""

    value: Any
    lang: str

    def __format__(self, spec: str) -> str:
        word = str(self.value)
        if spec not in ("de", "De"):
            return format(self.value, spec)
        if self.lang != "fr":
            return word
        if spec == "de" and word[1:2].islower():
            # A product is a common noun: "Huile d'argan" reads "d'huile d'argan" mid-sentence
            # (a code such as ARGAN keeps its capitals).
            word = word[:1].lower() + word[1:]
        # A name keeps its case; h is elided before a product (huile), not a name (Hassan).
        eliding = _ELIDING if spec == "de" else _ELIDING - {"h", "H"}
        return f"d'{word}" if word[:1] in eliding else f"de {word}"


def fields_of(template: str) -> set[str]:
    """The ``{name}`` fields a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Catalog:
    """Every message, by key, and which placeholders hold numbers and amounts."""

    entries: Mapping[str, Entry]
    numbers: frozenset[str] = frozenset()
    money: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    #: template -> its number and money placeholders, worked out on first use.
    _typed: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    #: template -> its placeholders written after "of" (``{product:de}``).
    _of: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def text(self, key: str, lang: str, **params: Any) -> str:
        """Message ``key`` in ``lang`` (French when missing), with ``params`` filled in."""
        entry = self.entries[key]
        texts = entry.texts
        template = texts.get(lang) or texts.get(FALLBACK) or next(iter(texts.values()))
        filled = self.fill(template, params, lang)
        # An SMS in a Latin-script language stays GSM-7 (160 characters a segment, not 70):
        # what GSM-7 has (é, è, à, ù) is kept, the rest (ç, ê, ï of a name) folded.
        return fold_to_gsm7(filled) if entry.channel == "sms" and lang in LATIN_SCRIPT \
            else filled

    def all_languages(self, key: str, **params: Any) -> str:
        """A message in all its languages at once, for a reader whose language is unknown."""
        entry = self.entries[key]
        return JOINS[entry.channel].join(self.fill(t, params, lang)
                                         for lang, t in entry.texts.items())

    def fill(self, template: str, params: Mapping[str, Any], lang: str) -> str:
        """``template`` with ``{name}`` fields filled (missing ones empty), numbers localized."""
        if "{" not in template:
            return template
        typed = self._typed.get(template)
        if typed is None:
            self._of[template] = tuple(
                name for _, name, spec, _ in string.Formatter().parse(template)
                if name and spec in ("de", "De"))
            typed = self._typed[template] = tuple(
                sorted(n for n in fields_of(template)
                       if n in self.numbers or n in self.money or n in self.units))
        values = _Blank(params)
        for name in self._of.get(template) or ():
            if name in params:
                values[name] = _Of(params[name], lang)
        for name in typed:
            if name not in params:
                continue
            if name in self.numbers:
                values[name] = _number(params[name], lang)
            elif name in self.units:
                values[name] = unit(str(params[name]), lang)
            else:
                values[name] = _money(params[name], lang,
                                      params.get("currency") or DEFAULT_CURRENCY)
        return template.format_map(values)

    def __contains__(self, key: object) -> bool:
        return key in self.entries


def _number(value: Any, lang: str) -> Any:
    # A signed change keeps its "+"; text that is not a number (already written) is kept.
    if isinstance(value, bool) or as_decimal(value) is None:
        return value
    if isinstance(value, str) and value.strip().startswith("+"):
        return signed(value, lang)
    return number(value, lang)


def _money(value: Any, lang: str, currency: str) -> Any:
    if isinstance(value, bool) or as_decimal(value) is None:
        return value
    return money(value, lang, currency)


def texts_problems(value: Any, where: str, languages: Iterable[str]) -> tuple[Texts, list[str]]:
    """Texts per language from YAML, and what is wrong: a language missing, fields differing."""
    problems: list[str] = []
    languages = tuple(languages)
    if isinstance(value, str):
        value = {lang: value for lang in languages}
    if not isinstance(value, dict):
        return {}, [f"{where}: must map languages to texts"]
    for lang in languages:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            problems.append(f"{where}: missing translation '{lang}'")
    for lang in value:
        if lang not in languages:
            problems.append(f"{where}: '{lang}' is not one of {list(languages)}")
    try:
        names = {lang: fields_of(str(text)) for lang, text in value.items()}
    except ValueError:
        return {}, [*problems, f"{where}: a brace is not closed"]
    reference = names.get(FALLBACK, names.get(languages[0], set()) if languages else set())
    for lang, used in names.items():
        if used != reference:
            problems.append(f"{where}.{lang}: fields {sorted(used)} differ from "
                            f"{FALLBACK} {sorted(reference)}")
    return {str(k): str(v) for k, v in value.items()}, problems


def _entry(key: str, channel: str, body: Any, problems: list[str]) -> Entry:
    where = f"{channel}.{key}"
    body = dict(body) if isinstance(body, dict) else body
    langs = segments = None
    if isinstance(body, dict):
        langs = tuple(body.pop("langs")) if body.get("langs") else None
        segments = body.pop("segments", None)
    if segments is not None and (channel != "sms" or not isinstance(segments, int)
                                 or segments < 1):
        problems.append(f"{where}.segments: a whole number of SMS segments, on sms texts only")
        segments = None
    texts, found = texts_problems(body, where, langs or LANGUAGES)
    problems.extend(found)
    return Entry(key, channel, texts, segments or 1, langs)


def build_catalog(raw: Any) -> tuple[Catalog | None, list[str]]:
    """Build a :class:`Catalog` from parsed YAML; return it and the problems found."""
    if not isinstance(raw, dict):
        return None, ["the catalog must be a mapping"]
    problems: list[str] = []
    entries: dict[str, Entry] = {}
    for channel in CHANNELS:
        section = raw.get(channel) or {}
        if not isinstance(section, dict):
            problems.append(f"{channel}: must map keys to texts")
            continue
        for key, body in section.items():
            if key in entries:
                problems.append(f"{channel}.{key}: also in {entries[key].channel}")
            entries[str(key)] = _entry(str(key), channel, body, problems)
    for section in raw:
        if section not in (*CHANNELS, "fields"):
            problems.append(f"{section}: not a section (one of {[*CHANNELS, 'fields']})")
    numbers, amounts = _fields(raw.get("fields"), problems)
    units = raw.get("fields", {}).get("units", []) if isinstance(raw.get("fields"), dict) else []
    if not isinstance(units, list) or not all(isinstance(n, str) for n in units):
        problems.append("fields.units: a list of placeholder names")
        units = []
    for entry in entries.values():
        for lang, template in entry.texts.items():
            used = fields_of(template)
            if "currency" in used and used & amounts:
                problems.append(f"{entry.channel}.{entry.key}.{lang}: an amount carries its "
                                "currency: no {currency} next to it")
    return Catalog(entries, numbers, amounts, frozenset(units)), problems


def _fields(raw: Any, problems: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The placeholder names holding numbers and amounts (``fields:`` in the catalog)."""
    found: dict[str, frozenset[str]] = {}
    for kind in ("numbers", "money"):
        names = (raw or {}).get(kind) if isinstance(raw, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append(f"fields.{kind}: a list of placeholder names")
            names = []
        found[kind] = frozenset(names)
    if found["numbers"] & found["money"]:
        problems.append(f"fields: {sorted(found['numbers'] & found['money'])} both a number "
                        "and money")
    return found["numbers"], found["money"]


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML data file; raise :class:`YamlError` naming the line of a syntax error."""
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise YamlError(f"{Path(path).name}: not valid YAML{where}") from None


def load_catalog(path: Path | str = DEFAULT_PATH) -> Catalog:
    """Read and build the catalog; raise :class:`CatalogError` listing every fault."""
    try:
        raw = read_yaml(path)
    except YamlError as error:
        raise CatalogError([str(error)]) from None
    catalog, problems = build_catalog(raw)
    if problems:
        raise CatalogError(problems)
    assert catalog is not None
    return catalog


_lock = threading.Lock()
_packaged: Catalog | None = None


def packaged() -> Catalog:
    """The packaged catalog, read once per process (texts change only with a deploy).

    The lock keeps the threads of a fresh worker from all reading it at once; after that a
    lookup takes no lock.
    """
    global _packaged
    if _packaged is None:
        with _lock:
            if _packaged is None:
                _packaged = load_catalog()
    return _packaged


def text(key: str, lang: str, **params: Any) -> str:
    """Message ``key`` of the packaged catalog in ``lang``, with ``params`` filled in."""
    return packaged().text(key, lang, **params)


def all_languages(key: str, **params: Any) -> str:
    """Message ``key`` of the packaged catalog in all its languages at once."""
    return packaged().all_languages(key, **params)

