"""Benchmark: classify 10,000 documents against 200 rules, with the engine and with a naive loop.

Builds 10,000 documents (`tracker.rules.DocView`) from the bundled sample site: the 8 MOFCOM
article pages, the 2 White House framework items with bodies, the 30 White House
presidential-action titles and the 20 Federal Register titles. Each copy is varied: other
announcement numbers and dates, other minerals from the vocabulary, other partner countries, lines
shuffled and dropped, some titles rewritten. The rules are the real rules of `rules/` plus
synthetic rules up to 200 shaped like them: each a copy of one of the real rules that have
keyword conditions (all of it but its id, title, examples and keyword literals: action, filters,
minerals condition, targets, date patterns, references ...) with keyword conditions over the same
regions and of the same lengths, other literals. The real rules are spread evenly among the
synthetic ones, in their own order.

For the real rules alone, then 50, 100 and 200 rules, on the same documents, it times in rounds
(default 5), the engine's passes and the naive loop's taking turns to go first:

  classify      `RuleSet.classify(doc)`, the headline, as a fetch classifies: one Aho-Corasick
                scan for every alias and keyword, the candidate rules checked against its hits,
                and the event draft of the rule that fires built (minerals, dates, references,
                targets, trigger sentence)
  naive-events  the same work done plainly: a loop over the rules checking each condition one by
                one (`keyword in text` for every literal, ASCII keywords at word boundaries as the
                engine does; `pattern.search` for every regular expression; every mineral alias
                of the vocabulary looked up with `in`, once per document, when a rule needs to
                know whether minerals are named), then, for the rule that fires, every alias of
                the vocabulary's minerals, groups and item classes (unless the rule takes no
                minerals; countries too when it takes targets from them) and the rule's keywords
                located with `find`, and the draft built from those by the engine's own
                `RuleSet.emit`
  engine, naive the decision alone (which rule fires), without the draft
  scan          `RuleSet.matcher.scan(title, text)` alone

It prints documents/s and MB/s (UTF-8 of title + text), medians of the rounds, the speed-up with
events (and the lowest and highest of single rounds) and deciding only, and checks that both pick
the same rule and build the same drafts for every document the naive loop is timed on. Exits 1
with a FAIL line when the speed-up with events at the largest rule count is below --min-speedup
(default 5) or the two differ. Run from the repository root:

    python benchmarks/classify.py [--docs N] [--naive-docs N] [--rules N] [--rounds N] [--min-speedup X]
    python benchmarks/classify.py --quick   # 200 documents, the real rules and 50, 3 rounds: seconds
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

try:
    import tracker  # noqa: F401
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import load_config
from tracker.demo.server import site_root
from tracker.events import document_view
from tracker.rulefile import load_rules
from tracker.rules import Cond, DocView, Draft, Rule, RuleSet, default_rules_dir
from tracker.sources import get_kind
from tracker.textutil import find_date, mofcom_number
from tracker.vocab import Scan, Vocabulary, lower_same_length, sentence_bounds

RULE_COUNTS = (50, 100, 200)  # and the real rules alone
ROUNDS, QUICK_ROUNDS = 5, 3
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
# words a rule excludes (commentaries, drafts, corrections)
ZH_NONE = ("答记者问", "解读", "征求意见", "草案", "图解")
EN_NONE = ("correction", "withdrawal", "nominations", "request for comments", "notice of inquiry")
HOT = 1 / 5  # share of synthetic rules built around a topic the samples use
GENERIC_VERBS = {"实施", "发布", "公布", "决定", "开展", "通知"}


def rule_templates(real: Sequence[Rule]) -> tuple[list[Rule], list[Rule]]:
    """The shipped rules a synthetic rule takes its shape from: those for MOFCOM pages and those
    for the US kinds. Only rules with keyword conditions: a copy of a rule without keywords would
    fire wherever the original does."""
    usable = [r for r in real if r.keywords and not r.diff_list]
    return [r for r in usable if "mofcom" in r.kinds], [r for r in usable if "mofcom" not in r.kinds]


def synthetic_rules(n: int, real: Sequence[Rule], rng: random.Random) -> list[Rule]:
    """`n` rules shaped like the shipped ones: each a copy of a shipped rule (every other one of a
    MOFCOM rule, the others of a US rule) keeping its action, filters, minerals condition, targets,
    dates and references, with keyword conditions over the same regions and of the same lengths
    whose literals are replaced by topics, verbs and verb + topic phrases. Most rules are about a
    topic the samples never mention; one in five about one they do."""
    zh_templates, en_templates = rule_templates(real)
    rules = []
    for i in range(n):
        zh = i % 2 == 0
        template = rng.choice(zh_templates if zh else en_templates)
        rare, common, nones = (ZH_RARE, ZH_COMMON, ZH_NONE) if zh else (EN_RARE, EN_COMMON, EN_NONE)
        verbs: tuple[str, ...] = ZH_VERBS if zh else EN_VERBS
        hot = rng.random() < HOT
        topic = rng.choice(common if hot else rare)
        if hot:  # not the verbs nearly every MOFCOM title has
            verbs = tuple(v for v in verbs if v not in GENERIC_VERBS)
        others = rng.sample([t for t in rare if t != topic], 4)
        sep = "" if zh else " "
        # three verb + topic phrases for the rule's topic, then for each of the others
        phrases = [f"{v}{sep}{t}" for t in (topic, *others) for v in rng.sample(verbs, 3)]
        keywords: dict[str, Cond] = {}
        for region, cond in template.keywords.items():
            none = tuple(rng.sample(nones, min(len(cond.none), len(nones))))
            if cond.all:  # the topic and one of several verbs (as 出口管制 with 调整, 优化 …)
                keywords[region] = Cond(
                    all=(topic, *others)[: len(cond.all)],
                    any=tuple(rng.sample(verbs, min(len(cond.any), len(verbs)))),
                    none=none,
                )
            else:  # one of several phrases and topics: the rule's own topic and its phrases first
                rest = phrases[3:] + others
                pool = [topic, *phrases[:3], *rng.sample(rest, len(rest))]
                keywords[region] = Cond(any=tuple(pool[: len(cond.any)]), none=none)
        rules.append(
            replace(
                template,
                id=f"synthetic-{'zh' if zh else 'en'}-{i:03d}",
                title=f"synthetic rule {i} about {topic}",
                file=SYNTHETIC_FILE,
                line=0,
                keywords=keywords,
                tests=(),
            )
        )
    return rules


def interleave(synthetic: Sequence[Rule], real: Sequence[Rule]) -> list[Rule]:
    """The real rules spread evenly among the synthetic ones, in their own order, as if the
    shipped files sorted among others: a document's deciding rule is then anywhere in the list,
    neither always first (which spares the naive loop) nor always last."""
    out: list[Rule] = []
    step = len(synthetic) / len(real)
    k = 0
    for j, rule in enumerate(real):
        upto = round((j + 0.5) * step)
        out += synthetic[k:upto]
        out.append(rule)
        k = upto
    return out + list(synthetic[k:])


# --- the naive loop ----------------------------------------------------------------------------

_ASCII_START = re.compile(r"[a-z0-9]")


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def has_word(hay: str, word: str) -> bool:
    """`word` (lowercase) in `hay` (lowercase); a word that starts with an ASCII letter or digit
    only where no ASCII letter or digit touches it (the engine's rule: 'ban' is not in 'urban')."""
    if not _ASCII_START.match(word[:1]):
        return word in hay
    return next(occurrences(hay, word), None) is not None


def at_word(hay: str, start: int, word: str) -> bool:
    """Whether `word`, found at `start`, counts there: a word that starts with an ASCII letter or
    digit only where no ASCII letter or digit touches it."""
    end = start + len(word)
    return not _ASCII_START.match(word[:1]) or (
        not (start > 0 and _ascii_alnum(hay[start - 1])) and not (end < len(hay) and _ascii_alnum(hay[end]))
    )


def occurrences(hay: str, word: str) -> Iterator[int]:
    """Where `word` is in `hay`, with the same word boundaries as `has_word`."""
    start = hay.find(word)
    while start != -1:
        if at_word(hay, start, word):
            yield start
        start = hay.find(word, start + 1)


def symbol_pattern(vocab: Vocabulary) -> re.Pattern[str]:
    """Chemical symbols where they must be one, as the engine defines it: '(Ga)' (a one-letter
    symbol in parentheses is as often a list marker), or a formula such as 'GaN', 'Ga2O3'."""
    symbols = sorted({t.symbol for t in vocab.terms.values() if t.symbol}, key=len, reverse=True)
    alt = "|".join(symbols) or "(?!)"
    paren = "|".join(s for s in symbols if len(s) > 1) or "(?!)"
    return re.compile(
        rf"(?=[(A-Z])(?:\((?P<p>{paren})\)|(?<![A-Za-z])(?P<f>{alt})(?=\d|(?:{alt})(?:\d|\b|(?:{alt}))))"
    )


_FORMULA_MARK = re.compile(r"[a-z0-9]")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
Hit = tuple[bool, int, int]  # (in the title, start, end), offsets in title + "\n\n" + text


class NaiveClassifier:
    """Every rule's conditions checked one by one with plain string and regex calls. With events,
    it builds the same drafts as the engine, from what plain `find` calls located (every alias of
    the vocabulary's minerals, groups and item classes, and of its countries when a rule takes its
    targets from them; the rule's keywords in the text), handed to the engine's `RuleSet.emit`:
    the two differ in how they search a document, not in how they build an event."""

    def __init__(self, rules: Sequence[Rule], vocab: Vocabulary, ruleset: RuleSet):
        self.rules = list(rules)
        self.vocab = vocab
        self.ruleset = ruleset  # for `emit` and the keyword ids a Scan is keyed by, nothing else
        # every alias by the type of its term, each with the longer words that hide it (银行 is not 银)
        self.aliases: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        for tid, term in vocab.terms.items():
            hide = tuple(w for w, t in vocab.exclusions.items() if t == tid)
            for alias in term.aliases:
                if alias:
                    self.aliases.setdefault(term.type, []).append((alias, tid, hide))
        # for the decision "does it name a mineral": 'lead' counts only beside another mineral
        self.mineral_aliases = [
            (alias, hide)
            for typ in ("mineral", "group")
            for alias, _, hide in self.aliases.get(typ, [])
            if alias not in vocab.ambiguous
        ]
        self.symbols = symbol_pattern(vocab)
        self.symbol_of = {t.symbol: t.id for t in vocab.terms.values() if t.symbol}

    # --- deciding ---------------------------------------------------------------------------------

    @staticmethod
    def hidden(low: str, start: int, end: int, hide: tuple[str, ...]) -> bool:
        """True when one of the words in `hide` contains `low[start:end]` (银 in 银行)."""
        for w in hide:
            pos = low.find(w, max(0, end - len(w)))
            while pos != -1 and pos <= start:
                if at_word(low, pos, w):
                    return True
                pos = low.find(w, pos + 1)
        return False

    def symbol_hits(self, part: str, base: int, in_title: bool) -> Iterator[tuple[str, Hit]]:
        for m in self.symbols.finditer(part):
            sym = m.group("p") or m.group("f")
            if not m.group("p"):
                token = _TOKEN.match(part, m.start("f"))
                if not _FORMULA_MARK.search(token.group(0) if token else ""):
                    continue  # 'BY', 'UV' in capitals are words, not formulas
            start = base + (m.start("p") if m.group("p") else m.start("f"))
            yield self.symbol_of[sym], (in_title, start, start + len(sym))

    def names_minerals(self, low: str, joined: str) -> bool:
        """Whether the document names a mineral or a group: each alias looked up in turn."""
        for alias, hide in self.mineral_aliases:
            for start in occurrences(low, alias):
                if not hide or not self.hidden(low, start, start + len(alias), hide):
                    return True
        return next(self.symbol_hits(joined, 0, True), None) is not None

    def matching(self, doc: DocView) -> tuple[list[Rule], int]:
        """The rules that fire, in order (those marked `continue`, then the first that stops), and
        how many rules were looked at."""
        title = doc.title.lower()
        text = doc.text.lower()
        hay = {"title": title, "text": text, "any": title + "\n\n" + text}
        minerals: bool | None = None
        fired: list[Rule] = []
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
            fired.append(rule)
            if rule.stop:
                return fired, looked
        return fired, len(self.rules)

    def first_match(self, doc: DocView) -> tuple[str | None, int]:
        """The id of the rule that decides the document, and how many rules were looked at."""
        fired, looked = self.matching(doc)
        return (fired[-1].id if fired else None), looked

    # --- with events ------------------------------------------------------------------------------

    def find_terms(self, title: str, text: str, types: set[str]) -> dict[str, list[Hit]]:
        """Every term of `types` the document names, with its hits as the engine's Scan lists them:
        alias hits in the order they end (as a one-pass automaton reports them), then symbols."""
        found: dict[str, list[tuple[int, int, bool]]] = {}
        for in_title, part, base in ((True, title, 0), (False, text, len(title) + 2)):
            if not part:
                continue
            low = lower_same_length(part)
            for typ in types:
                for alias, tid, hide in self.aliases.get(typ, ()):
                    for start in occurrences(low, alias):
                        end = start + len(alias)
                        if not hide or not self.hidden(low, start, end, hide):
                            found.setdefault(tid, []).append((base + end, base + start, in_title))
        terms = {tid: [(t, s, e) for e, s, t in sorted(hits)] for tid, hits in found.items()}
        for part, base, in_title in ((title, 0, True), (text, len(title) + 2, False)):
            for tid, hit in self.symbol_hits(part, base, in_title):
                if self.vocab.terms[tid].type in types:
                    terms.setdefault(tid, []).append(hit)
        if "mineral" in types:
            self.drop_lonely_ambiguous(terms, title + "\n\n" + text)
        return terms

    def drop_lonely_ambiguous(self, terms: dict[str, list[Hit]], joined: str) -> None:
        """An ambiguous alias ('lead') counts only in a sentence that names another mineral."""
        amb = self.vocab.ambiguous
        low = lower_same_length(joined)
        for tid in list(terms):
            term = self.vocab.terms.get(tid)
            if term is None or not any(a in amb for a in term.aliases):
                continue
            kept = []
            for hit in terms[tid]:
                if low[hit[1] : hit[2]] not in amb:
                    kept.append(hit)
                    continue
                s, e = sentence_bounds(low, hit[1])
                for other, hits in terms.items():
                    o = self.vocab.terms.get(other)
                    if other == tid or o is None or o.type not in ("mineral", "group"):
                        continue
                    if any(s <= start < e and low[start:end] not in amb for _, start, end in hits):
                        kept.append(hit)
                        break
            if kept:
                terms[tid] = kept
            else:
                del terms[tid]

    def classify(self, doc: DocView) -> list[Draft]:
        """The drafts of the rules that fire, built from plain lookups by the engine's `emit`."""
        fired, _ = self.matching(doc)
        if not fired:
            return []
        types: set[str] = set()
        if any(r.minerals_from != "none" for r in fired):
            types |= {"mineral", "group", "item"}
        if any(r.targets_from == "countries" for r in fired):
            types.add("country")
        scan = Scan(title_len=len(doc.title))
        if types:
            scan.terms = self.find_terms(doc.title, doc.text, types)
        low = lower_same_length(doc.text)
        keyword_id = self.ruleset.matcher.keyword_id
        for rule in fired:  # where the rule's keywords first are in the text: its trigger sentence
            for key in ("text", "any"):
                cond = rule.keywords.get(key)
                for k in (*cond.all, *cond.any) if cond else ():
                    kid = keyword_id(k)
                    if kid not in scan.text_keywords:
                        pos = next(occurrences(low, k.lower()), None)
                        if pos is not None:
                            scan.text_keywords[kid] = pos
        return [self.ruleset.emit(rule, doc, scan) for rule in fired]


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Timing:
    """One pass over the documents: seconds per sample family."""

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
class Runs:
    """A pass repeated over the rounds; its figures are medians."""

    timings: list[Timing] = field(default_factory=list)

    @property
    def total(self) -> float:
        return statistics.median(t.total for t in self.timings)

    def rate(self, family: str | None = None) -> float:
        return statistics.median(t.rate(family) for t in self.timings)


PASSES_ENGINE = ("scan", "engine", "classify")
PASSES_NAIVE = ("naive", "naive-events")


@dataclass
class Row:
    rules: int
    keywords: int
    compile_s: float
    runs: dict[str, Runs]  # scan, engine (deciding), classify (with events), naive, naive-events
    agree: int  # documents for which both pick the same deciding rule
    same_drafts: int  # ... and build the same drafts
    compared: int
    mismatches: list[str]
    by_synthetic: int
    by_real: int
    unmatched: int
    looked_at: float  # rules walked per document, mean
    checked: float  # of which past the kind/source/subtype/doc_number filters, mean

    def speedup(self, family: str | None = None, events: bool = True) -> float:
        """The engine's documents/s over the naive loop's (medians), with events or deciding only."""
        e, n = ("classify", "naive-events") if events else ("engine", "naive")
        return self.runs[e].rate(family) / self.runs[n].rate(family)

    def speedup_spread(self) -> tuple[float, float]:
        """The lowest and highest speed-up with events of one round against the same round."""
        pairs = zip(self.runs["classify"].timings, self.runs["naive-events"].timings, strict=True)
        ratios = [a.rate() / b.rate() for a, b in pairs]
        return min(ratios), max(ratios)


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
    rules: list[Rule],
    vocab: Vocabulary,
    docs: dict[str, list[DocView]],
    naive_docs: dict[str, list[DocView]],
    rounds: int,
) -> Row:
    """`rounds` rounds of the engine's passes and the naive loop's, which goes first alternating
    from one round to the next."""
    t0 = time.perf_counter()
    ruleset = RuleSet(rules, vocab)
    compile_s = time.perf_counter() - t0
    naive = NaiveClassifier(rules, vocab, ruleset)
    scan = ruleset.matcher.scan
    fns: dict[str, tuple[Callable[[DocView], Any], dict[str, list[DocView]]]] = {
        "scan": (lambda d: scan(d.title, d.text), docs),
        "engine": (ruleset.first_match, docs),
        "classify": (ruleset.classify, docs),
        "naive": (naive.first_match, naive_docs),
        "naive-events": (naive.classify, naive_docs),
    }
    runs = {name: Runs() for name in fns}
    out: dict[str, list[Any]] = {}
    for r in range(rounds):
        order = PASSES_ENGINE + PASSES_NAIVE if r % 2 == 0 else PASSES_NAIVE + PASSES_ENGINE
        for name in order:
            fn, group = fns[name]
            timing, out[name] = timed(fn, group)
            runs[name].timings.append(timing)
    flat, naive_flat = _flat(docs), _flat(naive_docs)
    engine_first = {d.id: (r.id if r else None) for d, r in zip(flat, out["engine"], strict=True)}
    engine_drafts = {d.id: [x.as_dict() for x in ds] for d, ds in zip(flat, out["classify"], strict=True)}
    assert all((ds[-1]["rule"] if ds else None) == engine_first[i] for i, ds in engine_drafts.items())
    mismatches: list[str] = []
    agree = same_drafts = by_synthetic = unmatched = checked = looked_total = 0
    synthetic = {r.id for r in rules if r.file == SYNTHETIC_FILE}
    for d, (rid, looked), drafts in zip(naive_flat, out["naive"], out["naive-events"], strict=True):
        same_rule = rid == engine_first[d.id]
        same = [x.as_dict() for x in drafts] == engine_drafts[d.id]
        agree += same_rule
        same_drafts += same
        if not (same_rule and same) and len(mismatches) < 5:
            mismatches.append(
                f"doc {d.id} {d.title[:60]!r}: engine {engine_drafts[d.id]}, naive {[x.as_dict() for x in drafts]}"
            )
        by_synthetic += rid in synthetic
        unmatched += rid is None
        looked_total += looked
        checked += sum(1 for r in rules[:looked] if _passes_filters(r, d))
    n = len(naive_flat)
    return Row(
        rules=len(rules),
        keywords=len(ruleset.matcher.keyword_ids),
        compile_s=compile_s,
        runs=runs,
        agree=agree,
        same_drafts=same_drafts,
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


def print_results(rows: list[Row], docs: dict[str, list[DocView]], total_mb: float, naive_mb: float) -> None:
    print_table(
        (
            "rules",
            "keywords",
            "compile ms",
            "classify docs/s",
            "classify MB/s",
            "naive docs/s",
            "naive MB/s",
            "speed-up",
            "min-max",
            "same drafts",
        ),
        [
            (
                str(r.rules),
                str(r.keywords),
                f"{r.compile_s * 1000:.0f}",
                f"{r.runs['classify'].rate():,.0f}",
                f"{total_mb / r.runs['classify'].total:.2f}",
                f"{r.runs['naive-events'].rate():,.0f}",
                f"{naive_mb / r.runs['naive-events'].total:.2f}",
                f"{r.speedup():.2f}x",
                "{:.2f}-{:.2f}x".format(*r.speedup_spread()),
                f"{r.same_drafts:,}/{r.compared:,}",
            )
            for r in rows
        ],
    )
    print("\ndeciding only (which rule fires; no event built), documents/s:")
    print_table(
        ("rules", "scan", "engine", "naive", "speed-up", "same first rule"),
        [
            (
                str(r.rules),
                f"{r.runs['scan'].rate():,.0f}",
                f"{r.runs['engine'].rate():,.0f}",
                f"{r.runs['naive'].rate():,.0f}",
                f"{r.speedup(events=False):.2f}x",
                f"{r.agree:,}/{r.compared:,}",
            )
            for r in rows
        ],
    )
    first, last = rows[0], rows[-1]
    print(f"\nwith events, by sample family at {first.rules} and {last.rules} rules (documents/s):")
    print_table(
        ("family", "rules", "classify", "naive", "speed-up"),
        [
            (
                f,
                str(r.rules),
                f"{r.runs['classify'].rate(f):,.0f}",
                f"{r.runs['naive-events'].rate(f):,.0f}",
                f"{r.speedup(f):.2f}x",
            )
            for f in docs
            for r in (first, last)
        ],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, help="documents (default 10,000; 200 with --quick)")
    ap.add_argument(
        "--naive-docs",
        type=int,
        default=0,
        help="time the naive loop on N of the documents only, in the same mix (default: all)",
    )
    ap.add_argument("--rules", type=int, help="largest rule count (default 200; 50 with --quick)")
    ap.add_argument(
        "--rounds",
        type=int,
        help=f"rounds of every pass, engine and naive alternating (default {ROUNDS}; {QUICK_ROUNDS} with --quick)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"200 documents, up to 50 rules, {QUICK_ROUNDS} rounds: checks that the script works",
    )
    ap.add_argument(
        "--min-speedup",
        type=float,
        default=5.0,
        help="FAIL below this speed-up with events at the largest rule count (default 5)",
    )
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the variations and synthetic rules")
    args = ap.parse_args(argv)
    n_docs_asked = args.docs or (200 if args.quick else 10_000)
    max_rules = args.rules or (50 if args.quick else 200)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    if n_docs_asked < 100:
        ap.error("--docs must be at least 100")
    if rounds < 1:
        ap.error("--rounds must be at least 1")

    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    real = load_rules(default_rules_dir())
    samples = load_samples()
    docs = make_documents(samples, real.vocab, n_docs_asked, rng)
    naive_docs = docs
    if 0 < args.naive_docs < n_docs_asked:
        naive_docs = {f: g[: max(1, round(len(g) * args.naive_docs / n_docs_asked))] for f, g in docs.items()}
    n_real = len(real.rules)
    counts = sorted({n_real} | {c for c in RULE_COUNTS if n_real < c < max_rules} | {max(max_rules, n_real)})
    synthetic = synthetic_rules(max(counts) - n_real, real.rules, rng)
    mb = {f: megabytes(g) for f, g in docs.items()}
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
        f"rules: the {n_real} of rules/ and up to {len(synthetic)} synthetic ones shaped like them, "
        f"the real ones spread evenly among them; counts {', '.join(map(str, counts))}"
    )
    if n_naive != n_docs:
        print(f"the naive loop is timed on {n_naive:,} of the documents (same mix), the engine on all")
    print(
        f"{rounds} rounds of every pass, the engine's and the naive loop's taking turns to go first; "
        "figures are medians\n"
    )

    rows = []
    for c in counts:
        rules = interleave(synthetic[: c - n_real], real.rules)
        r = measure(rules, real.vocab, docs, naive_docs, rounds)
        rows.append(r)
        print(
            f"{c:>3} rules: with events {r.runs['classify'].total:5.2f} s, naive with events "
            f"{r.runs['naive-events'].total:5.2f} s; deciding only {r.runs['engine'].total:5.2f} s (scan alone "
            f"{r.runs['scan'].total:5.2f} s), naive {r.runs['naive'].total:5.2f} s; first match: synthetic "
            f"rule {r.by_synthetic:,}, real rule {r.by_real:,}, none {r.unmatched:,}; rules walked per "
            f"document {r.looked_at:.1f}, {r.checked:.1f} of them past the kind/source/subtype/doc_number "
            "filters",
            flush=True,
        )
    total_mb, naive_total_mb = sum(mb.values()), sum(megabytes(g) for g in naive_docs.values())
    print(
        "\nwith events (the headline: what a fetch does): RuleSet.classify(doc), the event drafts built, "
        "against the naive loop\nbuilding the same drafts; documents/s and MB/s (UTF-8 title + text), "
        f"medians of {rounds} rounds; min-max: the speed-up of single rounds"
    )
    print_results(rows, docs, total_mb, naive_total_mb)
    first, last = rows[0], rows[-1]
    speedup = last.speedup()
    print(
        f"\ntime per document from {first.rules} to {last.rules} rules, with events: engine x"
        f"{first.runs['classify'].rate() / last.runs['classify'].rate():.2f}, naive "
        f"x{first.runs['naive-events'].rate() / last.runs['naive-events'].rate():.2f}"
    )
    print(
        f"speed-up with events at {last.rules} rules: {speedup:.2f}x (target {args.min_speedup:g}x); "
        f"deciding only: {last.speedup(events=False):.2f}x; run took {time.perf_counter() - t0:.0f} s"
    )
    problems = []
    if speedup < args.min_speedup:
        problems.append(
            f"with events, the engine is {speedup:.2f}x the naive loop at {last.rules} rules, below the "
            f"{args.min_speedup:g}x target"
        )
    for r in rows:
        if r.agree != r.compared or r.same_drafts != r.compared:
            problems.append(
                f"{r.rules} rules: the engine and the naive loop differ for "
                f"{r.compared - min(r.agree, r.same_drafts)} documents: " + "; ".join(r.mismatches)
            )
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        return 1
    print(
        "\nOK: the engine and the naive loop pick the same rule and build the same drafts for every "
        "document, and the speed-up with events meets the target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
