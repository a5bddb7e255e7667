"""Benchmark: classify 10,000 documents against 200 rules, with the engine and with a naive loop.

Builds 10,000 documents (`tracker.rules.DocView`) from the bundled sample site: the 8 MOFCOM
article pages, the 2 White House framework items with bodies, the 30 White House
presidential-action titles and the 20 Federal Register titles. Each copy is varied: other
announcement numbers and dates, other minerals from the vocabulary, other partner countries, lines
shuffled and dropped, some titles rewritten. The rules are the 13 real rules of `rules/` plus
synthetic rules up to 200, built the way the rule files build theirs (`Rule` instances with
all/any/none keyword conditions, some with regular expressions), placed before the real ones.

For 13 (the real rules only), 50, 100 and 200 rules, in the same run and on the same documents,
it times:

  scan    `RuleSet.matcher.scan(title, text)` alone
  engine  `RuleSet.classify(doc)`: one Aho-Corasick scan for every alias and keyword, then
          each rule checked against the scan's hits (and the matching rule's event draft built)
  naive   a plain loop over the rules, each condition checked one by one: `keyword in text` for
          every literal (ASCII keywords at word boundaries, as the engine does), `pattern.search`
          for every regular expression, and every mineral alias of the vocabulary looked up with
          `in` (once per document) when a rule needs to know whether minerals are named

It prints documents/s and MB/s (UTF-8 of title + text) for both, the speed-up, and checks that
both picked the same first matching rule for every document. Exits 1 with a FAIL line when the
speed-up at the largest rule count is below --min-speedup (default 5) or the two disagree.
Run from the repository root:

    python benchmarks/classify.py [--docs N] [--naive-docs N] [--rules N] [--min-speedup X]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TypeVar

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import load_config
from tracker.demo.server import site_root
from tracker.events import document_view
from tracker.rulefile import load_rules
from tracker.rules import Cond, DateSpec, DocView, RefSpec, Rule, RuleSet, default_rules_dir
from tracker.sources import get_kind
from tracker.textutil import find_date, mofcom_number
from tracker.vocab import Vocabulary

RULE_COUNTS = (13, 50, 100, 200)
SEED = 20261123
T = TypeVar("T")
SYNTHETIC_FILE = "<synthetic: benchmarks/classify.py>"

# how many of the 10,000 documents each sample family gives (MOFCOM pages are the long ones)
MIX = (("mofcom", 0.40), ("wh-framework", 0.10), ("wh-action", 0.25), ("fr", 0.25))

# --- the sample documents ---------------------------------------------------------------------


def load_samples() -> dict[str, list[DocView]]:
    """The sample site's documents through the real source parsers, as the engine sees them."""
    root = site_root()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        config = load_config(None, use_user_config=False, db_path=Path(tmp) / "unused.db")

    def parse(source: str, path: str) -> list[DocView]:
        src = config.source(source)
        kind = get_kind(src.kind)(src, None, None)  # type: ignore[arg-type]  # no HTTP, no store: parsing only
        views = []
        for d in kind.parse_file((root / path).read_bytes(), f"https://example.invalid/{path}"):
            views.append(document_view(replace(d, source=src.name, source_kind=src.kind)))
        return views

    mofcom = [
        str(p.relative_to(root))
        for p in sorted((root / "mofcom").rglob("*"))
        if p.suffix in (".html", ".shtml")
    ]
    samples: dict[str, list[DocView]] = {k: [] for k, _ in MIX}
    for path in mofcom:
        if "/art/" in path or path.endswith(".shtml"):  # article pages, not list pages
            samples["mofcom"] += parse("mofcom", path)
    samples["wh-action"] = parse("whitehouse", "whitehouse/presidential-actions/feed/index.xml")
    samples["wh-framework"] = [
        v for v in parse("whitehouse", "whitehouse/briefings-statements/feed/index.xml") if v.text
    ]
    samples["fr"] = parse("federalregister", "federalregister/api/v1/documents.json")
    return samples


# --- variations ----------------------------------------------------------------------------------

