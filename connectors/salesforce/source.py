"""The Salesforce pull: Contacts and Leads by SOQL, incremental on `SystemModstamp`, deletions, consent objects
(CONNECTORS.md §3).

A sync is a run of steps, each checkpointed page by page: `query:Contact`, `query:Lead` (REST `query` /
`queryAll` following `nextRecordsUrl`, or a Bulk API 2.0 query job), `deleted:Contact`, `deleted:Lead` (the
getDeleted feed), then `individual` and `consent` (Individual and ContactPointTypeConsent rows changed since
the last run, delivered on their Contacts and Leads, fetched fresh by `IndividualId`).

Incremental reads are keyset-paged on `(SystemModstamp, Id)`: each page moves the object's mark to its last row,
and the next query asks for `SystemModstamp > t OR (SystemModstamp = t AND Id > id)`, so rows sharing a stamp
are neither skipped nor read twice, and a resumed run re-issues the query from the mark instead of holding an
expiring query locator. Every run has a fixed upper bound `now - lag_seconds` so rows whose transaction was
still open when the run started are read by the next run rather than missed. The first load uses `query`
(live rows only); later runs use `queryAll`, whose `IsDeleted` rows become `crm_deleted` records (rows created
after the previous run and already deleted were never ingested and are skipped).

Settings (connectors file or `CDP_CONNECTOR_SALESFORCE__<KEY>`): `instance_url`, `access_token` (secret),
`api_version` (62.0), `objects` ([Contact, Lead]), `privacy_objects` (true: needs Data Protection and Privacy
enabled in the org), `deleted_feed` (true), `bulk` (false: full loads through Bulk 2.0), `bulk_threshold` (none:
any query step counting more rows goes through Bulk 2.0), `bulk_max_records` (50000), `bulk_poll_seconds` (2),
`bulk_timeout_seconds` (900), `page_size` (REST batch size, 200-2000), `lag_seconds` (60), `api_usage_stop`
(0.95), `field_map`, `data_use_purposes` and the `*_purposes` maps of `mapping.Options`.
"""

import copy
import csv
import datetime as dt
import io
import itertools
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdp.connectors.base import ConnectorConfig, Cursor, Page, SourceSignal
from cdp.connectors.http import ConnectorFailed, ConnectorRejected, HttpClient
from cdp.errors import InvalidInput
from connectors.salesforce import mapping as m
from connectors.salesforce.client import SalesforceHttp, make_salesforce_client

log = logging.getLogger(__name__)

PERSON_FIELDS: dict[str, tuple[str, ...]] = {
    "Contact": (
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "MobilePhone",
        "AccountId",
        "HasOptedOutOfEmail",
        "DoNotCall",
        "IsEmailBounced",
        "EmailBouncedDate",
        "MasterRecordId",
        "IsDeleted",
        "CreatedDate",
        "SystemModstamp",
    ),
    "Lead": (
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "MobilePhone",
        "Company",
        "Status",
        "LeadSource",
        "HasOptedOutOfEmail",
        "DoNotCall",
        "IsConverted",
        "ConvertedContactId",
        "ConvertedDate",
        "MasterRecordId",
        "IsDeleted",
        "CreatedDate",
        "SystemModstamp",
    ),
}
INDIVIDUAL_FIELDS = (
    "Id",
    "HasOptedOutSolicit",
    "HasOptedOutProcessing",
    "HasOptedOutProfiling",
    "HasOptedOutTracking",
    "HasOptedOutGeoTracking",
    "ShouldForget",
    "SendIndividualData",
    "IsDeleted",
    "SystemModstamp",
)
CONSENT_FIELDS = (
    "Id",
    "PartyId",
    "ContactPointType",
    "DataUsePurposeId",
    "PrivacyConsentStatus",
    "CaptureDate",
    "CaptureSource",
    "CaptureContactPointType",
    "EffectiveFrom",
    "EffectiveTo",
    "DoubleConsentCaptureDate",
    "IsDeleted",
    "SystemModstamp",
)
POINT_CONSENT_FIELDS = (
    *(f for f in CONSENT_FIELDS if f not in ("PartyId", "ContactPointType", "IsDeleted", "SystemModstamp")),
    "ContactPointId",
    "IsDeleted",
    "SystemModstamp",
)
CONTACT_POINTS = {
    "ContactPointEmail": ("Id", "EmailAddress", "ParentId"),
    "ContactPointPhone": ("Id", "TelephoneNumber", "ParentId"),
}
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
ID_CHUNK = 100  # ids per `IN (...)`: keeps the query URL well under Salesforce's 16,384-character limit
TERMINAL_FAILED = ("Failed", "Aborted")
MIN_DELETED_WINDOW = dt.timedelta(minutes=1)

