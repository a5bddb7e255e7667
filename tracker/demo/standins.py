"""Stand-ins of the official sites as they are today, served on 127.0.0.1 from `live/`: MOFCOM's
CMS (a column page without items, whose list comes from the CMS "unit" endpoint, 15 a page), the
White House feeds (navigation before the text), and the Federal Register API (only the fields
asked for, raw texts in their <pre> envelope, sometimes refused with a 'Request Access' page).
The demo and the tests use them, so both walk the same path as a run against the real sites."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tracker.demo.server import Reply, Request, SiteServer

UNIT_PATH = "/api-gateway/jpaas-publish-server/front/page/build/unit"
FR_SEARCH_PATH = "/api/v1/documents.json"
FR_TEXT_PREFIX = "/documents/full_text/text/"
# what a documents.json search returns when it names no fields[] (the API's default set)
FR_DEFAULT_FIELDS = (
    "title",
    "type",
    "abstract",
    "document_number",
    "html_url",
    "pdf_url",
    "public_inspection_pdf_url",
    "publication_date",
    "agencies",
    "excerpts",
)
REAL_HOSTS = {
    "www.mofcom.gov.cn": "mofcom",
    "www.whitehouse.gov": "whitehouse",
    "www.federalregister.gov": "federalregister",
}


def live_root() -> Path:
    """The bundled live-shaped sites (one folder per host)."""
    return Path(__file__).parent / "live"


class MofcomCms:
    """MOFCOM's CMS list endpoint: pages over `unit/items.json` the way the real endpoint does
    (page 1 without paramJson, page N with paramJson={"pageNo":N,"pageSize":S}), checks the
    parameters the column page's loader names, and, like the site's firewall, answers 412 to a
    request without a Referer."""

    def __init__(self, root: Path, page_size: int = 15, *, require_referer: bool = True):
        self.root = root
        self.page_size = page_size
        self.require_referer = require_referer
        self.items: list[dict[str, str]] | None = None  # replaces unit/items.json when set
        column = (root / "zwgk/zcfb/index.html").read_text("utf-8")
        m = re.search(r'queryData="([^"]*)"', column)
        self.expected = json.loads(html.unescape(m.group(1)).replace("'", '"')) if m else {}

    def __call__(self, req: Request) -> Reply:
        if self.require_referer and not req.header("Referer"):
            page = (
                b"<html><head><title>412 Precondition Failed</title></head><body><h1>412</h1></body></html>"
            )
            return Reply(412, "text/html", page)
        for key in ("webId", "tplSetId", "pageId"):
            if self.expected.get(key) and req.query.get(key, [""])[0] != self.expected[key]:
                return _json({"success": False, "code": "500", "message": f"参数错误: {key}", "data": None})
        page_no, size = 1, self.page_size
        if "paramJson" in req.query:
            try:
                param = json.loads(req.query["paramJson"][0])
                page_no, size = int(param.get("pageNo", 1)), int(param.get("pageSize", self.page_size))
            except (ValueError, TypeError, AttributeError):
                return _json({"success": False, "code": "500", "message": "paramJson 格式错误", "data": None})
        items = (
            self.items
            if self.items is not None
            else json.loads((self.root / "unit/items.json").read_text("utf-8"))
        )
        chunk = items[(page_no - 1) * size : page_no * size]
        lis = "".join(
            f'<li><a href="{html.escape(i["href"])}" title="{html.escape(i["title"])}" target="_blank">'
            f"{html.escape(_shown(i['title']))}</a><span>[{i['date']}]</span></li>"
            for i in chunk
        )
        body = (
            f'<div class="txtList_01_box"><ul class="txtList_01">{lis}</ul></div>'
            f'<div class="pagination" rows="{size}" count="{len(items)}" pageNo="{page_no}" '
            f'maxPage="{max(1, -(-len(items) // size))}"></div>'
        )
        return _json(
            {
                "roles": None,
                "permissions": None,
                "success": True,
                "message": "操作成功",
                "code": "200",
                "data": {"html": body},
                "traceId": f"{page_no:016x}",
            }
        )


class FederalRegisterApi:
    """The Federal Register API: `documents.json` answers with only the fields asked for (the
    default set when none are; `presidential_document_type` as a field is a 400); the search file
    is chosen by `conditions[agencies][]` (`searches` maps an agency slug, '' for none, to a file);
    raw texts come as text/plain in their <pre> envelope, except that a path in `refuse` is
    answered that many times with the HTTP 200 'Request Access' page."""

    def __init__(self, root: Path, base_url: str):
        self.root = root
        self.base_url = base_url
        self.searches: dict[str, str] = {}
        self.refuse: dict[str, int] = {}

    def documents(self, req: Request) -> Reply:
        fields = req.query.get("fields[]") or list(FR_DEFAULT_FIELDS)
        if "presidential_document_type" in fields:
            return _json(
                {"status": 400, "errors": {"fields": "presidential_document_type is not a field"}}, 400
            )
        agency = req.query.get("conditions[agencies][]", [""])[0]
        name = self.searches.get(agency) or (
            f"api/v1/documents.{agency}.json" if agency else "api/v1/documents.json"
        )
        path = self.root / name
        if not path.is_file():
            return _json({"description": "no documents", "count": 0, "total_pages": 0, "results": []})
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        results = []
        for r in data.get("results", []):
            picked = {k: r.get(k) for k in fields if k in r}
            if picked.get("raw_text_url"):
                picked["raw_text_url"] = self.local(str(picked["raw_text_url"]))
            results.append(picked)
        data["results"] = results
        return _json(data, headers={"Cache-Control": "no-store"})

    def text(self, req: Request) -> Reply | None:
        if self.refuse.get(req.path, 0) > 0:
            self.refuse[req.path] -= 1
            return Reply(200, "text/html; charset=utf-8", (self.root / "request-access.html").read_bytes())
        path = (self.root / req.path.lstrip("/")).resolve()
        if not path.is_file() or self.root.resolve() not in path.parents:
            return Reply(404, "text/html; charset=utf-8", b"<html><body>Not Found</body></html>")
        return Reply(200, "text/plain; charset=utf-8", path.read_bytes(), {"Cache-Control": "no-store"})

    def local(self, url: str) -> str:
        """A www.federalregister.gov URL on this stand-in."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        return urlunsplit(parts._replace(scheme=base.scheme, netloc=base.netloc))