MONTHS = "January February March April May June July August September October November December".split()
EN_DATE = re.compile(rf"\b(?:{'|'.join(MONTHS)}) \d{{1,2}}, \d{{4}}\b")
ZH_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
ZH_YEAR = re.compile(r"(20\d{2})(?=年)")
PARTNERS = (
    "Japan",
    "Australia",
    "Canada",
    "India",
    "Brazil",
    "Saudi Arabia",
    "United Kingdom",
    "Korea",
    "Chile",
    "Indonesia",
    "Kazakhstan",
    "Argentina",
)
EN_FRAME = (
    "Framework",
    "Memorandum of Understanding",
    "Joint Statement",
    "Partnership",
    "Agreement",
    "Compact",
)
# real 2025 titles, and titles in the same style, for presidential actions that name minerals
EN_MINERAL_TITLES = (
    "Adjusting Imports of Processed {M} and Their Derivative Products into the United States",
    "Immediate Measures to Increase American Mineral Production",
    "Unleashing America's Offshore Critical Minerals and Resources",
    "Temporary Suspension of Additional Duties on Imports of {M}",
    "Ensuring a Reliable Supply of {M} and {M2} for the National Defense",
    "Addressing Risks From {M} Supply Chain Dependence on Foreign Adversaries",
    "Modifying the Scope of Products of {C} Subject to the Additional Duties on {M}",
    "Export Controls on {M} and {M2} Items",
)
ZH_TITLES = (
    "商务部 海关总署公告{Y}年第{N}号 关于对{M}相关物项实施出口管制的公告",
    "商务部公告{Y}年第{N}号 关于优化调整{M}物项出口管制措施的公告",
    "商务部 海关总署公告{Y}年第{N}号 关于暂停实施对{M}相关物项出口管制措施的公告",
    "商务部公告{Y}年第{N}号 关于恢复实施商务部公告{Y0}年第{N0}号的公告",
    "商务部公告{Y}年第{N}号 关于取消对{M}相关物项出口管制的公告",
    "商务部新闻发言人就{M}相关物项出口管制措施答记者问",
)


@dataclass
class Pools:
    """Names to swap in, from the vocabulary."""

    zh_chars: list[str]  # the one-character Chinese name of each mineral (镓, 锗 ...)
    en_names: list[str]  # English names (Gallium, Rare Earths ...)


def pools(vocab: Vocabulary) -> Pools:
    chars = []
    for t in vocab.of_type("mineral"):
        one = [a for a in t.aliases if len(a) == 1 and "\u4e00" <= a <= "\u9fff"]
        if one:
            chars.append(one[0])
    names = [t.name for t in vocab.of_type("mineral", "group") if t.name != "Lead"]
    return Pools(chars, names)


def vary_mofcom(base: DocView, rng: random.Random, p: Pools) -> DocView:
    title, text = base.title, base.text
    # other minerals: some of the one-character mineral names the page uses become others
    present = [c for c in p.zh_chars if c in title or c in text]
    chosen = [c for c in present if rng.random() < 0.6]
    if chosen:
        table = str.maketrans(dict(zip(chosen, rng.sample(p.zh_chars, len(chosen)), strict=True)))
        title, text = title.translate(table), text.translate(table)
    # its own announcement number, then every year shifted and every date moved within its year
    year = base.published.year if base.published else 2025
    delta = rng.randint(-3, 6)
    number = rng.randint(1, 120)
    own = re.search(r"(\d{4})年第(\d+)号", title)
    if own:
        old = own.group(0)
        new = f"{own.group(1)}年第{number}号"
        title, text = title.replace(old, new), text.replace(old, new)

    def shift(m: re.Match[str]) -> str:
        return str(int(m.group(1)) + delta)

    def move(m: re.Match[str]) -> str:
        return f"{m.group(1)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"

    title, text = ZH_YEAR.sub(shift, title), ZH_YEAR.sub(shift, text)
    text = ZH_DATE.sub(move, text)
    # a fifth of the titles rewritten in the style of other announcements
    if rng.random() < 0.2:
        m1, m2 = rng.sample(p.zh_chars, 2)
        title = rng.choice(ZH_TITLES).format(
            Y=year + delta,
            N=number,
            M=rng.choice((m1, f"{m1}、{m2}", "稀土", "石墨", "超硬材料")),
            Y0=year + delta - 1,
            N0=rng.randint(1, 120),
        )
    # the body: header fields stay first, the rest is shuffled, some lines dropped
    lines = text.split("\n")
    head = [ln for ln in lines[:2] if ln.startswith("【")]
    rest = lines[len(head) :]
    rng.shuffle(rest)
    rest = [ln for ln in rest if rng.random() > 0.15] or rest[:1]
    text = "\n".join(head + rest)
    issued = next((ln for ln in head if "发文日期" in ln), "")
    published = find_date(issued) or (base.published and base.published.replace(year=year + delta))
    return replace(
        base, title=title, text=text, published=published, doc_number=mofcom_number(title) or base.doc_number
    )