Rows = list[dict[str, Any]]
Batch = tuple[list[dict[str, Any]], list[SourceSignal], bool]


def _flag(value: object, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _list(value: object, default: Sequence[str]) -> list[str]:
    if value is None or value == "":
        return list(default)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    raise InvalidInput("connector 'salesforce': expected a list of names", setting="objects")


@dataclass(frozen=True)
class SyncOptions:
    objects: tuple[str, ...]
    privacy: bool
    point_consent: bool
    deleted_feed: bool
    bulk: bool
    bulk_threshold: int | None
    bulk_max_records: int
    bulk_poll_seconds: float
    bulk_timeout_seconds: float
    page_size: int | None
    lag: dt.timedelta
    mapping: m.Options

    @classmethod
    def from_config(cls, config: ConnectorConfig) -> "SyncOptions":
        objects = tuple(_list(config.get("objects"), ("Contact", "Lead")))
        unknown = [o for o in objects if o not in PERSON_FIELDS]
        if unknown or not objects:
            raise InvalidInput(
                "connector 'salesforce': objects must be Contact and/or Lead", setting="objects", count=len(unknown)
            )
        mapping = m.Options.from_config(config)
        bad = [k for k in mapping.field_map if not FIELD_NAME.fullmatch(k)]
        if bad:
            raise InvalidInput("connector 'salesforce': field_map keys must be API field names", setting="field_map")
        threshold = config.get("bulk_threshold")
        page_size = config.get("page_size")
        return cls(
            objects=objects,
            privacy=_flag(config.get("privacy_objects"), True),
            point_consent=_flag(config.get("contact_point_consent"), _flag(config.get("privacy_objects"), True)),
            deleted_feed=_flag(config.get("deleted_feed"), True),
            bulk=_flag(config.get("bulk"), False),
            bulk_threshold=int(threshold) if threshold not in (None, "") else None,
            bulk_max_records=int(config.get("bulk_max_records", 50_000)),
            bulk_poll_seconds=float(config.get("bulk_poll_seconds", 2.0)),
            bulk_timeout_seconds=float(config.get("bulk_timeout_seconds", 900.0)),
            page_size=int(page_size) if page_size not in (None, "") else None,
            lag=dt.timedelta(seconds=float(config.get("lag_seconds", 60))),
            mapping=mapping,
        )

    def steps(self) -> list[str]:
        steps = [f"query:{o}" for o in self.objects]
        if self.deleted_feed:
            steps += [f"deleted:{o}" for o in self.objects]
        if self.privacy:
            steps += ["individual:Individual", "consent:ContactPointTypeConsent"]
        if self.point_consent:
            steps += ["pointconsent:ContactPointConsent"]
        return steps

    def person_fields(self, sobject: str) -> list[str]:
        fields = list(PERSON_FIELDS[sobject])
        if self.privacy:
            fields.append("IndividualId")
        fields += [f for f in self.mapping.field_map if f not in fields]
        return fields


def _where(mark: Sequence[str] | None, until: str, *extra: str) -> str:
    parts = list(extra)
    if mark:
        at = m.soql_time(m.parse_time(mark[0]))
        after = m.salesforce_id(mark[1])
        parts.append(f"(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > '{after}'))")
    parts.append(f"SystemModstamp <= {until}")
    return " AND ".join(parts)


def _advance(marks: dict[str, Any], sobject: str, rows: Rows) -> None:
    """Move the object's mark to the greatest `(SystemModstamp, Id)` of the page."""
    current = marks.get(sobject)
    best = (m.parse_time(current[0]), current[1]) if current else None
    for row in rows:
        key = (m.parse_time(str(row["SystemModstamp"])), m.salesforce_id(row.get("Id")))
        if best is None or key > best:
            best = key
    if best is not None:
        marks[sobject] = [m.soql_time(best[0]), best[1]]


def _snapshot(state: Mapping[str, Any]) -> Cursor:
    return copy.deepcopy(dict(state))


class SalesforcePull:
    name = m.SOURCE

    def client(self, config: ConnectorConfig) -> HttpClient:
        return make_salesforce_client(config)

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        if not isinstance(http, SalesforceHttp):
            raise TypeError("the Salesforce pull needs the client from SalesforcePull.client")
        opts = SyncOptions.from_config(config)
        state: dict[str, Any] = copy.deepcopy(dict(cursor)) if cursor else {}
        state["v"] = 1
        marks: dict[str, Any] = state.setdefault("marks", {})
        state.setdefault("deleted", {})
        steps = opts.steps()
        run = state.get("run")
        if not isinstance(run, dict) or run.get("step") not in steps:
            until = dt.datetime.now(dt.UTC).replace(microsecond=0) - opts.lag
            run = state["run"] = {
                "step": steps[0],
                "until": m.soql_time(until),
                "since": {o: marks[o][0] if o in marks else None for o in PERSON_FIELDS},
            }
        for index in range(steps.index(run["step"]), len(steps)):
            step = steps[index]
            run["step"] = step
            for records, signals, done in self._step(http, opts, state, step):
                if done:
                    run["step"] = steps[index + 1] if index + 1 < len(steps) else "end"
                yield Page(records, _snapshot(state), signals)
        state.pop("run", None)
        yield Page([], _snapshot(state), last=True)

    def _step(self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any], step: str) -> Iterator[Batch]:
        kind, _, sobject = step.partition(":")
        if kind == "query":
            return self._people(http, opts, state, sobject)
        if kind == "deleted":
            return self._deleted(http, state, sobject)
        if kind == "individual":
            return self._individuals(http, opts, state)
        if kind == "pointconsent":
            return self._point_consents(http, opts, state)
        return self._type_consents(http, opts, state)

    # --- Contacts and Leads -------------------------------------------------------------------------------

    def _people(self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any], sobject: str) -> Iterator[Batch]:
        marks, run = state["marks"], state["run"]
        mark = marks.get(sobject)
        full = mark is None
        where = _where(mark, run["until"])
        soql = (
            f"SELECT {', '.join(opts.person_fields(sobject))} FROM {sobject} WHERE {where} ORDER BY SystemModstamp, Id"
        )
        if "bulk" in run or (opts.bulk and full) or self._over_threshold(http, opts, sobject, where, full):
            batches = self._bulk(http, opts, run, soql, all_rows=not full)
        else:
            batches = self._rest(http, opts, soql, all_rows=not full)
        since = run.get("since", {}).get(sobject)
        for rows, done in batches:
            records = self._person_records(opts, sobject, rows, since)
            _advance(marks, sobject, rows)
            yield records, [], done

    def _person_records(self, opts: SyncOptions, sobject: str, rows: Rows, since: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in rows:
            if not row.get("IsDeleted"):
                out.append(m.map_person(sobject, row, opts.mapping))
                continue
            created = row.get("CreatedDate")
            if since is None or (created and m.parse_time(str(created)) > m.parse_time(since)):
                continue  # created after the previous run and already gone: cdp never had it
            out.append(
                m.deleted_record(
                    m.salesforce_id(row.get("Id")), str(row["SystemModstamp"]), sobject, row.get("MasterRecordId")
                )
            )
        return out

    def _over_threshold(self, http: SalesforceHttp, opts: SyncOptions, sobject: str, where: str, full: bool) -> bool:
        if opts.bulk_threshold is None:
            return False
        body = http.get_json(
            f"{http.data_path}/{'query' if full else 'queryAll'}",
            params={"q": f"SELECT COUNT() FROM {sobject} WHERE {where}"},
        )
        return int(body.get("totalSize") or 0) > opts.bulk_threshold

    # --- REST query ---------------------------------------------------------------------------------------

    def _rest(
        self, http: SalesforceHttp, opts: SyncOptions, soql: str, *, all_rows: bool
    ) -> Iterator[tuple[Rows, bool]]:
        headers = {"Sforce-Query-Options": f"batchSize={opts.page_size}"} if opts.page_size else {}
        body = http.get_json(
            f"{http.data_path}/{'queryAll' if all_rows else 'query'}", params={"q": soql}, headers=headers
        )
        while True:
            next_url = body.get("nextRecordsUrl")
            done = bool(body.get("done", True)) or not next_url
            yield list(body.get("records") or []), done
            if done:
                return
            # Only ever follow a path on the same instance: the bearer token must not go anywhere else.
            if not isinstance(next_url, str) or not next_url.startswith(f"{http.data_path}/query"):
                raise ConnectorFailed("Salesforce answered a query with an unexpected nextRecordsUrl")
            body = http.get_json(next_url, headers=headers)

    # --- Bulk API 2.0 -------------------------------------------------------------------------------------

    def _bulk(
        self, http: SalesforceHttp, opts: SyncOptions, run: dict[str, Any], soql: str, *, all_rows: bool
    ) -> Iterator[tuple[Rows, bool]]:
        jobs = f"{http.data_path}/jobs/query"
        job: dict[str, Any] | None = run.get("bulk")
        if job is not None:
            # Resuming: the job's results stay available for days; a failed or purged job is started again.
            response = http.request("GET", f"{jobs}/{m.salesforce_id(job['job'])}", accept=(404,))
            if response.status_code == 404 or response.json().get("state") in TERMINAL_FAILED:
                job = None
        if job is None:
            created = http.post_json(
                jobs,
                {
                    "operation": "queryAll" if all_rows else "query",
                    "query": soql,
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                },
            )
            job = run["bulk"] = {"job": m.salesforce_id(created.get("id")), "locator": None}
            yield [], False  # checkpoint the job id: a stopped sync picks up this job's results
        job_id = job["job"]
        self._await_job(http, opts, f"{jobs}/{job_id}")
        while True:
            params = {"maxRecords": str(opts.bulk_max_records)}
            if job["locator"]:
                params["locator"] = job["locator"]
            response = http.request("GET", f"{jobs}/{job_id}/results", params=params, headers={"Accept": "text/csv"})
            rows = [m.csv_row(r) for r in csv.DictReader(io.StringIO(response.text))]
            locator = response.headers.get("sforce-locator")
            done = locator in (None, "", "null")
            if done:
                run.pop("bulk", None)
            else:
                job["locator"] = locator
            yield rows, done
            if done:
                return

    def _await_job(self, http: SalesforceHttp, opts: SyncOptions, url: str) -> None:
        deadline = time.monotonic() + opts.bulk_timeout_seconds
        while True:
            state = http.get_json(url).get("state")
            if state == "JobComplete":
                return
            if state in TERMINAL_FAILED:
                raise ConnectorFailed(
                    f"the Salesforce Bulk query job ended {state}; the next sync starts a new one", job_state=state
                )
            if time.monotonic() >= deadline:
                raise ConnectorFailed(
                    "the Salesforce Bulk query job is still running; run the sync again to collect its results",
                    job_state=str(state),
                )
            if opts.bulk_poll_seconds > 0:
                time.sleep(opts.bulk_poll_seconds)

    # --- getDeleted ---------------------------------------------------------------------------------------

    def _deleted(self, http: SalesforceHttp, state: dict[str, Any], sobject: str) -> Iterator[Batch]:
        watermarks, run = state["deleted"], state["run"]
        until = m.parse_time(run["until"])
        start_at = watermarks.get(sobject)
        if start_at is None:
            watermarks[sobject] = run["until"]  # nothing was stored before this first load to see deleted
            return
        start = m.parse_time(start_at)
        if until - start < MIN_DELETED_WINDOW:
            return
        try:
            body = http.get_json(
                f"{http.data_path}/sobjects/{sobject}/deleted/",
                params={"start": start.isoformat(), "end": until.isoformat()},
            )
        except ConnectorRejected as exc:
            if exc.code != "INVALID_REPLICATION_DATE":
                raise
            log.warning("salesforce.deleted_log_gap", extra={"object": sobject, "reason": exc.code})
            watermarks[sobject] = run["until"]
            return
        earliest = body.get("earliestDateAvailable")
        if earliest and m.parse_time(str(earliest)) > start:
            # The delete log was purged past our watermark: hard deletes in between cannot be seen (§3.2).
            log.warning("salesforce.deleted_log_gap", extra={"object": sobject, "reason": "earliestDateAvailable"})
        records = [
            m.deleted_record(m.salesforce_id(r.get("id")), str(r["deletedDate"]), sobject)
            for r in body.get("deletedRecords") or []
        ]
        latest = body.get("latestDateCovered")
        watermarks[sobject] = m.soql_time(m.parse_time(str(latest))) if latest else run["until"]
        yield records, [], True

    # --- Individual and ContactPointTypeConsent -----------------------------------------------------------

    def _privacy_rows(
        self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any], sobject: str, fields: Sequence[str]
    ) -> Iterator[tuple[Rows, bool]]:
        where = _where(state["marks"].get(sobject), state["run"]["until"])
        soql = f"SELECT {', '.join(fields)} FROM {sobject} WHERE {where} ORDER BY SystemModstamp, Id"
        pages = self._rest(http, opts, soql, all_rows=False)
        try:
            first = next(pages)
        except ConnectorRejected as exc:
            if exc.code != "INVALID_TYPE":
                raise
            # The org lacks the object (Data Protection and Privacy off, API version too old): skip this step
            # rather than fail every sync after its Contacts and Leads; `privacy_objects: false` silences it.
            log.warning("salesforce.object_unavailable", extra={"object": sobject})
            yield [], True
            return
        for rows, done in itertools.chain([first], pages):
            _advance(state["marks"], sobject, rows)
            yield rows, done

    def _linked(
        self, http: SalesforceHttp, opts: SyncOptions, individual_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Contacts (first) and Leads of each Individual, read fresh."""
        ids = sorted({m.salesforce_id(i) for i in individual_ids})
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for sobject in opts.objects:
            for start in range(0, len(ids), ID_CHUNK):
                quoted = ", ".join(f"'{i}'" for i in ids[start : start + ID_CHUNK])
                soql = (
                    f"SELECT {', '.join(opts.person_fields(sobject))} FROM {sobject} "
                    f"WHERE IndividualId IN ({quoted}) ORDER BY Id"
                )
                for rows, _done in self._rest(http, opts, soql, all_rows=False):
                    for row in rows:
                        out.setdefault(str(row.get("IndividualId")), []).append((sobject, row))
        return out

    def _individuals(self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any]) -> Iterator[Batch]:
        for rows, done in self._privacy_rows(http, opts, state, "Individual", INDIVIDUAL_FIELDS):
            # Only an Individual with a flag cdp acts on is worth fetching its Contacts and Leads for.
            live = [r for r in rows if not r.get("IsDeleted") and m.individual_relevant(r, opts.mapping)]
            linked = self._linked(http, opts, [str(r.get("Id")) for r in live]) if live else {}
            records: dict[str, dict[str, Any]] = {}
            signals: list[SourceSignal] = []
            for individual in live:
                people = linked.get(str(individual["Id"]), [])
                for sobject, row in people:
                    record = records.get(row["Id"]) or m.map_person(sobject, row, opts.mapping)
                    found = m.individual_consents(individual, record, opts.mapping)
                    if found:
                        record["consents"].extend(found)
                        records[row["Id"]] = record
                if people:
                    signals += m.individual_signals(individual, m.salesforce_id(people[0][1].get("Id")))
            yield list(records.values()), signals, done

    def _type_consents(self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any]) -> Iterator[Batch]:
        for rows, done in self._privacy_rows(http, opts, state, "ContactPointTypeConsent", CONSENT_FIELDS):
            live = [
                r
                for r in rows
                if not r.get("IsDeleted") and r.get("PartyId") and m.type_consent_relevant(r, opts.mapping)
            ]
            linked = self._linked(http, opts, [str(r["PartyId"]) for r in live]) if live else {}
            records: dict[str, dict[str, Any]] = {}
            for consent_row in live:
                for sobject, row in linked.get(str(consent_row["PartyId"]), []):
                    record = records.get(row["Id"]) or m.map_person(sobject, row, opts.mapping)
                    mapped = m.type_consent(consent_row, record, opts.mapping)
                    if mapped is not None:
                        record["consents"].append(mapped[0])
                        record["events"].append(mapped[1])
                        records[row["Id"]] = record
            skipped = sum(1 for r in rows if not r.get("IsDeleted")) - len(live)
            if skipped:
                log.info("salesforce.consents_skipped", extra={"count": skipped})
            yield list(records.values()), [], done

    def _point_consents(self, http: SalesforceHttp, opts: SyncOptions, state: dict[str, Any]) -> Iterator[Batch]:
        """ContactPointConsent: consent through one ContactPointEmail / ContactPointPhone (API 48+)."""
        for rows, done in self._privacy_rows(http, opts, state, "ContactPointConsent", POINT_CONSENT_FIELDS):
            live = [
                r
                for r in rows
                if not r.get("IsDeleted")
                and r.get("ContactPointId")
                and m.type_consent_relevant(r, opts.mapping, point=True)
            ]
            ids = sorted({m.salesforce_id(r["ContactPointId"]) for r in live})
            points: dict[str, tuple[str, dict[str, Any]]] = {}
            for sobject, fields in CONTACT_POINTS.items():
                for start in range(0, len(ids), ID_CHUNK):
                    quoted = ", ".join(f"'{i}'" for i in ids[start : start + ID_CHUNK])
                    soql = f"SELECT {', '.join(fields)} FROM {sobject} WHERE Id IN ({quoted})"
                    for found, _done in self._rest(http, opts, soql, all_rows=False):
                        points.update({str(p["Id"]): (sobject, p) for p in found})
            records: dict[str, dict[str, Any]] = {}
            for consent_row in live:
                hit = points.get(str(consent_row["ContactPointId"]))
                if hit is None:
                    continue  # an address contact point, or one gone since
                sobject, point = hit
                record = records.get(str(point["Id"])) or m.point_record(
                    point, sobject, str(consent_row["SystemModstamp"])
                )
                if record is None:
                    continue
                channel = "email" if sobject == "ContactPointEmail" else "phone"
                mapped = m.type_consent(consent_row, record, opts.mapping, channel=channel)
                if mapped is not None:
                    record["consents"].append(mapped[0])
                    record["events"].append(mapped[1])
                    records[str(point["Id"])] = record
            yield list(records.values()), [], done
