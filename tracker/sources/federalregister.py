"""The Federal Register documents API (JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from tracker.errors import ParseError
from tracker.http import Response
from tracker.models import Document, sha256
from tracker.sources.base import Item, ListSource, Page
from tracker.textutil import collapse


@dataclass(frozen=True)
class FederalRegisterSettings:
    """No settings yet: the query lives in the URL (conditions[...], fields[], per_page, order)."""


class FederalRegisterSource(ListSource):
    """Federal Register API v1 `documents.json` searches: one document per result, numbered
    `EO 14241` / `Proclamation 10949` for presidential documents and `FR 2025-19813` otherwise
    (all three kept as keys), dated by `signing_date` for presidential documents, else by
    `publication_date`; pages are followed through `next_page_url`."""

    kind = "federalregister"
    Settings = FederalRegisterSettings
    language = "en"

    def parse_page(self, resp: Response, url: str, page_no: int) -> Page:
        try:
            data = json.loads(resp.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"not JSON: {exc}", url=url) from None
        if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
            raise ParseError("not a Federal Register search response (no 'results' list)", url=url)
        if "results" not in data and "count" not in data:
            raise ParseError("not a Federal Register search response", url=url)
        items = []
        for result in data.get("results", []):
            if not isinstance(result, dict) or not result.get("document_number"):
                raise ParseError("a result without 'document_number'", url=url)
            doc = self.document(result)
            items.append(
                Item(url=doc.url, title=doc.title, published=doc.published, document=doc, keys=doc.keys)
            )
        nxt = data.get("next_page_url")
        return Page(items=items, next_url=str(nxt) if nxt else None)

    def document(self, r: dict[str, Any]) -> Document:
        """One API result as a Document."""
        fr_number = f"FR {r['document_number']}"
        keys = [fr_number]
        number = fr_number
        if r.get("executive_order_number"):
            number = f"EO {r['executive_order_number']}"
        elif r.get("proclamation_number"):
            number = f"Proclamation {r['proclamation_number']}"
        if number != fr_number:
            keys.insert(0, number)
        published = _date(r.get("signing_date")) or _date(r.get("publication_date"))
        title = collapse(str(r.get("title") or ""))
        parts = [str(r[k]) for k in ("abstract", "action", "dates") if r.get(k)]
        excerpts = r.get("excerpts")
        if isinstance(excerpts, str) and excerpts:
            parts.append(excerpts)
        text = "\n".join(collapse(p) for p in parts)
        agencies = [
            a.get("name") or a.get("raw_name") for a in r.get("agencies") or [] if isinstance(a, dict)
        ]
        meta = {
            k: r.get(k)
            for k in (
                "type",
                "subtype",
                "signing_date",
                "publication_date",
                "citation",
                "document_number",
                "executive_order_number",
                "proclamation_number",
                "effective_on",
                "pdf_url",
            )
            if r.get(k)
        }
        if agencies:
            meta["agencies"] = agencies
        return Document(
            source=self.name,
            url=str(r.get("html_url") or f"federalregister:{r['document_number']}"),
            title=title,
            text=text,
            raw_hash=sha256(json.dumps(r, sort_keys=True)),
            published=published,
            language="en",
            doc_number=number,
            keys=keys,
            kind="presidential-document" if r.get("signing_date") or number != fr_number else "notice",
            meta=meta,
        )

    def parse_file(self, content: bytes, url: str, content_type: str | None = None) -> list[Document]:
        try:
            data = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"not JSON: {exc}", url=url) from None
        if isinstance(data, dict) and "document_number" in data:  # a single documents/{n}.json
            return [self.document(data)]
        page = self.parse_page(Response(url, 200, content, content_type), url, 1)
        return [i.document for i in page.items if i.document is not None]


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