def _en_date(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(2024, 2031)}"


def vary_framework(base: DocView, rng: random.Random, p: Pools) -> DocView:
    title, text = base.title, base.text
    partner = rng.choice(PARTNERS)
    for old in ("Japan", "Australia"):
        title, text = title.replace(old, partner), text.replace(old, partner)
    if rng.random() < 0.4:
        title = title.replace("Framework", rng.choice(EN_FRAME), 1)
    if rng.random() < 0.4:
        m1, m2 = rng.sample(p.en_names, 2)
        text = text.replace("critical minerals and rare earths", f"{m1.lower()} and {m2.lower()}", 2)
        if rng.random() < 0.5:
            title = title.replace("Critical Minerals and Rare Earths", f"{m1} and {m2}")
    text = EN_DATE.sub(lambda _: _en_date(rng), text)
    lines = text.split("\n")
    body = lines[1:]
    rng.shuffle(body)
    text = "\n".join(lines[:1] + [ln for ln in body if rng.random() > 0.15])
    return replace(base, title=title, text=text, published=date(rng.randint(2024, 2031), 1, 1))


def vary_title(base: DocView, rng: random.Random, p: Pools) -> DocView:
    """A presidential action or Federal Register document, known by its title only."""
    title = re.sub(r"\b20\d{2}\b", lambda _: str(rng.randint(2024, 2031)), base.title)
    if rng.random() < 0.3:
        m1, m2 = rng.sample(p.en_names, 2)
        title = rng.choice(EN_MINERAL_TITLES).format(M=m1, M2=m2, C=rng.choice(PARTNERS))
    if rng.random() < 0.1:
        title = title.upper()
    number = base.doc_number
    if number and number.split()[-1].isdigit():
        number = f"{number.rsplit(' ', 1)[0]} {int(number.split()[-1]) + rng.randint(1, 999)}"
    return replace(base, title=title, doc_number=number, published=date(rng.randint(2024, 2031), 6, 1))


VARY: dict[str, Callable[[DocView, random.Random, Pools], DocView]] = {
    "mofcom": vary_mofcom,
    "wh-framework": vary_framework,
    "wh-action": vary_title,
    "fr": vary_title,
}


def make_documents(
    samples: dict[str, list[DocView]], vocab: Vocabulary, n: int, rng: random.Random
) -> dict[str, list[DocView]]:
    """`n` varied documents, by sample family, in the shares of MIX."""
    p = pools(vocab)
    docs: dict[str, list[DocView]] = {}
    made = 0
    for family, share in MIX:
        count = round(n * share) if family != MIX[-1][0] else n - made
        bases = samples[family]
        docs[family] = [VARY[family](bases[i % len(bases)], rng, p) for i in range(count)]
        rng.shuffle(docs[family])
        for d in docs[family]:
            d.id = made
            made += 1
    return docs


# --- synthetic rules -------------------------------------------------------------------------------

