"""Sums of money named in announcements ("$400 million", "US$1.2 billion", "A$50 million",
"$24.8M", "USD 200 million", "1,000億円", "1兆2,000億円", "10億ドル"), read into a currency
and a value and written one way: `USD 400 million`, `JPY 100 billion`, `AUD 1.2 billion`.

A bare "$" is the currency the caller says (an Australian department's "$1.2 billion" is in
Australian dollars). Full-width digits and signs count (NFKC). The patterns are fixed here, never
taken from a rule file."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# the currency a prefix glued to "$" names
_DOLLAR_PREFIX = {
    "US": "USD",
    "U.S.": "USD",
    "A": "AUD",
    "AU": "AUD",
    "C": "CAD",
    "NZ": "NZD",
    "HK": "HKD",
    "S": "SGD",
}
_CODES = ("USD", "AUD", "CAD", "JPY", "EUR", "GBP", "CNY", "NZD", "KRW", "INR")
_SCALES = {
    "thousand": Decimal(10) ** 3,
    "k": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "m": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "b": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
    "tn": Decimal(10) ** 12,
}
_CJK_UNITS = {"兆": Decimal(10) ** 12, "億": Decimal(10) ** 8, "亿": Decimal(10) ** 8, "万": Decimal(10) ** 4}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"


def _scale(n: str = "") -> str:
    """An optional scale word, or a single letter glued to the number ("$24.8M"), never the start
    of a word ("$400 more" is $400)."""
    return (
        rf"(?:(?:\s?(?P<scale{n}>trillion|billion|million|thousand|bn|tn|mn)|(?P<letter{n}>[mbk]))(?![a-z]))?"
    )


# "$5 million", "US$1.2 billion", "A$50m", "€2 billion"; "USD 200 million", "USD $200 million",
# "AUD1 billion". Prefixes and codes are upper case ("a $35 million contract" is in the default)
_WESTERN = re.compile(
    r"(?:(?<![A-Za-z])(?-i:(?P<pre>U\.S\.|US|AU|NZ|HK|A|C|S)))?(?P<sign>[$€£¥])\s?"
    rf"(?P<num>{_NUM}){_scale()}"
    rf"|(?<![A-Za-z])(?-i:(?P<code>{'|'.join(_CODES)}))\s?\$?\s?(?P<num2>{_NUM}){_scale('2')}",
    re.I,
)
# 1,000億円, 1兆2,000億円, 3億5,000万円, 約390億円, 10億ドル, 5亿美元, 20亿元; 500円
_CJK = re.compile(
    rf"(?P<parts>(?:(?:{_NUM})\s?[兆億亿万])+)(?P<rest>{_NUM})?\s?(?P<unit>円|米ドル|ドル|美元|人民币|元)"
    rf"|(?P<plain>{_NUM})\s?円"
)


@dataclass(frozen=True)
class Money:
    """A sum: an ISO 4217 currency code and its value in units of that currency."""

    currency: str
    value: Decimal

    def __str__(self) -> str:
        """`USD 400 million`, `JPY 1.2 billion`, `AUD 250,000`."""
        for size, word in ((12, "trillion"), (9, "billion"), (6, "million")):
            unit = Decimal(10) ** size
            if abs(self.value) >= unit:
                return f"{self.currency} {_figure(self.value / unit)} {word}"
        return f"{self.currency} {_figure(self.value)}"


def _figure(value: Decimal) -> str:
    """A number as people write it: 1.2, 24.8, 400, 1,000 (at most three decimals)."""
    text = f"{value.quantize(Decimal('0.001')):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _scaled(num: str, scale: str | None) -> Decimal | None:
    value = _number(num)
    if value is None:
        return None
    return value * _SCALES[scale.lower()] if scale else value


def find_money(text: str, currency: str = "USD") -> Money | None:
    """The first sum of money `text` names (a bare "$" being `currency`), or None."""
    found = _all(unicodedata.normalize("NFKC", text), currency)
    return found[0][1] if found else None


def parse_money(text: str, currency: str = "USD") -> Money | None:
    """`text` read as one sum of money (what a rule's `(?P<amount>…)` captured), or None."""
    return find_money(text, currency)


def _all(text: str, currency: str) -> list[tuple[int, Money]]:
    """Every sum named in `text` with its position, in order of position; of two readings of one
    stretch of text ("¥300" and "¥300億円") the longer."""
    spans: list[tuple[int, int, Money]] = []
    for m in _WESTERN.finditer(text):
        if m.group("num") is not None:
            code = _sign_currency(m.group("sign"), m.group("pre"), currency)
            value = _scaled(m.group("num"), m.group("scale") or m.group("letter"))
        else:
            code = m.group("code")
            value = _scaled(m.group("num2"), m.group("scale2") or m.group("letter2"))
        if code is not None and value is not None:
            spans.append((m.start(), m.end(), Money(code, value)))
    for m in _CJK.finditer(text):
        money = _cjk(m)
        if money is not None:
            spans.append((m.start(), m.end(), money))
    kept: list[tuple[int, int, Money]] = []
    for start, stop, money in sorted(spans, key=lambda s: s[0] - s[1]):  # the longest first
        if all(stop <= s or start >= e for s, e, _ in kept):
            kept.append((start, stop, money))
    return sorted(((start, money) for start, _, money in kept), key=lambda x: x[0])


def _sign_currency(sign: str, prefix: str | None, default: str) -> str | None:
    if sign == "$":
        return _DOLLAR_PREFIX[prefix] if prefix else default
    if prefix:  # "US€" is no currency
        return None
    return {"€": "EUR", "£": "GBP", "¥": "JPY"}[sign]


def _cjk(m: re.Match[str]) -> Money | None:
    """A sum written with 兆/億/万 and 円, ドル, 美元 or 元."""
    if m.group("plain") is not None:
        value = _number(m.group("plain"))
        return Money("JPY", value) if value is not None else None
    total = Decimal(0)
    for num, unit in re.findall(rf"({_NUM})\s?([兆億亿万])", m.group("parts")):
        value = _number(num)
        if value is None:
            return None
        total += value * _CJK_UNITS[unit]
    if m.group("rest"):
        total += _number(m.group("rest")) or Decimal(0)
    unit = m.group("unit")
    code = {"円": "JPY", "米ドル": "USD", "ドル": "USD", "美元": "USD"}.get(unit, "CNY")
    return Money(code, total)
