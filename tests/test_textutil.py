"""Decoding, text cleaning, dates and document numbers."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.textutil import (
    decode_bytes,
    detect_language,
    eo_number,
    find_date,
    html_fragment_text,
    mofcom_number,
    parse_feed_date,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("【发文日期】2025年04月04日", date(2025, 4, 4)),
        ("自即日起至2026年11月10日", date(2026, 11, 10)),
        ("本公告自2023年8月1日起正式实施", date(2023, 8, 1)),
        ("<span>[2025-11-07]</span>", date(2025, 11, 7)),
        ("published February 24, 2022.", date(2022, 2, 24)),
        ("signed on Nov. 10, 2026", date(2026, 11, 10)),
        ("on 10 November 2026", date(2026, 11, 10)),
        ("2026/1/5", date(2026, 1, 5)),
        ("no date here", None),
        ("2025年13月40日 then 2025-02-03", date(2025, 2, 3)),
    ],
)
def test_find_date_reads_chinese_iso_and_english_forms(text: str, expected: date | None) -> None:
    assert find_date(text) == expected


def test_find_date_returns_the_earliest_written_date() -> None:
    assert find_date("October 20, 2025 ... 2026-01-01") == date(2025, 10, 20)


def test_feed_dates_keep_their_own_offset() -> None:
    assert parse_feed_date("Mon, 10 Nov 2025 00:30:00 +0800") == date(2025, 11, 10)
    assert parse_feed_date("Tue, 28 Oct 2025 16:30:00 +0000") == date(2025, 10, 28)
    assert parse_feed_date("2025-10-28T23:30:00-04:00") == date(2025, 10, 28)
    assert parse_feed_date(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("商务部 海关总署公告2025年第70号", "MOFCOM 2025-70"),
        ("商务部公告2025年第61号", "MOFCOM 2025-61"),
        ("商务部 海关总署 国家国防科工委公告2024年第 33 号", "MOFCOM 2024-33"),
        ("商务部令2025年第1号", "MOFCOM Order 2025-1"),
        ("商务部公告〔2025〕第5号", "MOFCOM 2025-5"),
        ("海关总署公告2025年第70号", None),
        ("关于稀土的答记者问", None),
    ],
)
def test_mofcom_numbers_are_normalised(text: str, expected: str | None) -> None:
    assert mofcom_number(text) == expected


def test_executive_order_numbers() -> None:
    assert eo_number("Executive Order 14241 of March 20, 2025") == "EO 14241"
    assert eo_number("Executive Order No. 14272") == "EO 14272"
    assert eo_number("an order of 12345 things") is None


def test_gb2312_label_on_gbk_only_characters_decodes_as_gb18030() -> None:
    text = "<html><head><meta charset='gb2312'></head><body>朱镕基 堃 锑</body></html>"
    data = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    assert "朱镕基 堃 锑" in decode_bytes(data, "text/html; charset=GB2312")
    assert "朱镕基 堃 锑" in decode_bytes(data, None)  # from <meta>


def test_wrong_header_charset_falls_back_to_meta() -> None:
    data = "<meta charset='gbk'><p>镓、锗相关物项</p>".encode("gbk")
    assert "镓、锗相关物项" in decode_bytes(data, "text/html; charset=utf-8")
    assert "镓、锗相关物项" in decode_bytes(data, "text/html; charset=iso-8859-1")


def test_missing_charset_without_meta_is_detected() -> None:
    data = (
        "<p>" + "根据《中华人民共和国出口管制法》有关规定，决定对镓、锗相关物项实施出口管制。" * 5 + "</p>"
    ).encode("gb18030")
    assert "出口管制" in decode_bytes(data, "text/html")


def test_fragment_text_is_one_line_per_block_and_drops_scripts() -> None:
    html = "<p>One <b>bold</b>\n word</p><script>alert(1)</script><ul><li>a</li><li>b</li></ul><!-- c -->"
    assert html_fragment_text(html) == "One bold word\na\nb"


def test_language_detection() -> None:
    assert detect_language("商务部 海关总署公告2025年第70号") == "zh"
    assert detect_language("レアアースとガリウムの輸出管理について") == "ja"
    assert detect_language("Executive Order on critical minerals") == "en"