# phrases of the kind rule files use; the *_RARE ones are not in the sample documents, the
# *_COMMON ones are (so that some documents are classified by a synthetic rule)
ZH_RARE = (
    "不可靠实体清单",
    "出口管制管控名单",
    "关注名单",
    "反倾销",
    "反补贴",
    "保障措施",
    "加征关税",
    "关税税率",
    "进口配额",
    "反外国制裁",
    "产业损害",
    "贸易救济",
    "原产地规则",
    "通用许可",
    "合规指引",
    "行政处罚决定",
    "听证会",
    "数据出境",
    "对外投资",
    "军事最终用户",
    "稀土开采总量",
    "冶炼分离",
    "收储",
    "国家储备",
    "出口退税",
    "出口许可证申领",
    "最终用户和最终用途证明",
    "全面禁止",
    "实体清单",
    "反制措施",
)
ZH_COMMON = (
    "两用物项",
    "出口许可",
    "稀土",
    "防扩散",
    "出口经营者",
    "税则号列",
    "海关商品编号",
    "许可证管理",
    "技术进出口",
    "临时出口管制",
    "境外组织和个人",
    "战略矿产",
    "供应链安全",
)
ZH_VERBS = (
    "调整",
    "暂停",
    "暂停实施",
    "延长",
    "延期",
    "恢复",
    "取消",
    "废止",
    "修订",
    "补充",
    "公布",
    "发布",
    "实施",
    "开展",
    "启动",
    "终止",
    "裁定",
    "决定",
    "通知",
    "更新",
    "移出",
    "列入",
    "增列",
    "豁免",
    "优化",
    "加强",
)
ZH_NONE = ("答记者问", "解读", "征求意见", "草案", "图解")
EN_RARE = (
    "section 232",
    "tariff",
    "tariffs",
    "antidumping",
    "countervailing",
    "national defense stockpile",
    "stockpile",
    "seabed",
    "deep sea",
    "permitting",
    "nuclear fuel",
    "semiconductor",
    "battery",
    "magnet",
    "foreign adversary",
    "entity list",
    "outbound investment",
    "price floor",
    "offtake",
    "smelter",
    "refinery",
    "processing capacity",
    "recycling",
    "federal lands",
    "loan guarantee",
    "equity stake",
    "reciprocal",
    "critical infrastructure",
    "export license",
    "foreign direct product",
)
EN_COMMON = (
    "duties",
    "importation",
    "national emergency",
    "products",
    "imports",
    "resources",
    "strategic reserve",
    "supply chain",
    "production",
    "national defense",
)
EN_VERBS = (
    "adjusting",
    "modifying",
    "suspending",
    "suspension",
    "extending",
    "extension",
    "imposing",
    "establishing",
    "terminating",
    "continuation",
    "amending",
    "amendment",
    "revision",
    "removal",
    "addition",
    "expanding",
    "restricting",
    "restriction",
    "prohibiting",
    "ban",
    "securing",
    "ensuring",
    "increasing",
    "unleashing",
    "accelerating",
    "strengthening",
    "protecting",
    "promoting",
)
EN_NONE = ("correction", "withdrawal", "nominations", "request for comments", "notice of inquiry")
EN_KINDS = (("wordpress-rss", "federalregister", "rss"), ("federalregister",), ("wordpress-rss", "rss"))
EN_SUBTYPES = ("Executive Orders", "Executive Order", "Proclamations", "Proclamation")
ZH_EFFECTIVE = DateSpec(
    patterns=(
        re.compile(r"自(?P<date>\d{4}年\d{1,2}月\d{1,2}日)起(?:正式)?(?:实施|施行|执行)"),
        re.compile(r"(?P<announced>自公布之日起|自发布之日起|自即日起)"),
    ),
    default="announced",
)
EN_EFFECTIVE = DateSpec(
    patterns=(re.compile(r"effective (?:on |as of )?(?P<date>[A-Z][a-z]+\.? \d{1,2}, \d{4})"),),
    default="announced",
)
ZH_REGEXES = (r"第\s*\d+\s*号", r"\d{4}年\d{1,2}月\d{1,2}日", r"[（(]参考(?:海关商品编号|税则号列)")
EN_REGEXES = (r"(?i)\bexecutive order \d{5}\b", r"\b(?:19|20)\d{2}\b", r"(?i)\bsection \d+\b")
ACTIONS = ("new_control", "expanded_control", "suspension", "lift", "list_addition", "other")
HOT = 1 / 5  # share of synthetic rules built around a phrase the samples use
GENERIC_VERBS = {"实施", "发布", "公布", "决定", "开展", "通知"}


