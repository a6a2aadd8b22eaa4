"""Crawl tests: every spider runs as a real Scrapy crawl (scrapers.crawl.run_crawl → subprocess) against a local
replay server (tests/replay.py) serving real recorded responses, read in place from the real-data folder
(pages for pagination are built at test time from real records). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
from pathlib import Path

import pytest

from scrapers.crawl import CrawlReport, run_crawl
from scrapers.middlewares import parse_retry_after
from scrapers.snapshots import MANIFEST, SnapshotStore
from tests.replay import Reply, ReplayServer, Seen

BOAMP_BASE = "/api/explore/v2.1/catalog/datasets/boamp"
TED_BASE = "/v3"
DECP_BASE = "/api/1"
DECP_DATASET = "5cd57bf68b4c4179299eb0e9"
DAY = dt.date(2024, 3, 5)
MANIFEST_KEYS = {"file", "url", "method", "request_body", "fetched_at", "http_status", "sha256", "bytes",
                 "content_type"}
# Tiny delays so the whole file runs in well under a minute; production values are in scrapers/settings.py.
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_BACKOFF_BASE": "0.05",
    "RETRY_BACKOFF_MAX": "0.2",
    "RETRY_AFTER_MAX": "5",
    "DOWNLOAD_TIMEOUT": "10",
    "HTTPPROXY_ENABLED": "False",
    "SNAPSHOT_FSYNC": "False",
}


# ---------------------------------------------------------------------------------------------------- helpers
@pytest.fixture()
def server():
    with ReplayServer() as srv:
        yield srv


def crawl(source: str, srv: ReplayServer, raw: Path, start: dt.date = DAY, end: dt.date | None = None,
          settings: dict | None = None, **kwargs) -> CrawlReport:
    urls = {"BOAMP_API_URL": srv.url(BOAMP_BASE), "TED_API_URL": srv.url(TED_BASE),
            "DECP_API_URL": srv.url(DECP_BASE), "DECP_DATASET_ID": DECP_DATASET}
    kwargs.setdefault("timeout", 60)
    return run_crawl(source, start, end or start, raw, settings={**FAST, **urls, **(settings or {})}, **kwargs)


def assert_local_only(report: CrawlReport, srv: ReplayServer) -> None:
    """Every request the crawl made reached the replay server, and no proxy was in the way."""
    assert report.stats["settings"]["HTTPPROXY_ENABLED"] is False
    assert report.stats["hosts"], report.log_tail
    assert all(host.startswith("127.0.0.1:") for host in report.stats["hosts"]), report.stats["hosts"]
    assert report.requests == len(srv.log)


def assert_partition(folder: Path, files: set[str], url_prefix: str) -> list[dict]:
    """The committed partition holds exactly ``files`` and a manifest line per file matching its bytes."""
    assert folder.is_dir(), folder
    lines = [json.loads(line) for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines()]
    assert {line["file"] for line in lines} == files
    assert len(lines) == len(files)  # no duplicate line
    assert {p.name for p in folder.iterdir()} == files | {MANIFEST}
    for line in lines:
        assert set(line) == MANIFEST_KEYS
        data = (folder / line["file"]).read_bytes()
        assert line["sha256"] == hashlib.sha256(data).hexdigest()
        assert line["bytes"] == len(data)
        assert line["http_status"] == 200
        assert line["url"].startswith(url_prefix)
        assert dt.datetime.fromisoformat(line["fetched_at"]).tzinfo is not None
        assert (line["request_body"] is None) == (line["method"] == "GET")
    store = SnapshotStore(folder.parent.parent, folder.parent.name)
    assert store.verify(folder.name) == []
    return lines


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def manifest_files(folder: Path) -> set[str]:
    path = folder / MANIFEST
    if not path.is_file():
        return set()
    return {json.loads(line)["file"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def stable_manifest(folder: Path, quiet: float = 0.5, timeout: float = 20.0) -> set[str]:
    """Wait until the partial manifest stops growing (the crawl is stuck on a hanging request)."""
    deadline = time.monotonic() + timeout
    files, since = manifest_files(folder), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        now = manifest_files(folder)
        if now != files:
            files, since = now, time.monotonic()
    return files


# ---------------------------------------------------------------------------------------------------- BOAMP (ODS)
def day_records(real: list[dict], count: int, day: str, strip: bool = False) -> list[dict]:
    """``count`` real records re-dated to ``day`` with distinct idweb (sorted like order_by=idweb)."""
    records = []
    for i in range(count):
        record = dict(real[i % len(real)])
        record["idweb"] = record["id"] = f"{day[2:4]}-{day[5:7]}{day[8:10]}{i:05d}"
        record["dateparution"] = day
        if strip:  # the export test needs 12 000 lines: drop the two big JSON strings to stay small
            record.pop("donnees", None)
            record.pop("gestion", None)
        records.append(record)
    return records


class FakeOds:
    """/records and /exports/jsonl of an ODS dataset with ODS's limits (limit ≤ 100, offset+limit ≤ 10 000 → 400).

    ``faults[offset]`` is a list of replies given (once each) before the normal answer for that offset.
    """

    def __init__(self, days: dict[str, list[dict]], total: dict[str, int] | None = None,
                 faults: dict[int, list[Reply]] | None = None) -> None:
        self.days, self.total, self.faults = days, total or {}, faults or {}
        self.violations: list[str] = []

    def install(self, srv: ReplayServer) -> FakeOds:
        srv.route("GET", BOAMP_BASE + "/records", self.records)
        srv.route("GET", BOAMP_BASE + "/exports/jsonl", self.export)
        return self

    def day(self, seen: Seen) -> str:
        found = re.fullmatch(r"dateparution=date'(\d{4}-\d{2}-\d{2})'", seen.query.get("where", ""))
        assert found, seen.query
        return found.group(1)

    def records(self, seen: Seen) -> Reply:
        day = self.day(seen)
        limit, offset = int(seen.query["limit"]), int(seen.query["offset"])
        if seen.query.get("order_by") != "idweb":
            self.violations.append(f"order_by {seen.query.get('order_by')}")
        if limit > 100 or offset + limit > 10_000:
            self.violations.append(f"limit={limit} offset={offset}")
            return Reply.json({"error_code": "InvalidRESTParameterError"}, status=400)
        if self.faults.get(offset):
            return self.faults[offset].pop(0)
        rows = self.days.get(day, [])
        return Reply.json({"total_count": self.total.get(day, len(rows)), "results": rows[offset:offset + limit]})

    def export(self, seen: Seen) -> Reply:
        rows = self.days.get(self.day(seen), [])
        body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
        return Reply(body=body, headers={"Content-Type": "application/jsonl"})


def records_requests(srv: ReplayServer) -> list[Seen]:
    return srv.requests(BOAMP_BASE + "/records")


def idwebs(folder: Path) -> list[str]:
    ids = []
    for path in sorted(folder.glob("records-*.json")):
        ids.extend(r["idweb"] for r in json.loads(path.read_bytes())["results"])
    return ids


def test_boamp_pages_to_total_count_one_partition_per_day(server, tmp_path, boamp_real):
    day1, day2 = "2024-03-05", "2024-03-06"
    ods = FakeOds({day1: day_records(boamp_real, 250, day1), day2: day_records(boamp_real, 20, day2)}).install(server)
    report = crawl("boamp", server, tmp_path, DAY, DAY + dt.timedelta(days=1))
    assert report.ok, report.log_tail
    assert report.partitions_written == [day1, day2]
    assert report.responses_by_status == {"200": 4}
    assert report.items == 4
    assert_local_only(report, server)
    assert not ods.violations
    offsets = sorted((s.query["where"], int(s.query["offset"])) for s in records_requests(server))
    assert offsets == [(f"dateparution=date'{day1}'", 0), (f"dateparution=date'{day1}'", 100),
                       (f"dateparution=date'{day1}'", 200), (f"dateparution=date'{day2}'", 0)]
    assert all(s.query["limit"] == "100" and s.query["order_by"] == "idweb" for s in records_requests(server))
    base = tmp_path / "boamp"
    assert_partition(base / day1, {"records-0000000000.json", "records-0000000100.json", "records-0000000200.json"},
                     server.url(BOAMP_BASE))
    assert_partition(base / day2, {"records-0000000000.json"}, server.url(BOAMP_BASE))
    ids = idwebs(base / day1)
    assert len(ids) == 250 and len(set(ids)) == 250  # every record saved once
    assert sorted(ids) == sorted(r["idweb"] for r in ods.days[day1])
    assert [p.name for p in base.glob(".*")] == [".crawl.lock"]  # no partial or old folder left
    assert (base / "_crawls" / f"{report.stats['crawl_id']}.json").is_file()


def test_boamp_day_over_10000_uses_the_export(server, tmp_path, boamp_real):
    day = DAY.isoformat()
    rows = day_records(boamp_real, 12_000, day, strip=True)
    ods = FakeOds({day: rows}).install(server)
    report = crawl("boamp", server, tmp_path)
    assert report.ok, report.log_tail
    assert not ods.violations  # no request with offset + limit > 10 000
    assert [int(s.query["offset"]) for s in records_requests(server)] == [0]
    exports = server.requests(BOAMP_BASE + "/exports/jsonl")
    assert len(exports) == 1 and exports[0].query["where"] == f"dateparution=date'{day}'"
    folder = tmp_path / "boamp" / day
    assert_partition(folder, {"export.jsonl"}, server.url(BOAMP_BASE))
    lines = (folder / "export.jsonl").read_bytes().splitlines()
    assert len(lines) == 12_000 and len({json.loads(line)["idweb"] for line in lines}) == 12_000
    assert report.stats["stats"]["ods/export_fallback_days"] == 1


def test_429_waits_retry_after_then_succeeds(server, tmp_path, boamp_real):
    day = DAY.isoformat()
    FakeOds({day: day_records(boamp_real, 20, day)},
            faults={0: [Reply(status=429, body=b"too many", headers={"Retry-After": "1"})]}).install(server)
    report = crawl("boamp", server, tmp_path)
    assert report.ok, report.log_tail
    assert report.responses_by_status == {"429": 1, "200": 1}
    first, second = records_requests(server)
    assert second.at - first.at >= 1.0  # Retry-After honoured
    assert_partition(tmp_path / "boamp" / day, {"records-0000000000.json"}, server.url(BOAMP_BASE))
    assert_local_only(report, server)


@pytest.mark.parametrize("fault", ["http500", "truncated_json", "timeout"])
def test_transient_fault_is_retried_and_only_the_good_body_saved(server, tmp_path, boamp_real, fault):
    day = DAY.isoformat()
    rows = day_records(boamp_real, 150, day)
    good = Reply.json({"total_count": 150, "results": rows[100:150]})
    bad = {
        "http500": Reply(status=500, body=b"oops"),
        "truncated_json": Reply(body=good.body[: len(good.body) // 2], headers=good.headers),
        "timeout": Reply(delay=2.5, body=good.body, headers=good.headers),  # longer than DOWNLOAD_TIMEOUT=1
    }[fault]
    FakeOds({day: rows}, faults={100: [bad]}).install(server)
    settings = {"DOWNLOAD_TIMEOUT": "1"} if fault == "timeout" else {}
    report = crawl("boamp", server, tmp_path, settings=settings)
    assert report.ok, report.log_tail
    assert [int(s.query["offset"]) for s in records_requests(server)].count(100) == 2
    lines = assert_partition(tmp_path / "boamp" / day, {"records-0000000000.json", "records-0000000100.json"},
                             server.url(BOAMP_BASE))
    saved = next(line for line in lines if line["file"] == "records-0000000100.json")
    assert saved["sha256"] == hashlib.sha256(good.body).hexdigest()
    assert_local_only(report, server)


def test_always_truncated_page_fails_and_keeps_the_previous_partition(server, tmp_path, boamp_real):
    day = DAY.isoformat()
    rows = day_records(boamp_real, 150, day)
    FakeOds({day: rows}).install(server)
    assert crawl("boamp", server, tmp_path).ok
    before = (tmp_path / "boamp" / day / MANIFEST).read_bytes()

    truncated = Reply.json({"total_count": 150, "results": rows[100:]})
    truncated.body = truncated.body[:-10]
    bad = ReplayServer().start()
    try:
        FakeOds({day: rows}, faults={100: [truncated] * 10}).install(bad)
        report = crawl("boamp", bad, tmp_path, settings={"RETRY_TIMES": "2"})
    finally:
        bad.stop()
    assert not report.ok
    assert report.returncode == 0 and report.stats["finish_reason"] == "finished"
    assert report.partitions_failed == [day] and report.partitions_written == []
    assert any("invalid JSON" in f["reason"] for f in report.stats["failures"]), report.stats["failures"]
    assert [int(s.query["offset"]) for s in records_requests(bad)].count(100) == 3  # 1 + RETRY_TIMES
    partial = tmp_path / "boamp" / f".{day}.partial"
    assert manifest_files(partial) == {"records-0000000000.json"}  # stays partial, the bad page never saved
    assert (tmp_path / "boamp" / day / MANIFEST).read_bytes() == before  # previous partition untouched


def test_rerun_replaces_the_partition_whole(server, tmp_path, boamp_real):
    day = DAY.isoformat()
    FakeOds({day: day_records(boamp_real, 250, day)}).install(server)
    assert crawl("boamp", server, tmp_path).ok
    second = ReplayServer().start()
    try:
        FakeOds({day: day_records(boamp_real, 150, day)}).install(second)
        report = crawl("boamp", second, tmp_path)
    finally:
        second.stop()
    assert report.ok, report.log_tail
    folder = tmp_path / "boamp" / day
    assert_partition(folder, {"records-0000000000.json", "records-0000000100.json"}, second.url(BOAMP_BASE))
    assert len(idwebs(folder)) == 150
    assert [p.name for p in (tmp_path / "boamp").glob(".*")] == [".crawl.lock"]


def test_resume_after_killed_crawl_does_not_refetch(tmp_path, boamp_real):
    day = DAY.isoformat()
    rows = day_records(boamp_real, 250, day)
    partial = tmp_path / "boamp" / f".{day}.partial"
    with ReplayServer() as first:
        FakeOds({day: rows}, faults={200: [Reply(hang=True)]}).install(first)
        cancel, result = threading.Event(), {}
        worker = threading.Thread(target=lambda: result.update(
            report=crawl("boamp", first, tmp_path, cancel=cancel, kill_grace=0)))
        worker.start()
        assert first.hanging.wait(30)
        wait_for(lambda: manifest_files(partial) == {"records-0000000000.json", "records-0000000100.json"})
        cancel.set()  # SIGTERM then SIGKILL at once: killed mid-download
        worker.join(30)
    killed = result["report"]
    assert not killed.ok and killed.returncode != 0
    assert killed.partitions_written == [] and killed.partitions_failed == [day]
    assert not (tmp_path / "boamp" / day).exists()

    with ReplayServer() as second:
        FakeOds({day: rows}).install(second)
        report = crawl("boamp", second, tmp_path)
        assert report.ok, report.log_tail
        assert [int(s.query["offset"]) for s in records_requests(second)] == [200]  # saved pages not refetched
        assert report.stats["files_resumed"] == 2 and report.stats["files_written"] == 1
        assert_local_only(report, second)
    folder = tmp_path / "boamp" / day
    assert_partition(folder, {"records-0000000000.json", "records-0000000100.json", "records-0000000200.json"},
                     "http://127.0.0.1:")
    ids = idwebs(folder)
    assert len(ids) == 250 and len(set(ids)) == 250
    assert not partial.exists()


def test_sample_is_bounded_and_kept_apart(server, tmp_path, boamp_real):
    day = DAY.isoformat()
    FakeOds({day: day_records(boamp_real, 250, day)}).install(server)
    report = crawl("boamp", server, tmp_path, sample=1)
    assert report.ok, report.log_tail
    assert len(records_requests(server)) == 1
    assert_partition(tmp_path / "boamp_sample" / day, {"records-0000000000.json"}, server.url(BOAMP_BASE))
    assert not (tmp_path / "boamp" / day).exists()


# ---------------------------------------------------------------------------------------------------- TED
TED_NUMBERS = {  # publication number served → real eForms notice served as its XML
    "67623-2022": "00191536-2024_NLD_can-standard.xml",
    "00047522-2024": "00047522-2024_FRA_cn-standard_open.xml",
    "00219998-2024": "00219998-2024_FRA_pin-cfc-standard.xml",
    "00041387-2024": "00041387-2024_FRA_cn-desg_restricted.xml",
    "553508-2023": "553508-2023_BEL_pin-cfc-social_innovation-partnership.xml",
}
TOKENS = ["eyJzb3J0IjpbMTcwNjA1NjAwMDAwMF19+/=", "eyJzb3J0IjpbMTcwNjA1NjAwMDAwMV19/+="]


class FakeTed:
    """POST /v3/notices/search in ITERATION mode (pages built from the real response) and the notice XMLs.

    Page 1 is the real response's two notices (the same publication number twice, as recorded); pages 2 and 3
    reuse its notice shape for the other numbers. ``faults[path]`` replies come first for that path.
    """

    def __init__(self, real_data: Path, srv: ReplayServer, faults: dict[str, list[Reply]] | None = None,
                 pages: list[list[str]] | None = None) -> None:
        self.srv, self.faults, self.bodies = srv, faults or {}, []
        real = json.loads((real_data / "notices/ted/api_v3/search_response_2_notices.json").read_bytes())
        self.xml_dir = real_data / "notices/ted/eforms_xml"
        pages = pages or [["67623-2022", "67623-2022"], ["00047522-2024", "00219998-2024"],
                          ["00041387-2024", "553508-2023"]]
        self.pages = []
        for number, page in enumerate(pages):
            notices = []
            for i, pub in enumerate(page):
                notice = json.loads(json.dumps(real["notices"][i % len(real["notices"])]))
                notice["publication-number"] = notice["ND"] = pub
                notice["links"]["xml"]["MUL"] = srv.url(self.xml_path(pub))
                notices.append(notice)
            token = TOKENS[number] if number < len(pages) - 1 else None
            self.pages.append({**real, "notices": notices, "iterationNextToken": token, "timedOut": False})
        srv.route("POST", TED_BASE + "/notices/search", self.search)
        for pub in TED_NUMBERS:
            srv.route("GET", self.xml_path(pub), self.notice)

    @staticmethod
    def xml_path(pub: str) -> str:
        return f"/en/notice/{pub}/xml"

    def xml(self, pub: str) -> bytes:
        return (self.xml_dir / TED_NUMBERS[pub]).read_bytes()

    def search(self, seen: Seen) -> Reply:
        body = seen.json()
        self.bodies.append(body)
        if self.faults.get(seen.path):
            return self.faults[seen.path].pop(0)
        token = body.get("iterationNextToken")
        index = 0 if token is None else TOKENS.index(token) + 1 if token in TOKENS else None
        if index is None or index >= len(self.pages):
            return Reply.json({"message": "bad token"}, status=400)
        return Reply.json(self.pages[index])

    def notice(self, seen: Seen) -> Reply:
        if self.faults.get(seen.path):
            return self.faults[seen.path].pop(0)
        pub = seen.path.split("/")[3]
        return Reply(body=self.xml(pub), headers={"Content-Type": "application/xml"})


def test_ted_follows_iteration_tokens_and_fetches_each_notice_xml(server, tmp_path, real_data):
    ted = FakeTed(real_data, server)
    report = crawl("ted", server, tmp_path, dt.date(2024, 1, 24))
    assert report.ok, report.log_tail
    assert_local_only(report, server)
    assert len(ted.bodies) == 3
    for number, body in enumerate(ted.bodies):
        assert body["query"] == "buyer-country IN (FRA) AND publication-date=20240124"
        assert body["limit"] == 250 and body["paginationMode"] == "ITERATION"
        assert {"publication-number", "publication-date", "notice-type", "buyer-name", "classification-cpv",
                "procedure-type", "links"} <= set(body["fields"])
        assert body.get("iterationNextToken") == (TOKENS[number - 1] if number else None)  # resent exactly
    notice_gets = [s.path for s in server.log if s.path.startswith("/en/notice/")]
    assert sorted(notice_gets) == sorted(FakeTed.xml_path(p) for p in TED_NUMBERS)  # the duplicate fetched once
    folder = tmp_path / "ted" / "2024-01-24"
    lines = assert_partition(folder, {"search-0001.json", "search-0002.json", "search-0003.json"}
                             | {f"notice-{p}.xml" for p in TED_NUMBERS}, server.url(""))
    for pub in TED_NUMBERS:
        assert (folder / f"notice-{pub}.xml").read_bytes() == ted.xml(pub)
    searches = sorted((line for line in lines if line["file"].startswith("search-")), key=lambda x: x["file"])
    assert [line["method"] for line in searches] == ["POST"] * 3
    assert [json.loads(line["request_body"]) for line in searches] == ted.bodies
    assert json.loads((folder / "search-0001.json").read_bytes()) == ted.pages[0]


def test_ted_empty_202_and_timed_out_page_are_retried_not_saved(server, tmp_path, real_data):
    path = FakeTed.xml_path("67623-2022")
    ted = FakeTed(real_data, server, faults={path: [Reply(status=202, body=b"",
                                                          headers={"x-amzn-waf-action": "challenge"})]},
                  pages=[["67623-2022", "67623-2022"]])
    ted.faults[TED_BASE + "/notices/search"] = [Reply.json({**ted.pages[0], "timedOut": True})]
    report = crawl("ted", server, tmp_path, dt.date(2024, 1, 24))
    assert report.ok, report.log_tail
    assert report.responses_by_status == {"200": 3, "202": 1}
    assert len(server.requests(path)) == 2 and len(ted.bodies) == 2
    folder = tmp_path / "ted" / "2024-01-24"
    assert_partition(folder, {"search-0001.json", "notice-67623-2022.xml"}, server.url(""))
    assert (folder / "notice-67623-2022.xml").read_bytes() == ted.xml("67623-2022")
    assert json.loads((folder / "search-0001.json").read_bytes())["timedOut"] is False
    assert "WARNING" not in report.log_tail.replace("USER_AGENT has no real contact", "")


def test_ted_resume_replays_tokens_but_not_saved_notices(tmp_path, real_data):
    day = "2024-01-24"
    partial = tmp_path / "ted" / f".{day}.partial"
    last = FakeTed.xml_path("553508-2023")
    with ReplayServer() as first:
        FakeTed(real_data, first, faults={last: [Reply(hang=True)]})
        cancel, result = threading.Event(), {}
        worker = threading.Thread(target=lambda: result.update(
            report=crawl("ted", first, tmp_path, dt.date(2024, 1, 24), cancel=cancel, kill_grace=0)))
        worker.start()
        assert first.hanging.wait(30)
        saved = stable_manifest(partial)
        cancel.set()
        worker.join(30)
    assert not result["report"].ok
    # Notices are fetched in result order: everything but the hanging last one was saved.
    assert {name for name in saved if name.startswith("notice-")} == {
        f"notice-{p}.xml" for p in TED_NUMBERS if p != "553508-2023"}

    # Meanwhile 00047522-2024 left the results: its saved XML must not end up in the partition.
    pages = [["67623-2022", "67623-2022"], ["00219998-2024"], ["00041387-2024", "553508-2023"]]
    with ReplayServer() as second:
        ted = FakeTed(real_data, second, pages=pages)
        report = crawl("ted", second, tmp_path, dt.date(2024, 1, 24))
        assert report.ok, report.log_tail
        assert len(ted.bodies) == 3  # the token chain is replayed
        fetched = [s.path for s in second.log if s.path.startswith("/en/notice/")]
        assert fetched == [FakeTed.xml_path("553508-2023")]  # saved notices are not fetched again
    assert_partition(tmp_path / "ted" / day, {"search-0001.json", "search-0002.json", "search-0003.json"}
                     | {f"notice-{p}.xml" for p in TED_NUMBERS if p != "00047522-2024"}, "http://127.0.0.1:")
    assert not partial.exists()


# ---------------------------------------------------------------------------------------------------- DECP
def test_decp_downloads_the_monthly_files_of_the_window(server, tmp_path, real_data):
    files = {  # resource title → real DECP file served as its content
        "decp-2024-01.json": real_data / "decp/decp2022-json/dematis__dematis13.json",
        "decp-2024-02.json": real_data / "decp/decp2022-json/dematis__dematis16.json",
        "decp-2024-05.json": real_data / "decp/decp2022-json/dematis__dematis17.json",  # outside the window
    }
    resources = [  # never downloaded: a yearly file, and the XML of a month that also has JSON
        {"id": "y", "title": "decp-2024.json", "format": "json", "url": server.url("/static/decp-2024.json")},
        {"id": "x", "title": "decp-2024-01.xml", "format": "xml", "url": server.url("/static/decp-2024-01.xml")},
    ]
    for title, path in files.items():
        url_path = f"/static/resources/decp/{title}"
        server.route("GET", url_path, Reply(body=path.read_bytes(), headers={"Content-Type": "application/json"}))
        resources.append({"id": title, "title": title, "format": "json", "url": server.url(url_path),
                          "filesize": path.stat().st_size, "last_modified": "2024-06-01T00:00:00+00:00"})
    server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/",
                 Reply.json({"id": DECP_DATASET, "title": "DECP – fichiers consolidés", "resources": resources}))
    report = crawl("decp", server, tmp_path, dt.date(2024, 1, 1), dt.date(2024, 2, 29))
    assert report.ok, report.log_tail
    assert report.partitions_written == ["2024-01", "2024-02"]
    assert_local_only(report, server)
    downloads = sorted(s.path for s in server.log if s.path.startswith("/static/"))
    assert downloads == ["/static/resources/decp/decp-2024-01.json", "/static/resources/decp/decp-2024-02.json"]
    for month in ("2024-01", "2024-02"):
        folder = tmp_path / "decp" / month
        assert_partition(folder, {f"decp-{month}.json"}, server.url("/static/"))
        assert (folder / f"decp-{month}.json").read_bytes() == files[f"decp-{month}.json"].read_bytes()
    assert report.stats["settings"]["ROBOTSTXT_OBEY"] is True
    assert server.requests("/robots.txt")  # obeyed for data.gouv.fr (404 here: everything allowed)


# ---------------------------------------------------------------------------------------------------- units
def test_retry_after_header_forms():
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after(b"soon") is None and parse_retry_after(None) is None


def test_interrupted_swap_is_recovered(tmp_path):
    store = SnapshotStore(tmp_path, "boamp", fsync=False)
    store.write("2024-03-05", "records-0000000000.json", b"{}", url="http://127.0.0.1/x", fetched_at="t",
                http_status=200)
    store.commit("2024-03-05")
    # A swap killed between its two renames: the committed partition set aside, not yet replaced.
    (tmp_path / "boamp" / "2024-03-05").rename(tmp_path / "boamp" / ".2024-03-05.old-dead")
    store.recover("2024-03-05")
    assert store.partitions() == ["2024-03-05"] and store.verify("2024-03-05") == []


def test_boamp_short_page_fails_the_day_instead_of_committing_it(server, tmp_path, boamp_real):
    ods = FakeOds({DAY.isoformat(): day_records(boamp_real, 150, DAY.isoformat())}).install(server)
    original = ods.records

    def short(seen: Seen) -> Reply:
        reply = original(seen)
        if seen.query.get("offset") == "100":
            data = json.loads(reply.body)
            return Reply.json({**data, "results": data["results"][:10]})
        return reply

    server.route("GET", BOAMP_BASE + "/records", short)
    report = crawl("boamp", server, tmp_path)
    assert not report.ok
    assert report.partitions_failed == [DAY.isoformat()]
    assert not (tmp_path / "boamp" / DAY.isoformat()).exists()


def test_decp_month_without_file_fails_so_it_is_fetched_later(server, tmp_path):
    server.route("GET", f"{DECP_BASE}/datasets/{DECP_DATASET}/", Reply.json({"resources": []}))
    report = crawl("decp", server, tmp_path, dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert not report.ok
    assert report.partitions_failed == ["2024-01"] and report.partitions_written == []


def test_two_crawls_of_one_source_never_overlap(tmp_path):
    import fcntl

    from scrapers.crawl import CrawlBusy

    (tmp_path / "boamp").mkdir()
    with open(tmp_path / "boamp" / ".crawl.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CrawlBusy):
            run_crawl("boamp", DAY, DAY, tmp_path, timeout=5)
