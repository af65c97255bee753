"""A local Salesforce (127.0.0.1, own thread) speaking the documented REST and Bulk 2.0 responses (§3).

It evaluates the SOQL shapes the connector sends (keyset window on `SystemModstamp, Id`, `IndividualId IN`,
`COUNT()`), pages REST results with `nextRecordsUrl`, runs Bulk 2.0 query jobs (poll, CSV results paged with
`Sforce-Locator`), serves the getDeleted feed, counts `Sforce-Limit-Info: api-usage=N/M`, and replays queued
faults (503, 403 `REQUEST_LIMIT_EXCEEDED`) for the next matching request.
"""

import csv
import datetime as dt
import io
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

VERSION = "62.0"
DATA = f"/services/data/v{VERSION}"
TOKEN = "00Dtest!fake-access-token"
REFRESH_TOKEN = "5Aep861-fake-refresh-token"
CLIENT_ID = "3MVG9-fake-consumer-key"
SELECT = re.compile(r"^SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>.+))?$")
KEYSET = re.compile(r"^\(SystemModstamp > (\S+) OR \(SystemModstamp = (\S+) AND Id > '(\w+)'\)\)$")
UNTIL = re.compile(r"^SystemModstamp <= (\S+)$")
IN_LIST = re.compile(r"^(\w+) IN \((.*)\)$")


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def sf_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _split_and(where: str) -> list[str]:
    parts, depth, current = [], 0, ""
    tokens = re.split(r"( AND |\(|\))", where)
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if token == " AND " and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += token
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


class Malformed(Exception):
    pass


class InvalidType(Exception):
    pass


@dataclass
class Job:
    id: str
    sobject: str
    operation: str
    rows: list[dict[str, Any]]
    fields: list[str]
    polls: int = 0
    state: str = "UploadComplete"