def synthetic_rules(n: int, rng: random.Random) -> list[Rule]:
    """`n` rules built like the ones in rules/*.yaml: every other one for MOFCOM pages in Chinese,
    the others for the US sources in English. Each has one to three keyword conditions (all / any
    / none of 1 to 9 literals: topics, verbs, verb + topic phrases), one in eight a regular
    expression too; most are about a topic the samples never mention."""
    rules = []
    for i in range(n):
        zh = i % 2 == 0
        rare, common, none = (ZH_RARE, ZH_COMMON, ZH_NONE) if zh else (EN_RARE, EN_COMMON, EN_NONE)
        verbs: tuple[str, ...] = ZH_VERBS if zh else EN_VERBS
        hot = rng.random() < HOT
        topic = rng.choice(common if hot else rare)
        if hot:  # not the verbs nearly every MOFCOM title has
            verbs = tuple(v for v in verbs if v not in GENERIC_VERBS)
        others = rng.sample([t for t in rare if t != topic], 4)
        sep = "" if zh else " "
        phrases = tuple(f"{rng.choice(verbs)}{sep}{t}" for t in [topic, *others][: rng.randint(2, 5)])
        shape = rng.randrange(4)
        keywords: dict[str, Cond] = {}
        if shape == 0:  # a topic and one of several verbs in the title
            keywords["title"] = Cond(all=(topic,), any=tuple(rng.sample(verbs, rng.randint(3, 7))))
        elif shape == 1:  # one of several verb + topic phrases in the title, and the topic anywhere
            keywords["title"] = Cond(any=phrases)
            keywords["any"] = Cond(all=(topic,), none=tuple(rng.sample(none, 2)))
        elif shape == 2:  # one of several rare topics and phrases anywhere, not a commentary
            keywords["any"] = Cond(any=(*others[: rng.randint(2, 4)], *phrases[1:]))
            keywords["title"] = Cond(none=tuple(rng.sample(none, 2)))
        else:  # a verb in the title, a topic in the text
            keywords["title"] = Cond(any=tuple(rng.sample(verbs, rng.randint(2, 5))))
            keywords["text" if zh else "any"] = Cond(all=(topic,), none=tuple(rng.sample(none, 1)))
        regexes: dict[str, Cond] = {}
        if rng.random() < 1 / 8:
            regexes["title" if rng.random() < 0.5 else "text"] = Cond(
                any=(re.compile(rng.choice(ZH_REGEXES if zh else EN_REGEXES)),)
            )
        rules.append(
            Rule(
                id=f"synthetic-{'zh' if zh else 'en'}-{i:03d}",
                title=f"synthetic rule {i} about {topic}",
                severity=rng.choice(("info", "low", "medium", "high")),
                file=SYNTHETIC_FILE,
                line=0,
                action=rng.choice(ACTIONS),
                jurisdiction="CN" if zh else rng.choice(("US", "US", "JP", "AU", "EU")),
                kinds=("mofcom",) if zh else rng.choice(EN_KINDS),
                subtypes=() if zh else rng.choice(((), (), (), EN_SUBTYPES)),
                doc_number=rng.choice((None, None, True)) if zh else None,
                keywords=keywords,
                regexes=regexes,
                minerals=rng.choice(("required", "required", "any", "absent")),
                targets_from=rng.choice((None, "countries")),
                effective=ZH_EFFECTIVE if zh else EN_EFFECTIVE,
                refers_to=RefSpec("title_then_text", "mofcom-announcements")
                if zh and rng.random() < 0.3
                else None,
            )
        )
    return rules


# --- the naive loop ----------------------------------------------------------------------------

_ASCII_START = re.compile(r"[a-z0-9]")


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def has_word(hay: str, word: str) -> bool:
    """`word` (lowercase) in `hay` (lowercase); a word that starts with an ASCII letter or digit
    only where no ASCII letter or digit touches it (the engine's rule: 'ban' is not in 'urban')."""
    if not _ASCII_START.match(word[:1]):
        return word in hay
    n = len(hay)
    start = hay.find(word)
    while start != -1:
        end = start + len(word)
        if not (start > 0 and _ascii_alnum(hay[start - 1])) and not (end < n and _ascii_alnum(hay[end])):
            return True
        start = hay.find(word, start + 1)
    return False


def occurrences(hay: str, word: str) -> Iterator[int]:
    """Where `word` is in `hay`, with the same word boundaries as `has_word`."""
    check = bool(_ASCII_START.match(word[:1]))
    start = hay.find(word)
    while start != -1:
        end = start + len(word)
        if not check or (
            not (start > 0 and _ascii_alnum(hay[start - 1]))
            and not (end < len(hay) and _ascii_alnum(hay[end]))
        ):
            yield start
        start = hay.find(word, start + 1)