class LiveSites:
    """The three stand-ins, each on its own port as each site is on its own host."""

    def __init__(self, root: Path | None = None, *, mofcom_page_size: int = 15):
        self.root = root or live_root()
        self.mofcom = SiteServer(self.root / "mofcom")
        self.whitehouse = SiteServer(self.root / "whitehouse")
        self.federalregister = SiteServer(self.root / "federalregister", validators=False)
        self.cms = MofcomCms(self.root / "mofcom", mofcom_page_size)
        self.fr = FederalRegisterApi(self.root / "federalregister", self.federalregister.base_url)
        self.mofcom.routes[UNIT_PATH] = self.cms
        self.federalregister.routes[FR_SEARCH_PATH] = self.fr.documents
        self.federalregister.routes[FR_TEXT_PREFIX] = self.fr.text

    def servers(self) -> dict[str, SiteServer]:
        """Each stand-in by the real host it stands in for."""
        by_name = {
            "mofcom": self.mofcom,
            "whitehouse": self.whitehouse,
            "federalregister": self.federalregister,
        }
        return {host: by_name[name] for host, name in REAL_HOSTS.items()}

    def official_origins(self) -> dict[str, str]:
        """Each stand-in's origin (http://127.0.0.1:PORT) and that of the official site it stands
        in for (https://www.mofcom.gov.cn, ...)."""
        return {server.base_url: f"https://{host}" for host, server in self.servers().items()}

    def local_url(self, url: str) -> str:
        """A real site's URL on its stand-in (same path and query); other URLs unchanged."""
        parts = urlsplit(url)
        server = self.servers().get(parts.hostname or "")
        if server is None:
            return url
        return urlunsplit(parts._replace(scheme="http", netloc=f"127.0.0.1:{server.port}"))

    def __enter__(self) -> LiveSites:
        for server in (self.mofcom, self.whitehouse, self.federalregister):
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.mofcom, self.whitehouse, self.federalregister):
            server.stop()


def _shown(title: str, width: int = 24) -> str:
    return title if len(title) <= width else title[:width] + "…"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Reply(status, "application/json;charset=UTF-8", body, dict(headers or {}))