@dataclass
class FakeSalesforce:
    data: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            name: []
            for name in (
                "Contact",
                "Lead",
                "Individual",
                "ContactPointTypeConsent",
                "ContactPointConsent",
                "ContactPointEmail",
                "ContactPointPhone",
            )
        }
    )
    deleted_log: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    earliest_deleted: str = "2026-11-05T00:00:00.000+0000"
    page_size: int = 2000
    usage: int = 0
    limit: int = 100_000
    polls_before_complete: int = 1
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    token_calls: list[dict[str, str]] = field(default_factory=list)
    next_url_host: str = ""
    job_outcome: str | None = None  # e.g. "Failed": jobs polled now end that way
    faults: list[tuple[str, int, Any]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    _locators: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- data -----------------------------------------------------------------------------------------

    def put(self, sobject: str, row: dict[str, Any]) -> None:
        rows = self.data[sobject]
        rows[:] = [r for r in rows if r["Id"] != row["Id"]] + [row]

    def change(self, sobject: str, record_id: str, at: str, **fields: Any) -> None:
        [row] = [r for r in self.data[sobject] if r["Id"] == record_id]
        row.update(fields, SystemModstamp=at)

    def fail(self, path_contains: str, status: int, body: Any = None) -> None:
        self.faults.append((path_contains, status, body))

    def paths(self) -> list[str]:
        """Requested paths with the query string decoded (SOQL readable)."""
        return [unquote_plus(p) for _, p in self.log]

    # --- server ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeSalesforce":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, *, csv_text: str | None = None, **headers: str
    ) -> None:
        payload = csv_text.encode() if csv_text is not None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/csv" if csv_text is not None else "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Sforce-Limit-Info", f"api-usage={self.usage}/{self.limit}")
        for key, value in headers.items():
            handler.send_header(key.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.usage += 1
            self.log.append((method, handler.path))
            if handler.path == "/services/oauth2/token":
                self._token(handler)
                return
            if handler.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                self._send(handler, 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
                return
            for i, (needle, status, body) in enumerate(self.faults):
                if needle in unquote_plus(handler.path):
                    del self.faults[i]
                    self._send(handler, status, body)
                    return
            length = int(handler.headers.get("Content-Length") or 0)
            raw = handler.rfile.read(length) if length else b""
            try:
                self._route(handler, method, raw)
            except Malformed as exc:
                self._send(handler, 400, [{"message": str(exc), "errorCode": "MALFORMED_QUERY"}])
            except InvalidType as exc:
                self._send(handler, 400, [{"message": str(exc), "errorCode": "INVALID_TYPE"}])

    def _route(self, handler: BaseHTTPRequestHandler, method: str, raw: bytes) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        if method == "GET" and path in (f"{DATA}/query", f"{DATA}/queryAll"):
            batch = handler.headers.get("Sforce-Query-Options", "")
            size = int(batch.removeprefix("batchSize=")) if batch.startswith("batchSize=") else self.page_size
            self._query(handler, query["q"], all_rows=path.endswith("queryAll"), size=min(size, self.page_size))
        elif method == "GET" and path.startswith(f"{DATA}/query/"):
            self._more(handler, path.rsplit("/", 1)[1])
        elif method == "GET" and re.fullmatch(rf"{DATA}/sobjects/\w+/deleted/", path):
            self._deleted(handler, path.split("/")[-3], query)
        elif method == "POST" and path == f"{DATA}/jobs/query":
            self._create_job(handler, json.loads(raw))
        elif method == "GET" and (m := re.fullmatch(rf"{DATA}/jobs/query/(\w+)", path)):
            self._poll(handler, m.group(1))
        elif method == "GET" and (m := re.fullmatch(rf"{DATA}/jobs/query/(\w+)/results", path)):
            self._results(handler, m.group(1), query)
        else:
            self._send(handler, 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])

    def _token(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        self.token_calls.append(form)
        if (form.get("grant_type"), form.get("refresh_token"), form.get("client_id")) != (
            "refresh_token",
            REFRESH_TOKEN,
            CLIENT_ID,
        ):
            self._send(handler, 400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
            return
        token = f"00Dtest!refreshed-{len(self.token_calls)}"
        self.tokens.add(token)
        self._send(
            handler,
            200,
            {"access_token": token, "instance_url": self.url, "token_type": "Bearer", "issued_at": "1764885600000"},
        )

    # --- SOQL -----------------------------------------------------------------------------------------

    def evaluate(self, soql: str, *, all_rows: bool) -> tuple[str, list[str], list[dict[str, Any]]]:
        match = SELECT.match(soql)
        if not match:
            raise Malformed("unexpected query shape")
        sobject, fields = match["obj"], [f.strip() for f in match["fields"].split(",")]
        if sobject not in self.data:
            raise InvalidType(f"sObject type '{sobject}' is not supported.")
        rows = [r for r in self.data[sobject] if all_rows or not r.get("IsDeleted")]
        for condition in _split_and(match["where"] or ""):
            if m := KEYSET.match(condition):
                at, after = when(m.group(1)), m.group(3)
                rows = [
                    r
                    for r in rows
                    if when(r["SystemModstamp"]) > at or (when(r["SystemModstamp"]) == at and r["Id"] > after)
                ]
            elif m := UNTIL.match(condition):
                rows = [r for r in rows if when(r["SystemModstamp"]) <= when(m.group(1))]
            elif m := IN_LIST.match(condition):
                wanted = {v.strip().strip("'") for v in m.group(2).split(",")}
                rows = [r for r in rows if r.get(m.group(1)) in wanted]
            else:
                raise Malformed("unexpected condition")
        order = match["order"] or ""
        if order == "SystemModstamp, Id":
            rows.sort(key=lambda r: (when(r["SystemModstamp"]), r["Id"]))
        elif order == "Id":
            rows.sort(key=lambda r: r["Id"])
        elif order:
            raise Malformed("unexpected order")
        return sobject, fields, rows

    def _project(self, sobject: str, fields: list[str], row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"{DATA}/sobjects/{sobject}/{row['Id']}"},
        }
        out.update({f: row.get(f) for f in fields})
        return out

    def _query(self, handler: BaseHTTPRequestHandler, soql: str, *, all_rows: bool, size: int) -> None:
        sobject, fields, rows = self.evaluate(soql, all_rows=all_rows)
        if fields == ["COUNT()"]:
            self._send(handler, 200, {"totalSize": len(rows), "done": True, "records": []})
            return
        projected = [self._project(sobject, fields, r) for r in rows]
        self._page(handler, projected, len(projected), size)

    def _page(self, handler: BaseHTTPRequestHandler, rows: list[dict[str, Any]], total: int, size: int) -> None:
        body: dict[str, Any] = {"totalSize": total, "done": len(rows) <= size, "records": rows[:size]}
        if len(rows) > size:
            locator = f"01g{uuid.uuid4().hex[:12]}-{size}"
            self._locators[locator] = [*rows[size:], {"__size": size, "__total": total}]
            body["nextRecordsUrl"] = f"{self.next_url_host}{DATA}/query/{locator}"
        self._send(handler, 200, body)

    def _more(self, handler: BaseHTTPRequestHandler, locator: str) -> None:
        stored = self._locators.pop(locator, None)
        if stored is None:
            self._send(handler, 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}])
            return
        meta = stored.pop()
        self._page(handler, stored, meta["__total"], meta["__size"])

    # --- getDeleted -----------------------------------------------------------------------------------

    def _deleted(self, handler: BaseHTTPRequestHandler, sobject: str, query: dict[str, str]) -> None:
        start, end = when(query["start"]), when(query["end"]).replace(second=0)
        records = [r for r in self.deleted_log.get(sobject, []) if start <= when(r["deletedDate"]) <= end]
        self._send(
            handler,
            200,
            {
                "deletedRecords": records,
                "earliestDateAvailable": self.earliest_deleted,
                "latestDateCovered": sf_time(end),
            },
        )

    # --- Bulk 2.0 -------------------------------------------------------------------------------------

    def _create_job(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        assert body["contentType"] == "CSV" and body["operation"] in ("query", "queryAll")
        sobject, fields, rows = self.evaluate(body["query"], all_rows=body["operation"] == "queryAll")
        job = Job(f"750gL{uuid.uuid4().hex[:13]}", sobject, body["operation"], rows, fields)
        self.jobs[job.id] = job
        self._send(
            handler,
            200,
            {
                "id": job.id,
                "operation": job.operation,
                "object": sobject,
                "createdDate": "2026-11-20T10:00:00.000+0000",
                "state": "UploadComplete",
                "contentType": "CSV",
                "apiVersion": float(VERSION),
                "lineEnding": "LF",
                "columnDelimiter": "COMMA",
            },
        )

    def _poll(self, handler: BaseHTTPRequestHandler, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            self._send(handler, 404, [{"message": "job not found", "errorCode": "NOT_FOUND"}])
            return
        job.polls += 1
        if self.job_outcome is not None:
            job.state = self.job_outcome
        if job.state not in ("Failed", "Aborted"):
            job.state = "JobComplete" if job.polls > self.polls_before_complete else "InProgress"
        self._send(handler, 200, {"id": job.id, "operation": job.operation, "state": job.state})

    def _results(self, handler: BaseHTTPRequestHandler, job_id: str, query: dict[str, str]) -> None:
        job = self.jobs[job_id]
        if job.state != "JobComplete":
            self._send(handler, 412, [{"message": "job not complete", "errorCode": "JOB_NOT_COMPLETE"}])
            return
        size = int(query.get("maxRecords", "50000"))
        offset = int(query.get("locator", "0") or 0)
        chunk = job.rows[offset : offset + size]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job.fields)
        for row in chunk:
            writer.writerow([_csv_value(row.get(f)) for f in job.fields])
        more = offset + size < len(job.rows)
        self._send(
            handler,
            200,
            None,
            csv_text=out.getvalue(),
            Sforce_Locator=str(offset + size) if more else "null",
            Sforce_NumberOfRecords=str(len(chunk)),
        )


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", text):
        return text.replace("+0000", "Z")  # Bulk CSV datetimes end in Z (§0.10)
    return text