class NaiveClassifier:
    """Every rule's conditions checked one by one, with plain string and regex calls."""

    def __init__(self, rules: Sequence[Rule], vocab: Vocabulary):
        self.rules = list(rules)
        # the mineral aliases, each with the longer words that mean something else (银行 is not 银)
        self.aliases: list[tuple[str, tuple[str, ...]]] = []
        for term in vocab.of_type("mineral", "group"):
            hide = tuple(w for w, tid in vocab.exclusions.items() if tid == term.id)
            for alias in term.aliases:
                if alias not in vocab.ambiguous:  # 'lead' counts only beside another mineral
                    self.aliases.append((alias, hide))
        # chemical symbols, where they must be one: '(Ga)' or a formula such as 'GaN' (as the engine)
        symbols = sorted({t.symbol for t in vocab.terms.values() if t.symbol}, key=len, reverse=True)
        alt = "|".join(symbols) or "(?!)"
        self.symbols = re.compile(rf"\(({alt})\)|(?<![A-Za-z])({alt})(?=\d|(?:{alt})(?:\d|\b|(?:{alt})))")

    def names_minerals(self, low: str, joined: str) -> bool:
        for alias, hide in self.aliases:
            if not has_word(low, alias):
                continue
            if not hide:
                return True
            for start in occurrences(low, alias):  # one not inside a word that hides it
                end = start + len(alias)
                if not any(0 <= low.find(w, max(0, end - len(w))) <= start for w in hide):
                    return True
        return bool(self.symbols.search(joined))

    def first_match(self, doc: DocView) -> tuple[str | None, int]:
        """The id of the first rule that matches, and how many rules were looked at."""
        title = doc.title.lower()
        text = doc.text.lower()
        hay = {"title": title, "text": text, "any": title + "\n\n" + text}
        minerals: bool | None = None
        for looked, rule in enumerate(self.rules, 1):
            if rule.diff_list:
                continue
            if rule.sources and doc.source not in rule.sources:
                continue
            if rule.kinds and doc.kind not in rule.kinds:
                continue
            if rule.languages and doc.language not in rule.languages:
                continue
            if rule.subtypes and not {s.lower() for s in doc.subtypes} & {s.lower() for s in rule.subtypes}:
                continue
            if rule.doc_number is not None and bool(doc.doc_number) != rule.doc_number:
                continue
            ok = True
            for where, cond in rule.keywords.items():
                h = hay[where]
                if not all(has_word(h, k.lower()) for k in cond.all):
                    ok = False
                elif cond.any and not any(has_word(h, k.lower()) for k in cond.any):
                    ok = False
                elif any(has_word(h, k.lower()) for k in cond.none):
                    ok = False
                if not ok:
                    break
            if not ok:
                continue
            for where, cond in rule.regexes.items():
                h = doc.title if where == "title" else doc.text
                if (
                    not all(p.search(h) for p in cond.all)
                    or (cond.any and not any(p.search(h) for p in cond.any))
                    or any(p.search(h) for p in cond.none)
                ):
                    ok = False
                    break
            if not ok:
                continue
            if rule.minerals != "any":
                if minerals is None:
                    minerals = self.names_minerals(hay["any"], doc.title + "\n\n" + doc.text)
                if minerals != (rule.minerals == "required"):
                    continue
            return rule.id, looked
        return None, len(self.rules)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per sample family."""

    seconds: dict[str, float]
    docs: dict[str, int]

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def rate(self, family: str | None = None) -> float:
        """Documents per second, over all families or one."""
        if family is None:
            return sum(self.docs.values()) / self.total
        return self.docs[family] / self.seconds[family]


@dataclass
class Row:
    rules: int
    keywords: int
    compile_s: float
    scan: Timing
    engine: Timing  # deciding which rule fires, as the naive loop does
    emit: Timing  # deciding and building the event (tracker's classify)
    naive: Timing
    agree: int
    compared: int
    mismatches: list[str]
    by_synthetic: int
    by_real: int
    unmatched: int
    looked_at: float  # rules walked per document, mean
    checked: float  # of which past the kind/source/subtype/doc_number filters, mean


def timed(fn: Callable[[DocView], T], docs: dict[str, list[DocView]]) -> tuple[Timing, list[T]]:
    """Run `fn` over every document, family by family; the results in document order."""
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    out: list[T] = []
    for family, group in docs.items():
        gc.collect()
        t0 = time.perf_counter()
        res = [fn(d) for d in group]
        seconds[family] = time.perf_counter() - t0
        counts[family] = len(group)
        out += res
    return Timing(seconds, counts), out


def _passes_filters(rule: Rule, doc: DocView) -> bool:
    return (
        not rule.diff_list
        and (not rule.kinds or doc.kind in rule.kinds)
        and (not rule.sources or doc.source in rule.sources)
        and (
            not rule.subtypes or bool({s.lower() for s in doc.subtypes} & {s.lower() for s in rule.subtypes})
        )
        and (rule.doc_number is None or bool(doc.doc_number) == rule.doc_number)
    )


def measure(
    rules: list[Rule], vocab: Vocabulary, docs: dict[str, list[DocView]], naive_docs: dict[str, list[DocView]]
) -> Row:
    t0 = time.perf_counter()
    ruleset = RuleSet(rules, vocab)
    compile_s = time.perf_counter() - t0
    scan = ruleset.matcher.scan
    scan_t, _ = timed(lambda d: scan(d.title, d.text), docs)
    engine_t, firsts = timed(ruleset.first_match, docs)
    emit_t, drafts = timed(ruleset.classify, docs)
    naive = NaiveClassifier(rules, vocab)
    naive_t, picks = timed(naive.first_match, naive_docs)
    engine_first = {d.id: (r.id if r else None) for d, r in zip(_flat(docs), firsts, strict=True)}
    assert all(
        (ds[-1].rule if ds else None) == engine_first[d.id] for d, ds in zip(_flat(docs), drafts, strict=True)
    )
    mismatches: list[str] = []
    agree = by_synthetic = unmatched = checked = looked_total = 0
    synthetic = {r.id for r in rules if r.file == SYNTHETIC_FILE}
    for d, (rid, looked) in zip(_flat(naive_docs), picks, strict=True):
        if rid == engine_first[d.id]:
            agree += 1
        elif len(mismatches) < 5:
            mismatches.append(f"doc {d.id} {d.title[:60]!r}: engine {engine_first[d.id]}, naive {rid}")
        by_synthetic += rid in synthetic
        unmatched += rid is None
        looked_total += looked
        checked += sum(1 for r in rules[:looked] if _passes_filters(r, d))
    n = len(picks)
    return Row(
        rules=len(rules),
        keywords=len(ruleset.matcher.keyword_ids),
        compile_s=compile_s,
        scan=scan_t,
        engine=engine_t,
        emit=emit_t,
        naive=naive_t,
        agree=agree,
        compared=n,
        mismatches=mismatches,
        by_synthetic=by_synthetic,
        by_real=n - by_synthetic - unmatched,
        unmatched=unmatched,
        looked_at=looked_total / n,
        checked=checked / n,
    )


def megabytes(docs: list[DocView]) -> float:
    """Size of the titles and texts, UTF-8."""
    return sum(len(d.title.encode()) + len(d.text.encode()) for d in docs) / 1e6


def _flat(docs: dict[str, list[DocView]]) -> list[DocView]:
    return [d for group in docs.values() for d in group]


def print_table(head: Sequence[str], rows: list[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=10_000, help="documents (default 10,000)")
    ap.add_argument(
        "--naive-docs",
        type=int,
        default=0,
        help="time the naive loop on N of the documents only, in the same mix (default: all)",
    )
    ap.add_argument("--rules", type=int, default=200, help="largest rule count (default 200)")
    ap.add_argument("--min-speedup", type=float, default=5.0, help="FAIL below this at the largest count")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the variations and synthetic rules")
    args = ap.parse_args(argv)
    if args.docs < 100:
        ap.error("--docs must be at least 100")

    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    real = load_rules(default_rules_dir())
    samples = load_samples()
    docs = make_documents(samples, real.vocab, args.docs, rng)
    naive_docs = docs
    if 0 < args.naive_docs < args.docs:
        naive_docs = {f: g[: max(1, round(len(g) * args.naive_docs / args.docs))] for f, g in docs.items()}
    n_real = len(real.rules)
    counts = sorted({c for c in RULE_COUNTS if n_real <= c < args.rules} | {max(args.rules, n_real)})
    synthetic = synthetic_rules(max(counts) - n_real, rng)
    mb = {f: megabytes(g) for f, g in docs.items()}
    naive_mb = {f: megabytes(g) for f, g in naive_docs.items()}
    n_docs = sum(len(g) for g in docs.values())
    n_naive = sum(len(g) for g in naive_docs.values())
    print(
        f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs; "
        f"documents and rules built in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"{n_docs:,} documents, {sum(mb.values()):.2f} MB of title + text (UTF-8), varied from "
        f"{sum(len(v) for v in samples.values())} samples:"
    )
    for f, g in docs.items():
        print(
            f"  {f:<13} {len(g):>6,} documents from {len(samples[f]):>2} samples, {mb[f]:6.2f} MB, "
            f"{mb[f] * 1e6 / len(g):6,.0f} bytes each"
        )
    print(
        f"rules: the {n_real} of rules/ and up to {len(synthetic)} synthetic ones placed before them; "
        f"counts {', '.join(map(str, counts))}"
    )
    if n_naive != n_docs:
        print(f"the naive loop is timed on {n_naive:,} of the documents (same mix), the engine on all")
    print(
        "both decide which rule fires (the speed-up compares these); 'classify docs/s' adds building the\n"
        "event of the engine (minerals, dates, references, trigger sentence), which the naive loop skips\n"
    )

    rows = []
    for c in counts:
        rules = synthetic[: c - n_real] + list(real.rules)
        r = measure(rules, real.vocab, docs, naive_docs)
        rows.append(r)
        print(
            f"{c:>3} rules: engine {r.engine.total:5.2f} s (scan alone {r.scan.total:5.2f} s, with events "
            f"{r.emit.total:5.2f} s), naive "
            f"{r.naive.total:5.2f} s; first match: synthetic rule {r.by_synthetic:,}, real rule "
            f"{r.by_real:,}, none {r.unmatched:,}; rules walked per document {r.looked_at:.1f}, "
            f"{r.checked:.1f} of them past the kind/source/subtype/doc_number filters",
            flush=True,
        )
    total_mb, naive_total_mb = sum(mb.values()), sum(naive_mb.values())
    print()
    print_table(
        (
            "rules",
            "keywords",
            "compile ms",
            "scan docs/s",
            "engine docs/s",
            "engine MB/s",
            "classify docs/s",
            "naive docs/s",
            "naive MB/s",
            "speed-up",
            "same first rule",
        ),
        [
            (
                str(r.rules),
                str(r.keywords),
                f"{r.compile_s * 1000:.0f}",
                f"{r.scan.rate():,.0f}",
                f"{r.engine.rate():,.0f}",
                f"{total_mb / r.engine.total:.2f}",
                f"{r.emit.rate():,.0f}",
                f"{r.naive.rate():,.0f}",
                f"{naive_total_mb / r.naive.total:.2f}",
                f"{r.engine.rate() / r.naive.rate():.2f}x",
                f"{r.agree:,}/{r.compared:,}",
            )
            for r in rows
        ],
    )
    first, last = rows[0], rows[-1]
    print(f"\nby sample family at {first.rules} and {last.rules} rules (documents/s):")
    print_table(
        ("family", "rules", "scan", "engine", "naive", "speed-up"),
        [
            (
                f,
                str(r.rules),
                f"{r.scan.rate(f):,.0f}",
                f"{r.engine.rate(f):,.0f}",
                f"{r.naive.rate(f):,.0f}",
                f"{r.engine.rate(f) / r.naive.rate(f):.2f}x",
            )
            for f in docs
            for r in (first, last)
        ],
    )
    speedup = last.engine.rate() / last.naive.rate()
    print(
        f"\ntime per document from {first.rules} to {last.rules} rules: engine x"
        f"{first.engine.rate() / last.engine.rate():.2f}, naive x{first.naive.rate() / last.naive.rate():.2f}"
    )
    print(
        f"speed-up of the engine over the naive loop at {last.rules} rules: {speedup:.2f}x "
        f"(target {args.min_speedup:g}x); run took {time.perf_counter() - t0:.0f} s"
    )
    problems = []
    if speedup < args.min_speedup:
        problems.append(
            f"the engine is {speedup:.2f}x the naive loop at {last.rules} rules, below the "
            f"{args.min_speedup:g}x target"
        )
    for r in rows:
        if r.agree != r.compared:
            problems.append(
                f"{r.rules} rules: the engine and the naive loop pick a different first rule for "
                f"{r.compared - r.agree} documents: " + "; ".join(r.mismatches)
            )
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        return 1
    print("\nOK: the engine and the naive loop agree on every document, and the speed-up meets the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
