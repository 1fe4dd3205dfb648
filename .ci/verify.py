#!/usr/bin/env python3
"""Pre-hardening verification of the KEYS marketplace (run through `.ci/verify`).

Starts the keys-server binary on a FRESH database (SQLite in a temporary data directory, or a
fresh Postgres database `keys_verify_<pid>` when KEYS_VERIFY_DATABASE_URL is set) in local
payment mode, bound to 127.0.0.1 only, walks six flows over HTTP exactly as a browser or API
client would, measures two promises, and writes docs/PRE_HARDENING_VERIFICATION.md.

Standard library only. Exit status: 0 when every check passed, 1 when any failed (the report
is written either way), 2 when the run could not be set up at all (bad arguments).

Environment:
  KEYS_VERIFY_BIN            the keys-server binary (the wrapper passes --bin)
  KEYS_VERIFY_DATABASE_URL   postgres://USER@127.0.0.1:5432/ADMIN_DB — a fresh database
                             keys_verify_<pid> is created on that server and dropped at the end
  KEYS_VERIFY_SAMPLES        sequential requests per timing (default 300)
  KEYS_VERIFY_PROFILE        the build profile to name in the report (else inferred from the path)
  KEYS_VERIFY_BUILT          how the binary came to be (set by the wrapper)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "docs", "PRE_HARDENING_VERIFICATION.md")
PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT_S = 240.0  # a debug build ingests keys-assets/ on start
POLL_TIMEOUT_S = 30.0  # the in-server worker polls every 250 ms
PAGE_PROMISE_MS = 2000.0
DOWNLOAD_PROMISE_MS = 500.0
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

# The catalog facts the flows rely on (keys-assets/ and keys-assets/pricing.toml).
SEARCH_KEY = "postgres-failover-runbook"  # bought in flow 2, KEY of bundle:database-reliability
BUNDLE = "bundle:database-reliability"
BUNDLE_OTHER_MEMBER = "tls-certificate-rotation"
ORG_KEY = "kubernetes-incident-response"
REFUND_KEY = "redis-memory-pressure"
PERPETUAL_KEY = "disk-full-recovery"  # starter tier: covered by the Operator plan
PLAN = "plan:operator:monthly"
PLAN_ONLY_KEY = "deploy-rollback-runbook"  # operator tier, reached only through the plan
SHARED_BUNDLE = "bundle:incident-response-essentials"  # contains PERPETUAL_KEY
CHAIN = ("key:next-authjs-starter", "bundle:saas-launch-kit", "bundle:saas-launch-kit-plus")


# ---------------------------------------------------------------------------------------------
# Results


class Check:
    def __init__(self, flow: str, name: str, expected: str, observed: str, ok: bool):
        self.flow, self.name, self.expected, self.observed, self.ok = flow, name, expected, observed, ok


class Results:
    def __init__(self) -> None:
        self.flows: list[tuple[str, str]] = []  # (id, title)
        self.checks: list[Check] = []
        self.timings: list[dict] = []
        self.notes: list[str] = []

    def flow(self, fid: str, title: str) -> None:
        self.flows.append((fid, title))
        print(f"\n== {title}", flush=True)

    def add(self, flow: str, name: str, expected: str, observed, ok: bool) -> bool:
        observed = short(observed)
        self.checks.append(Check(flow, name, expected, observed, bool(ok)))
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {observed}", flush=True)
        return bool(ok)

    def of(self, flow: str) -> list[Check]:
        return [c for c in self.checks if c.flow == flow]

    @property
    def failed(self) -> int:
        return sum(not c.ok for c in self.checks) + sum(not t["ok"] for t in self.timings)


def short(value, limit: int = 110) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True) if value is not None else "—"
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, ms: float):
        self.status, self.body, self.ms = status, body, ms
        self.headers = {k.lower(): v for k, v in headers}
        self.cookies = [v for k, v in headers if k.lower() == "set-cookie"]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error(self) -> str:
        j = self.json()
        return j.get("error", "") if isinstance(j, dict) else ""


class Http:
    """One fresh connection per call (the flows); `keepalive()` for the timings."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def call(self, method, path, *, body=None, cookie=None, form=None, headers=None, raw=None) -> Resp:
        h = {}
        data = None
        if cookie:
            h["Cookie"] = cookie
        if body is not None:
            data, h["Content-Type"] = json.dumps(body), "application/json"
        elif form is not None:
            data, h["Content-Type"] = urllib.parse.urlencode(form), "application/x-www-form-urlencoded"
        elif raw is not None:
            data = raw
        elif method not in ("GET", "HEAD"):
            # A JSON client: state-changing calls carry a JSON content type even without a body.
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            return Resp(r.status, r.getheaders(), payload, (time.perf_counter() - started) * 1000)
        finally:
            conn.close()

    def keepalive(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)


def session_cookie(r: Resp) -> str | None:
    for c in r.cookies:
        pair = c.split(";", 1)[0]
        if pair.startswith(("keys_session=", "__Host-keys_session=")):
            return pair
    return None


def csrf_in(html: str) -> str | None:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    return m.group(1) if m else None


def minor(v) -> int | None:
    return v.get("minor") if isinstance(v, dict) else None


def money(m: int | None) -> str:
    return "—" if m is None else f"${m / 100:,.2f}"


def poll(fn, timeout: float = POLL_TIMEOUT_S, interval: float = 0.1):
    """Calls fn() until it returns something truthy; (value or last value, seconds waited)."""
    started = time.perf_counter()
    value = None
    while True:
        value = fn()
        if value:
            return value, time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            return value, time.perf_counter() - started
        time.sleep(interval)


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    k = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return sorted_ms[k - 1]


# ---------------------------------------------------------------------------------------------
# The server under test


class Server:
    def __init__(self, binary: str, database_url: str | None, work: str, webhook_secret: str):
        self.binary, self.database_url, self.work = binary, database_url, work
        self.data_dir = os.path.join(work, "data")
        self.webhook_secret = webhook_secret
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.host, self.port = "127.0.0.1", 0
        self.startup_s = 0.0
        self.log_path = os.path.join(work, "server.log")

    def env(self) -> dict:
        # Settings come only from here: nothing from the caller's KEYS__* environment (a Stripe
        # key there would leave the local payment mode).
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYS__")}
        env.update(
            {
                "KEYS__LOG__FILTER": "warn",
                "KEYS__PAYMENTS__MODE": "local",
                # The run's own webhook secret (local mode signs its events with it): lets the
                # script deliver what Stripe sends when a cancelled subscription's period ends.
                "KEYS__STRIPE__WEBHOOK_SECRETS": self.webhook_secret,
            }
        )
        if self.database_url:
            env["KEYS__DATABASE__URL"] = self.database_url
        return env

    def start(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1:0",
                "--data-dir",
                self.data_dir,
                "--assets",
                os.path.join(REPO, "keys-assets"),
            ],
            cwd=self.work,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        line_box: list[str] = []

        def read_stdout():
            assert self.proc and self.proc.stdout
            for raw in self.proc.stdout:  # keeps draining after the URL line
                line = raw.decode("utf-8", "replace")
                log.write(b"[stdout] " + raw)
                log.flush()
                if not line_box and "KEYS marketplace running at" in line:
                    line_box.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        while not line_box:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keys-server exited with {self.proc.returncode} before listening")
            if time.perf_counter() - started > STARTUP_TIMEOUT_S:
                raise RuntimeError(f"keys-server printed no URL within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        m = re.search(r"running at (http://([^/\s]+)(/\S*))", line_box[0])
        if not m:
            raise RuntimeError(f"unexpected start line: {line_box[0].strip()}")
        self.url = m.group(1)
        host, _, port = m.group(2).rpartition(":")
        if host not in LOOPBACK:
            raise RuntimeError(f"the server is not on loopback: {self.url}")
        self.host, self.port = host.strip("[]"), int(port)
        self.startup_s = time.perf_counter() - started

    def admin(self, *args: str) -> tuple[int, str]:
        """`keys-server admin …` against the same data dir and database."""
        r = subprocess.run(
            [self.binary, "--data-dir", self.data_dir, "admin", *args],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return r.returncode, (r.stdout + r.stderr).strip()

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


class Postgres:
    """A fresh database keys_verify_<pid> on the loopback server of KEYS_VERIFY_DATABASE_URL."""

    def __init__(self, admin_url: str):
        u = urllib.parse.urlsplit(admin_url)
        if u.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"KEYS_VERIFY_DATABASE_URL must be postgres://…, not {u.scheme}://")
        if (u.hostname or "") not in LOOPBACK:
            raise ValueError(f"KEYS_VERIFY_DATABASE_URL must point at 127.0.0.1, not {u.hostname!r}")
        if not shutil.which("psql"):
            raise ValueError("KEYS_VERIFY_DATABASE_URL needs psql (postgresql-client) on PATH")
        self.name = f"keys_verify_{os.getpid()}"
        self.admin_url = urllib.parse.urlunsplit(u._replace(path=u.path if u.path not in ("", "/") else "/postgres"))
        self.url = urllib.parse.urlunsplit(u._replace(path="/" + self.name))
        self.created = False

    def psql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["psql", self.admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def create(self) -> None:
        self.psql(f"drop database if exists {self.name} with (force)")
        r = self.psql(f"create database {self.name}")
        if r.returncode != 0:
            raise RuntimeError(f"create database {self.name}: {r.stderr.strip()}")
        self.created = True

    def drop(self) -> None:
        if self.created:
            self.psql(f"drop database if exists {self.name} with (force)")
            self.created = False

    def version(self) -> str:
        r = subprocess.run(
            ["psql", self.admin_url, "-X", "-A", "-t", "-c", "show server_version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return r.stdout.strip() or "?"


# ---------------------------------------------------------------------------------------------
# The flows


class Verification:
    def __init__(self, server: Server, results: Results, samples: int):
        self.s = server
        self.r = results
        self.h = Http(server.host, server.port)
        self.samples = samples
        self.accounts: dict[str, dict] = {}  # name -> {email, cookie, id}
        self.catalog: dict[str, dict] = {}
        self.ctx: dict = {}
        self.run_tag = secrets.token_hex(3)

    # -- helpers ------------------------------------------------------------------------------

    def email(self, name: str) -> str:
        return f"{name}-{self.run_tag}@verify.example"

    def sign_up(self, name: str, *, confirm: bool = True) -> dict:
        email = self.email(name)
        r = self.h.call("POST", "/api/v1/auth/signup", body={"email": email, "password": PASSWORD})
        j = r.json() or {}
        acct = {"email": email, "cookie": session_cookie(r), "id": j.get("id"), "status": r.status}
        if r.status != 201 or not acct["cookie"]:
            raise RuntimeError(f"sign-up of {email}: {r.status} {short(r.text, 80)}")
        if confirm:
            code, out = self.s.admin("verify", email)
            if code != 0:
                raise RuntimeError(f"keys-server admin verify {email}: exit {code}: {short(out, 80)}")
        self.accounts[name] = acct
        return acct

    def api(self, method, path, who: str | None = None, body=None) -> Resp:
        cookie = self.accounts[who]["cookie"] if who else None
        return self.h.call(method, path, body=body, cookie=cookie)

    def orders(self, who: str) -> list[dict]:
        j = self.api("GET", "/api/v1/me/orders", who).json() or {}
        return j.get("items", [])

    def order(self, who: str, oid) -> dict:
        return next((o for o in self.orders(who) if o.get("id") == oid), {})

    def entitlements(self, who: str) -> list[dict]:
        j = self.api("GET", "/api/v1/me/entitlements", who).json() or {}
        return j.get("items", [])

    def subscriptions(self, who: str) -> list[dict]:
        j = self.api("GET", "/api/v1/me/subscriptions", who).json() or {}
        return j.get("items", [])

    def quote(self, who: str | None, sku: str) -> Resp:
        return self.api("GET", f"/api/v1/quotes?sku={urllib.parse.quote(sku, safe=':')}", who)

    def checkout(self, who: str, sku: str, org=None) -> Resp:
        body = {"sku": sku}
        if org is not None:
            body["org"] = org
        return self.api("POST", "/api/v1/checkout", who, body)

    def pay_page(self, who: str, checkout_url: str, action: str = "pay") -> tuple[Resp, Resp | None]:
        """The local payment page, then its form posted as the browser would."""
        cookie = self.accounts[who]["cookie"]
        page = self.h.call("GET", checkout_url, cookie=cookie)
        token = csrf_in(page.text)
        if page.status != 200 or not token:
            return page, None
        post = self.h.call("POST", checkout_url, cookie=cookie, form={"csrf": token, "action": action})
        return page, post

    def buy(self, who: str, sku: str, org=None) -> dict:
        """Checkout, pay on the local page, wait for the event: the paid order (or what it became)."""
        r = self.checkout(who, sku, org)
        co = r.json() or {}
        if r.status != 200 or not co.get("checkout_url"):
            return {"error": f"checkout {r.status} {r.error()}"}
        oid = co["order_id"]
        if co.get("session_id"):
            _, post = self.pay_page(who, co["checkout_url"])
            if not post or post.status != 303:
                return {"error": "local payment page refused", "id": oid}
        o, waited = poll(lambda: (o := self.order(who, oid)) and o.get("status") != "pending" and o)
        o = o or self.order(who, oid)
        o["_waited"] = waited
        return o

    def link(self, who: str | None, slug: str, version: str | None = None) -> Resp:
        body = {"version": version} if version else None
        cookie = self.accounts[who]["cookie"] if who else None
        return self.h.call("POST", f"/api/v1/keys/{slug}/download", body=body, cookie=cookie)

    def fetch(self, url: str, who: str | None) -> Resp:
        cookie = self.accounts[who]["cookie"] if who else None
        return self.h.call("GET", url, cookie=cookie)

    def sha_of(self, slug: str, version: str | None = None) -> str | None:
        detail = self.catalog.get(slug)
        if detail is None:
            detail = self.h.call("GET", f"/api/v1/keys/{slug}").json() or {}
            self.catalog[slug] = detail
        version = version or detail.get("latest_version")
        v = next((v for v in detail.get("versions", []) if v.get("version") == version), {})
        return v.get("sha256")

    def download_checks(self, flow: str, who: str, slug: str, label: str, version: str | None = None) -> str | None:
        """Link issued (200) and the archive it serves is the catalog's; returns the link."""
        r = self.link(who, slug, version)
        url = (r.json() or {}).get("url", "")
        expires = (r.json() or {}).get("expires_at")
        parts = url.split("/")
        ttl = None
        if len(parts) == 7 and parts[5].isdigit():
            ttl = int(parts[5]) - int(time.time())
        self.r.add(
            flow,
            f"{label}: download link issued",
            "200, /dl/… link, expiry ≤ 5 min",
            f"{r.status}, {url[:40] + '…' if url else 'no url'}, expires in {ttl} s" if ttl is not None else f"{r.status} {r.error()}",
            r.status == 200 and url.startswith("/dl/") and expires is not None and ttl is not None and 0 < ttl <= 305,
        )
        if not url:
            return None
        a = self.fetch(url, who)
        want = self.sha_of(slug, version)
        got = hashlib.sha256(a.body).hexdigest() if a.status == 200 else None
        self.r.add(
            flow,
            f"{label}: archive downloads and matches the catalog",
            "200 application/gzip, sha256 = catalog's",
            f"{a.status} {a.headers.get('content-type', '')}, {len(a.body)} B, sha256 {(got or '-')[:12]}… "
            f"{'=' if got == want else '≠'} catalog {(want or '-')[:12]}…",
            a.status == 200 and got is not None and got == want and a.headers.get("content-type", "").startswith("application/gzip"),
        )
        return url

    def guarded(self, fid: str, fn) -> None:
        try:
            fn(fid)
        except Exception as err:  # a flow that cannot go on: a failed check, then the next flow
            self.r.add(fid, "flow ran to the end", "no error", f"stopped: {type(err).__name__}: {err}", False)

    # -- 1 ------------------------------------------------------------------------------------

    def flow1(self, f: str) -> None:
        h = self.h
        page = h.call("GET", "/marketplace")
        cards = re.findall(r'data-slug="([^"]+)"', page.text)
        found = re.search(r"(\d+) KEYS found", page.text)
        self.r.add(
            f,
            "anonymous GET /marketplace",
            "200 HTML with KEY cards",
            f"{page.status}, {len(cards)} cards, “{found.group(0) if found else '?'}”",
            page.status == 200 and page.headers.get("content-type", "").startswith("text/html") and len(cards) > 0,
        )
        self.r.add(f, "browsing sets no cookie", "no Set-Cookie", f"{len(page.cookies)} Set-Cookie", not page.cookies)
        everything = h.call("GET", "/api/v1/keys?per_page=100").json() or {}
        total = everything.get("total")
        api = h.call("GET", "/api/v1/keys?kind=runbook&per_page=100")
        items = (api.json() or {}).get("items", [])
        kinds = sorted({i.get("kind") for i in items})
        self.r.add(
            f,
            "filter by kind (API ?kind=runbook)",
            "200, only runbooks, fewer than all",
            f"{api.status}, {len(items)} of {total} KEYS, kinds {kinds}",
            api.status == 200 and kinds == ["runbook"] and isinstance(total, int) and 0 < len(items) < total,
        )
        fpage = h.call("GET", "/marketplace?kind=runbook")
        fcards = re.findall(r'data-slug="([^"]+)"', fpage.text)
        self.r.add(
            f,
            "filter by kind (page ?kind=runbook)",
            "200, the same KEYS as the API",
            f"{fpage.status}, {len(fcards)} cards, {'same set' if set(fcards) == {i['slug'] for i in items} else 'different set'}",
            fpage.status == 200 and set(fcards) == {i.get("slug") for i in items},
        )
        s_api = h.call("GET", "/api/v1/keys?q=postgres")
        s_items = [i.get("slug") for i in (s_api.json() or {}).get("items", [])]
        self.r.add(
            f,
            "search q=postgres (API)",
            f"{SEARCH_KEY} first",
            f"{s_api.status}, {len(s_items)} hits, first {s_items[0] if s_items else '—'}",
            s_api.status == 200 and s_items[:1] == [SEARCH_KEY],
        )
        s_page = h.call("GET", "/marketplace?q=postgres")
        p_cards = re.findall(r'data-slug="([^"]+)"', s_page.text)
        self.r.add(
            f,
            "search q=postgres (page, best match)",
            f"{SEARCH_KEY} first card",
            f"{s_page.status}, first card {p_cards[0] if p_cards else '—'}",
            s_page.status == 200 and p_cards[:1] == [SEARCH_KEY],
        )
        meta = {i["slug"]: i for i in everything.get("items", [])}
        rec = h.call("GET", "/api/v1/recommendations?role=sre")
        ritems = (rec.json() or {}).get("items", [])
        fields_ok = bool(ritems) and all(
            isinstance(i.get("slug"), str) and isinstance(i.get("name"), str) and isinstance(i.get("score"), int)
            and isinstance(i.get("reasons"), list) and i["reasons"]
            for i in ritems
        )
        self.r.add(
            f,
            "GET /api/v1/recommendations?role=sre",
            "200, items {slug, name, score, reasons≠[]}",
            f"{rec.status}, {len(ritems)} items, first {ritems[0].get('slug') if ritems else '—'}: {ritems[0].get('reasons') if ritems else '—'}",
            rec.status == 200 and fields_ok,
        )
        scores = [i.get("score", 0) for i in ritems]
        self.r.add(f, "recommendations best first", "scores non-increasing", f"scores {scores[:6]}…", scores == sorted(scores, reverse=True) and bool(scores))
        q = "role=sre&intent=respond-to-incidents&category=database-operations&limit=5"
        rec2 = h.call("GET", f"/api/v1/recommendations?{q}")
        r2 = (rec2.json() or {}).get("items", [])
        wrong = []
        for i in r2:
            m = meta.get(i.get("slug"), {})
            for reason in i.get("reasons", []):
                if reason.startswith("Matches your role") and "sre" not in m.get("roles", []):
                    wrong.append(f"{i['slug']}: {reason}")
                if reason.startswith("Helps you") and "respond-to-incidents" not in m.get("intents", []):
                    wrong.append(f"{i['slug']}: {reason}")
                if reason.startswith("Solves") and "database-operations" not in m.get("categories", []):
                    wrong.append(f"{i['slug']}: {reason}")
        top3 = [i.get("slug") for i in r2[:3]]
        self.r.add(
            f,
            "SRE + incidents + database operations → the right KEY",
            f"{SEARCH_KEY} in the top 3",
            f"{rec2.status}, top 3 {top3}",
            rec2.status == 200 and SEARCH_KEY in top3,
        )
        self.r.add(
            f,
            "every reason given is true of the KEY",
            "role/intent/category in the KEY's metadata",
            f"{sum(len(i.get('reasons', [])) for i in r2)} reasons checked, {len(wrong)} untrue {wrong[:2]}",
            rec2.status == 200 and not wrong and bool(r2),
        )
        bad = h.call("GET", "/api/v1/recommendations?role=wizard")
        self.r.add(
            f,
            "unknown role → 400 listing the accepted ones",
            "400 naming `role` and sre",
            f"{bad.status} {short((bad.json() or {}).get('message', ''), 60)}",
            bad.status == 400 and "sre" in (bad.json() or {}).get("message", ""),
        )
        kp = h.call("GET", f"/marketplace/{SEARCH_KEY}")
        buy = re.search(r'id="buy-key"[^>]*>([^<]*)', kp.text)
        self.r.add(
            f,
            "KEY page for a visitor: price and Buy, no file",
            "200, “Buy for $…”, no /dl/ link",
            f"{kp.status}, “{buy.group(1).strip() if buy else 'no Buy button'}”, {kp.text.count('/dl/')} /dl/ links",
            kp.status == 200 and buy is not None and "$" in buy.group(1) and "/dl/" not in kp.text,
        )

    # -- 2 ------------------------------------------------------------------------------------

    def flow2(self, f: str) -> None:
        r = self.h.call("POST", "/api/v1/auth/signup", body={"email": self.email("ada"), "password": PASSWORD})
        cookie = session_cookie(r)
        self.accounts["ada"] = {"email": self.email("ada"), "cookie": cookie, "id": (r.json() or {}).get("id")}
        self.r.add(f, "sign up (POST /api/v1/auth/signup)", "201 + session cookie", f"{r.status}, cookie {'set' if cookie else 'missing'}", r.status == 201 and cookie)
        early = self.checkout("ada", f"key:{SEARCH_KEY}")
        self.r.add(
            f,
            "checkout before the email is confirmed",
            "403 email_unconfirmed",
            f"{early.status} {early.error()}",
            early.status == 403 and early.error() == "email_unconfirmed",
        )
        code, out = self.s.admin("verify", self.email("ada"))
        self.r.add(
            f,
            "operator confirms: keys-server admin verify EMAIL",
            "exit 0, audit line",
            f"exit {code}: {short(out.split(' by ')[0], 60)}",
            code == 0 and "email_verify" in out,
        )
        q = self.quote("ada", f"key:{SEARCH_KEY}")
        due = minor((q.json() or {}).get("amount_due"))
        price = minor((q.json() or {}).get("price"))
        self.r.add(
            f,
            "quote for the KEY",
            "200, amount due = list price",
            f"{q.status}, due {money(due)}, price {money(price)}",
            q.status == 200 and due == price and due,
        )
        co = self.checkout("ada", f"key:{SEARCH_KEY}")
        cj = co.json() or {}
        self.r.add(
            f,
            "POST /api/v1/checkout {sku}",
            "200 {checkout_url /pay/local/…, session_id, order_id}",
            f"{co.status}, {cj.get('checkout_url', '')[:28]}…, order {cj.get('order_id')}",
            co.status == 200 and str(cj.get("checkout_url", "")).startswith("/pay/local/cs_local_") and cj.get("order_id"),
        )
        oid = cj["order_id"]
        self.ctx["ada_order"] = oid
        pending = self.order("ada", oid)
        early_dl = self.link("ada", SEARCH_KEY)
        self.r.add(
            f,
            "before payment: order pending, no download",
            "pending; download link 403",
            f"{pending.get('status')}; {early_dl.status}",
            pending.get("status") == "pending" and early_dl.status == 403,
        )
        page, post = self.pay_page("ada", cj["checkout_url"])
        self.r.add(
            f,
            "local payment page",
            "200, TEST MODE, the amount",
            f"{page.status}, {'TEST MODE' if 'TEST MODE' in page.text else 'no TEST MODE label'}, {money(due) if money(due) in page.text else 'amount missing'}",
            page.status == 200 and "TEST MODE" in page.text and money(due) in page.text,
        )
        loc = post.headers.get("location", "") if post else ""
        self.r.add(
            f,
            "pay on the page (action=pay)",
            f"303 → /checkout/return?order={oid}",
            f"{post.status if post else '—'} → {loc}",
            post is not None and post.status == 303 and loc == f"/checkout/return?order={oid}",
        )
        o, waited = poll(lambda: (o := self.order("ada", oid)).get("status") == "paid" and o)
        o = o or self.order("ada", oid)
        self.r.add(
            f,
            "event applied by the in-server worker: order paid",
            f"status paid, cash paid {money(due)}",
            f"{o.get('status')} after {waited:.1f} s, cash {money(minor(o.get('cash_paid')))}",
            o.get("status") == "paid" and minor(o.get("cash_paid")) == due,
        )
        ents = [e for e in self.entitlements("ada") if e.get("key") == SEARCH_KEY]
        e = ents[0] if ents else {}
        self.r.add(
            f,
            "entitlement present",
            "key, source purchase, perpetual",
            f"{len(ents)}: {e.get('scope')}:{e.get('key')} {e.get('source')} {e.get('status')}, expires {e.get('expires_at')}",
            len(ents) == 1 and e.get("source") == "purchase" and e.get("expires_at") is None and e.get("holder") == f"user:{self.accounts['ada']['id']}",
        )
        ret = self.h.call("GET", f"/checkout/return?order={oid}", cookie=self.accounts["ada"]["cookie"])
        thanks, button = "Thank you!" in ret.text, 'id="download-now"' in ret.text
        self.r.add(
            f,
            "return page thanks the buyer",
            "200, “Thank you!”, download button",
            f"{ret.status}, {'thanks' if thanks else 'no thanks'}, {'download button' if button else 'no button'}",
            ret.status == 200 and thanks and button,
        )
        again = self.checkout("ada", f"key:{SEARCH_KEY}")
        self.r.add(f, "buying it again", "409 (already owned)", f"{again.status} {again.error()}", again.status == 409)

    # -- 3 ------------------------------------------------------------------------------------

    def flow3(self, f: str) -> None:
        ents = [e for e in self.entitlements("ada") if e.get("key") == SEARCH_KEY]
        self.r.add(
            f,
            "entitlement effective (GET /api/v1/me/entitlements)",
            "effective true, status active",
            f"{[(e.get('effective'), e.get('status')) for e in ents]}",
            len(ents) == 1 and ents[0].get("effective") is True and ents[0].get("status") == "active",
        )
        self.ctx["ada_link"] = self.download_checks(f, "ada", SEARCH_KEY, "buyer, current version")
        older = [v.get("version") for v in self.catalog.get(SEARCH_KEY, {}).get("versions", [])][1:]
        if older:
            self.download_checks(f, "ada", SEARCH_KEY, f"buyer, older version {older[-1]}", older[-1])
        kp = self.h.call("GET", f"/marketplace/{SEARCH_KEY}", cookie=self.accounts["ada"]["cookie"])
        unlocked = "You own this KEY" in kp.text
        self.r.add(
            f,
            "KEY page rendered unlocked for the owner",
            "“You own this KEY”",
            f"{kp.status}, {'unlocked' if unlocked else 'locked'}",
            kp.status == 200 and unlocked,
        )

        # An organisation buys; a member who did not pay downloads.
        self.sign_up("olga")
        self.sign_up("mia", confirm=False)  # browsing and the library need no confirmed email
        org = self.api("POST", "/api/v1/orgs", "olga", {"name": f"Verify Org {self.run_tag}"})
        oj = org.json() or {}
        self.r.add(f, "owner creates an organisation", "201, role owner", f"{org.status}, role {oj.get('role')}", org.status == 201 and oj.get("role") == "owner")
        org_id = oj["id"]
        self.ctx["org"] = org_id
        inv = self.api("POST", f"/api/v1/orgs/{org_id}/invites", "olga", {"role": "member"})
        token = (inv.json() or {}).get("token", "")
        acc = self.api("POST", f"/api/v1/invites/{token}/accept", "mia")
        aj = acc.json() or {}
        self.ctx["mia_id"] = aj.get("account")
        self.r.add(
            f,
            "invite → member joins",
            "201 invite; accept 200 role member",
            f"invite {inv.status}; accept {acc.status} role {aj.get('role')}",
            inv.status == 201 and acc.status == 200 and aj.get("role") == "member",
        )
        o = self.buy("olga", f"key:{ORG_KEY}", org=org_id)
        self.ctx["org_order"] = o.get("id")
        self.r.add(
            f,
            "owner buys a KEY for the organisation (checkout {sku, org}, paid locally)",
            f"paid, holder organisation:{org_id}",
            f"{o.get('status') or o.get('error')}, holder {o.get('holder')}",
            o.get("status") == "paid" and o.get("holder") == f"organisation:{org_id}",
        )
        mine = [e for e in self.entitlements("mia") if e.get("key") == ORG_KEY]
        self.r.add(
            f,
            "member holds the organisation's entitlement",
            f"effective, holder organisation:{org_id}",
            f"{[(e.get('holder'), e.get('effective')) for e in mine]}",
            len(mine) == 1 and mine[0].get("effective") is True and mine[0].get("holder") == f"organisation:{org_id}",
        )
        self.ctx["mia_link"] = self.download_checks(f, "mia", ORG_KEY, "organisation member")
        if "bob" not in self.accounts:
            self.sign_up("bob")
        outsider = self.link("bob", ORG_KEY)
        self.r.add(f, "a non-member gets no link for the organisation's KEY", "403", f"{outsider.status} {outsider.error()}", outsider.status == 403)

    # -- 4 ------------------------------------------------------------------------------------

    def flow4(self, f: str) -> None:
        if "admin" not in self.accounts:
            self.sign_up("admin")
            code, out = self.s.admin("grant", self.email("admin"))
            if code != 0:
                raise RuntimeError(f"admin grant: exit {code}: {out}")
        if "bob" not in self.accounts:
            self.sign_up("bob")
        # (a) An admin refund revokes the KEY.
        o = self.buy("bob", f"key:{REFUND_KEY}")
        bob_order = o.get("id")
        link = self.link("bob", REFUND_KEY)
        url = (link.json() or {}).get("url", "")
        first = self.fetch(url, "bob") if url else None
        self.r.add(
            f,
            "refund setup: KEY bought, link issued, archive served",
            "paid; 200; 200",
            f"{o.get('status') or o.get('error')}; {link.status}; {first.status if first else '—'}",
            o.get("status") == "paid" and link.status == 200 and first is not None and first.status == 200,
        )
        not_admin = self.api("POST", f"/api/v1/admin/orders/{bob_order}/refund", "bob", {"reason": "self-service"})
        self.r.add(f, "a buyer cannot refund through the admin API", "403", f"{not_admin.status} {not_admin.error()}", not_admin.status == 403)
        ref = self.api("POST", f"/api/v1/admin/orders/{bob_order}/refund", "admin", {"reason": "pre-hardening verification"})
        self.r.add(
            f,
            "admin refund (POST /api/v1/admin/orders/{id}/refund)",
            "202 (sent to the local provider) or 200",
            f"{ref.status} {ref.error() or (ref.json() or {}).get('status', '')}",
            ref.status in (200, 202),
        )
        o2, waited = poll(lambda: (o := self.order("bob", bob_order)).get("status") == "refunded" and o)
        o2 = o2 or self.order("bob", bob_order)
        ent = next((e for e in self.entitlements("bob") if e.get("key") == REFUND_KEY), {})
        self.r.add(
            f,
            "refund applied: order refunded, entitlement not effective",
            "refunded; effective false",
            f"{o2.get('status')} after {waited:.1f} s, refunded {money(minor(o2.get('refunded')))}; effective {ent.get('effective')} ({ent.get('status')})",
            o2.get("status") == "refunded" and ent.get("effective") is False,
        )
        after = self.link("bob", REFUND_KEY)
        self.r.add(f, "after the refund: new download link", "403", f"{after.status} {after.error()}", after.status == 403)
        old = self.fetch(url, "bob") if url else None
        self.r.add(f, "after the refund: link issued before it", "403", f"{old.status if old else '—'}", old is not None and old.status == 403)

        # (b) Removing a member ends their access to the organisation's KEYS at once.
        org, mia_id, mia_link = self.ctx.get("org"), self.ctx.get("mia_id"), self.ctx.get("mia_link")
        rm = self.api("DELETE", f"/api/v1/orgs/{org}/members/{mia_id}", "olga")
        self.r.add(f, "owner removes the member", "204", f"{rm.status}", rm.status == 204)
        nl = self.link("mia", ORG_KEY)
        ol = self.fetch(mia_link, "mia") if mia_link else None
        self.r.add(
            f,
            "removed member: new link and link issued before",
            "403; 403",
            f"{nl.status}; {ol.status if ol else '—'}",
            nl.status == 403 and ol is not None and ol.status == 403,
        )

        # (c) Subscription cancellation ends plan access; a KEY bought separately survives.
        self.sign_up("sam")
        k = self.buy("sam", f"key:{PERPETUAL_KEY}")
        self.ctx["sam_key_order"] = k.get("id")
        kq = self.quote("sam", PLAN).json() or {}
        key_paid = minor(k.get("cash_paid"))
        self.r.add(
            f,
            "subscriber first buys a KEY outright",
            "paid, perpetual",
            f"{k.get('status') or k.get('error')}, {money(key_paid)}",
            k.get("status") == "paid",
        )
        self.r.add(
            f,
            "plan quote credits the KEY bought today",
            f"credit {money(key_paid)}",
            f"credit {money(minor(kq.get('credit_total')))}, due {money(minor(kq.get('amount_due')))} of {money(minor(kq.get('price')))}",
            minor(kq.get("credit_total")) == key_paid,
        )
        p = self.buy("sam", PLAN)
        subs = self.subscriptions("sam")
        sub = subs[0] if subs else {}
        self.r.add(
            f,
            f"subscribes to {PLAN} (local checkout)",
            "order paid (= quote), one active subscription",
            f"{p.get('status') or p.get('error')} {money(minor(p.get('cash_paid')))}; {len(subs)} sub "
            f"{sub.get('status')} until {str(sub.get('current_period_end'))[:10]}",
            p.get("status") == "paid" and minor(p.get("cash_paid")) == minor(kq.get("amount_due")) and len(subs) == 1 and sub.get("status") == "active",
        )
        plan_link = self.link("sam", PLAN_ONLY_KEY)
        plan_url = (plan_link.json() or {}).get("url", "")
        self.r.add(f, f"plan gives access to {PLAN_ONLY_KEY}", "200", f"{plan_link.status}", plan_link.status == 200)
        sid = sub.get("id", "missing")
        c = self.api("POST", f"/api/v1/me/subscriptions/{sid}/cancel", "sam")
        cj = c.json() or {}
        s2, waited = poll(lambda: (s := self.subscriptions("sam")) and s[0].get("cancel_at_period_end") is True and s)
        self.r.add(
            f,
            "cancel (POST /api/v1/me/subscriptions/{id}/cancel)",
            "200, cancel_at_period_end true",
            f"{c.status}, {cj.get('cancel_at_period_end')}; applied after {waited:.1f} s",
            c.status == 200 and cj.get("cancel_at_period_end") is True and bool(s2),
        )
        still = self.link("sam", PLAN_ONLY_KEY)
        self.r.add(f, "cancelled: access lasts until the paid period ends", "200", f"{still.status}", still.status == 200)
        # Stripe sends customer.subscription.deleted when the period of a cancelled subscription
        # ends; the local mode has no clock to wait a month for, so the script delivers it,
        # signed with this run's webhook secret, through the public webhook endpoint.
        now = int(time.time())
        event = json.dumps(
            {
                "id": f"evt_verify_{secrets.token_hex(8)}",
                "object": "event",
                "api_version": "2025-08-27.basil",
                "created": now,
                "livemode": False,
                "pending_webhooks": 1,
                "type": "customer.subscription.deleted",
                "data": {"object": {"id": sid, "object": "subscription", "status": "canceled"}},
            },
            separators=(",", ":"),
        )
        sig = hmac.new(self.s.webhook_secret.encode(), f"{now}.{event}".encode(), hashlib.sha256).hexdigest()
        wh = self.h.call(
            "POST",
            "/webhooks/stripe",
            raw=event,
            headers={"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={sig}"},
        )
        self.r.add(f, "period end: signed customer.subscription.deleted delivered", "200 received", f"{wh.status} {short(wh.text, 50)}", wh.status == 200)

        def plan_over():
            plans = [e for e in self.entitlements("sam") if e.get("scope") == "plan"]
            return plans and all(e.get("effective") is False for e in plans) and plans

        plans, waited = poll(plan_over)
        self.r.add(
            f,
            "plan access ended",
            "plan entitlement not effective, no live subscription",
            f"after {waited:.1f} s: {[(e.get('scope_ref'), e.get('effective'), e.get('status')) for e in (plans or [])]}; {len(self.subscriptions('sam'))} live subs",
            bool(plans) and not self.subscriptions("sam"),
        )
        gone = self.link("sam", PLAN_ONLY_KEY)
        gone_old = self.fetch(plan_url, "sam") if plan_url else None
        self.r.add(
            f,
            "plan KEY after the end: new link and link issued before",
            "403; 403",
            f"{gone.status}; {gone_old.status if gone_old else '—'}",
            gone.status == 403 and gone_old is not None and gone_old.status == 403,
        )
        kept = next((e for e in self.entitlements("sam") if e.get("key") == PERPETUAL_KEY), {})
        self.r.add(
            f,
            "the KEY bought separately survives the plan ending",
            "effective, perpetual",
            f"effective {kept.get('effective')}, {kept.get('status')}, expires {kept.get('expires_at')}",
            kept.get("effective") is True and kept.get("expires_at") is None,
        )
        self.download_checks(f, "sam", PERPETUAL_KEY, "surviving KEY")

    # -- 5 ------------------------------------------------------------------------------------

    def flow5(self, f: str) -> None:
        key_order = self.order("ada", self.ctx.get("ada_order"))
        paid = minor(key_order.get("cash_paid"))
        q = self.quote("ada", BUNDLE)
        qj = q.json() or {}
        credits = qj.get("credits", [])
        kinds = [l.get("kind") for l in qj.get("lines", [])]
        price = minor(qj.get("price"))
        self.r.add(
            f,
            f"{BUNDLE} quote credits exactly what was paid for the KEY",
            f"one credit from order #{key_order.get('id')} = {money(paid)}",
            f"{q.status}, credits {[(c.get('order_id'), money(minor(c.get('amount')))) for c in credits]}, total {money(minor(qj.get('credit_total')))}",
            q.status == 200 and len(credits) == 1 and credits[0].get("order_id") == key_order.get("id")
            and minor(credits[0].get("amount")) == paid and minor(qj.get("credit_total")) == paid,
        )
        due = minor(qj.get("amount_due"))
        self.r.add(
            f,
            "quote lines add up",
            "list − discount − credit = due",
            f"{kinds}: {money(minor(qj.get('list_price')))} − {money(minor(qj.get('discount')))} − {money(minor(qj.get('credit_total')))} = {money(due)}",
            kinds == ["list_price", "discount", "credit", "amount_due"] and price is not None and paid is not None and due == price - paid,
        )
        o = self.buy("ada", BUNDLE)
        self.r.add(
            f,
            "pays the upgrade (local checkout)",
            f"paid, cash {money(due)}, credit applied {money(paid)}",
            f"{o.get('status') or o.get('error')}, cash {money(minor(o.get('cash_paid')))}, credit {money(minor(o.get('credit_applied')))}",
            o.get("status") == "paid" and minor(o.get("cash_paid")) == due and minor(o.get("credit_applied")) == paid,
        )
        b = [e for e in self.entitlements("ada") if e.get("scope") == "bundle" or e.get("source") == "bundle_purchase"]
        other = self.link("ada", BUNDLE_OTHER_MEMBER)
        self.r.add(
            f,
            "bundle granted: another member downloads",
            "bundle entitlement effective; link 200",
            f"{[(e.get('scope'), e.get('scope_ref') or e.get('key'), e.get('effective')) for e in b]}; {other.status}",
            any(e.get("effective") for e in b) and other.status == 200,
        )
        q2 = self.quote("ada", BUNDLE)
        self.r.add(f, "quoting the owned bundle again", "409 (nothing to credit twice)", f"{q2.status} {q2.error()}", q2.status == 409)
        total = sum(minor(x.get("cash_paid")) or 0 for x in self.orders("ada"))
        self.r.add(f, "total charged for KEY + upgrade", f"= bundle price {money(price)}", money(total), total == price)

        # Two upgrades in a row: KEY → bundle → larger bundle.
        self.sign_up("lena")
        k = self.buy("lena", CHAIN[0])
        k_paid = minor(k.get("cash_paid"))
        q1 = self.quote("lena", CHAIN[1]).json() or {}
        self.r.add(
            f,
            f"{CHAIN[0]} → {CHAIN[1]}: quote credits the KEY once",
            f"credit {money(k_paid)} from order #{k.get('id')}",
            f"KEY {k.get('status') or k.get('error')}; credits {[(c.get('order_id'), money(minor(c.get('amount')))) for c in q1.get('credits', [])]}",
            k.get("status") == "paid" and minor(q1.get("credit_total")) == k_paid and [c.get("order_id") for c in q1.get("credits", [])] == [k.get("id")],
        )
        b1 = self.buy("lena", CHAIN[1])
        self.r.add(
            f,
            f"pays {CHAIN[1]}",
            f"paid {money(minor(q1.get('amount_due')))}",
            f"{b1.get('status') or b1.get('error')}, cash {money(minor(b1.get('cash_paid')))}, credit {money(minor(b1.get('credit_applied')))}",
            b1.get("status") == "paid" and minor(b1.get("cash_paid")) == minor(q1.get("amount_due")),
        )
        so_far = sum(minor(x.get("cash_paid")) or 0 for x in self.orders("lena"))
        q2j = self.quote("lena", CHAIN[2]).json() or {}
        credit_lines = [(c.get("order_id"), minor(c.get("amount"))) for c in q2j.get("credits", [])]
        line_sum = sum(a or 0 for _, a in credit_lines)
        self.r.add(
            f,
            f"second upgrade {CHAIN[1]} → {CHAIN[2]}: no payment credited twice",
            f"credit = all cash paid so far {money(so_far)}",
            f"credits {[(i, money(a)) for i, a in credit_lines]} = {money(line_sum)}, total {money(minor(q2j.get('credit_total')))}",
            minor(q2j.get("credit_total")) == so_far and line_sum == so_far,
        )
        b2 = self.buy("lena", CHAIN[2])
        total = sum(minor(x.get("cash_paid")) or 0 for x in self.orders("lena"))
        big = minor(q2j.get("price"))
        self.r.add(
            f,
            f"pays {CHAIN[2]}: three purchases cost the larger bundle",
            f"paid {money(minor(q2j.get('amount_due')))}; total {money(big)}",
            f"{b2.get('status') or b2.get('error')} {money(minor(b2.get('cash_paid')))}; total {money(total)}",
            b2.get("status") == "paid" and minor(b2.get("cash_paid")) == minor(q2j.get("amount_due")) and total == big,
        )

        # A payment already carried into a plan's first invoice (flow 4) is not credited again.
        if "sam" in self.accounts and self.ctx.get("sam_key_order"):
            kid = self.ctx["sam_key_order"]
            plan_order = next((o for o in self.orders("sam") if str(o.get("sku", "")).startswith("plan:")), {})
            qs = self.quote("sam", SHARED_BUNDLE)
            qsj = qs.json() or {}
            again = [c for c in qsj.get("credits", []) if c.get("order_id") == kid]
            self.r.add(
                f,
                f"KEY → plan, then {SHARED_BUNDLE}: the KEY's payment is not credited twice",
                f"no credit from order #{kid} (used by plan order #{plan_order.get('id')})",
                f"plan credit applied {money(minor(plan_order.get('credit_applied')))}; bundle quote {qs.status}, "
                f"credits {[(c.get('order_id'), money(minor(c.get('amount')))) for c in qsj.get('credits', [])]}, due {money(minor(qsj.get('amount_due')))}",
                qs.status == 200 and minor(plan_order.get("credit_applied")) == minor(self.order("sam", kid).get("cash_paid"))
                and not again,
            )

    # -- 6 ------------------------------------------------------------------------------------

    def flow6(self, f: str) -> None:
        if "bob" not in self.accounts:
            self.sign_up("bob")
        url = (self.link("ada", SEARCH_KEY).json() or {}).get("url", "")  # fresh: links live 5 min
        parts = url.split("/")
        anon = self.link(None, SEARCH_KEY)
        self.r.add(f, "anonymous download request", "401", f"{anon.status} {anon.error()}", anon.status == 401)
        forged = self.h.call("POST", f"/api/v1/keys/{SEARCH_KEY}/download", cookie="keys_session=" + secrets.token_hex(32))
        self.r.add(f, "download request with a forged session cookie", "401", f"{forged.status} {forged.error()}", forged.status == 401)
        other = self.link("bob", SEARCH_KEY)
        self.r.add(f, "another (signed-in, not entitled) user asks for a link", "403", f"{other.status} {other.error()}", other.status == 403)
        if len(parts) == 7:
            sig = parts[6]
            flipped = ("1" if sig[0] == "0" else "0") + sig[1:]
            tampered = "/".join(parts[:6] + [flipped])
            t = self.fetch(tampered, "ada")
            self.r.add(f, "tampered link (one char of the signature changed), owner's session", "403", f"{t.status}", t.status == 403)
            retarget = "/".join(parts[:3] + ["next-stripe-checkout"] + parts[4:])
            t2 = self.fetch(retarget, "ada")
            self.r.add(f, "link re-pointed at another KEY (slug changed)", "403", f"{t2.status}", t2.status == 403)
            later = "/".join(parts[:5] + [str(int(parts[5]) + 3600), parts[6]])
            t3 = self.fetch(later, "ada")
            self.r.add(f, "link with a later expiry", "403", f"{t3.status}", t3.status == 403)
            bob_id = str(self.accounts["bob"]["id"])
            mine = "/".join(parts[:2] + [bob_id] + parts[3:])
            t4 = self.fetch(mine, "bob")
            self.r.add(f, "another user rewrites the link to their account id", "403", f"{t4.status}", t4.status == 403)
        else:
            self.r.add(f, "a download link to tamper with", "/dl/{account}/{slug}/{version}/{expires}/{sig}", url or "none", False)
        theirs = self.fetch(url, "bob")
        self.r.add(f, "another user's session uses the owner's link", "403", f"{theirs.status}", theirs.status == 403)
        nobody = self.fetch(url, None)
        self.r.add(f, "the owner's link without any session", "403", f"{nobody.status}", nobody.status == 403)
        control = self.fetch(url, "ada")
        self.r.add(f, "control: the untouched link, owner's session", "200", f"{control.status}", control.status == 200)
        oid = self.ctx.get("ada_order")
        ret = self.h.call("GET", f"/checkout/return?order={oid}", cookie=self.accounts["bob"]["cookie"])
        self.r.add(f, "another user's order id on the order page", "404", f"{ret.status}", ret.status == 404)
        can = self.api("POST", f"/api/v1/me/orders/{oid}/cancel", "bob")
        self.r.add(f, "another user's order id: POST /api/v1/me/orders/{id}/cancel", "404", f"{can.status} {can.error()}", can.status == 404)
        listed = [o.get("id") for o in self.orders("bob")]
        self.r.add(f, "another user's order is not in GET /api/v1/me/orders", f"#{oid} absent", f"bob's orders {listed}", oid not in listed)
        detail = self.h.call("GET", f"/api/v1/keys/{SEARCH_KEY}")
        self.r.add(
            f,
            "catalog API exposes no archive location",
            "no /dl/ or objects/ path in the KEY's JSON",
            f"{detail.status}, {'clean' if '/dl/' not in detail.text and 'objects/' not in detail.text else 'exposes a path'}",
            detail.status == 200 and "/dl/" not in detail.text and "objects/" not in detail.text,
        )
        xsite = self.h.call(
            "POST",
            "/api/v1/checkout",
            cookie=self.accounts["bob"]["cookie"],
            form={"sku": f"key:{SEARCH_KEY}"},
        )
        self.r.add(
            f,
            "cross-site form POST to the API with the session cookie (no JSON, no CSRF token)",
            "refused (415)",
            f"{xsite.status} {xsite.error()}",
            xsite.status == 415,
        )
        tok = self.api("POST", "/api/v1/tokens", "ada", {"name": "verify-read", "scope": "read"})
        token = (tok.json() or {}).get("token")
        if token:
            rt = self.h.call("POST", f"/api/v1/keys/{SEARCH_KEY}/download", headers={"Authorization": f"Bearer {token}"})
            self.r.add(f, "owner's read-scope API token asks for a link", "403 (needs scope download)", f"{rt.status} {rt.error()}", rt.status == 403)
        else:
            self.r.add(f, "owner's read-scope API token asks for a link", "403 (needs scope download)", f"token not created: {tok.status} {short(tok.text, 50)}", False)

    # -- timings --------------------------------------------------------------------------------

    def timed(self, label: str, method: str, path: str, headers: dict, promise_ms: float) -> None:
        conn = self.h.keepalive()
        ms: list[float] = []
        bad: dict[int, int] = {}
        reconnects = 0
        for i in range(self.samples + 5):  # 5 warm-up requests, not counted
            try:
                started = time.perf_counter()
                conn.request(method, path, headers=headers)
                r = conn.getresponse()
                r.read()
                took = (time.perf_counter() - started) * 1000
                status = r.status
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = self.h.keepalive()
                    reconnects += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self.h.keepalive()
                reconnects += 1
                took, status = float("nan"), 0
            if i < 5:
                continue
            if status != 200:
                bad[status] = bad.get(status, 0) + 1
            if status:
                ms.append(took)
        conn.close()
        ms.sort()
        row = {
            "label": label,
            "n": len(ms),
            "requested": self.samples,
            "promise_ms": promise_ms,
            "bad": bad,
            "reconnects": reconnects,
        }
        if ms:
            row.update(
                p50=percentile(ms, 50),
                p99=percentile(ms, 99),
                max=ms[-1],
                mean=statistics.fmean(ms),
            )
        row["ok"] = bool(ms) and not bad and len(ms) == self.samples and row["p99"] < promise_ms
        self.r.timings.append(row)
        print(
            f"  {'PASS' if row['ok'] else 'FAIL'}  {label}: n={row['n']} p50={row.get('p50', float('nan')):.1f} ms "
            f"p99={row.get('p99', float('nan')):.1f} ms max={row.get('max', float('nan')):.1f} ms "
            f"(promise < {promise_ms:.0f} ms){' non-200: ' + str(bad) if bad else ''}",
            flush=True,
        )

    def timings(self) -> None:
        print("\n== Timings", flush=True)
        self.timed("GET /marketplace (anonymous page)", "GET", "/marketplace", {}, PAGE_PROMISE_MS)
        cookie = self.accounts.get("ada", {}).get("cookie") or ""
        self.timed(
            f"POST /api/v1/keys/{SEARCH_KEY}/download (link for an entitled buyer)",
            "POST",
            f"/api/v1/keys/{SEARCH_KEY}/download",
            {"Cookie": cookie, "Content-Type": "application/json", "Content-Length": "0"},
            DOWNLOAD_PROMISE_MS,
        )


FLOWS = [
    ("1", "1. A new visitor discovers the right KEY", "flow1"),
    ("2", "2. Pays", "flow2"),
    ("3", "3. Access is granted correctly, server-side", "flow3"),
    ("4", "4. Access revokes correctly", "flow4"),
    ("5", "5. Upgrades charge fairly", "flow5"),
    ("6", "6. No client-only access path", "flow6"),
]


# ---------------------------------------------------------------------------------------------
# Metadata and the report


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def os_name() -> str:
    pretty = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()}, {platform.system()} {platform.release()} {platform.machine()}"


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, timeout=10).stdout.strip() or str(os.cpu_count())
    except OSError:
        return str(os.cpu_count())


def binary_info(path: str) -> dict:
    profile = os.environ.get("KEYS_VERIFY_PROFILE") or (
        "release" if "/release/" in path else "debug" if "/debug/" in path else "unknown"
    )
    version = ""
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        pass
    try:
        st = os.stat(path)
        built = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        size = f"{st.st_size / 1048576:.0f} MiB"
    except OSError:
        built, size = "?", "?"
    return {"path": path, "profile": profile, "version": version or "?", "built": built, "size": size}


def md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report(path: str, meta: dict, results: Results) -> None:
    sections = [("0", "Start-up")] + [(fid, title) for fid, title in results.flows if fid != "0"]
    total = len(results.checks) + len(results.timings)
    passed = total - results.failed
    lines = [
        "# Pre-hardening verification",
        "",
        "Generated by `.ci/verify` (`.ci/verify.py`) — do not edit by hand; run `.ci/verify` again to refresh it.",
        "",
        "| | |",
        "|---|---|",
        f"| Date (UTC) | {meta['date']} |",
        f"| Git commit | `{meta['commit']}` |",
        f"| Machine | {meta['nproc']} CPUs (`nproc`), {md(meta['os'])} |",
        f"| Binary | `{md(meta['bin']['path'])}` — **{meta['bin']['profile']}** profile, {md(meta['bin']['version'])}, "
        f"{meta['bin']['size']}, built {meta['bin']['built']}, sha256 {meta['bin'].get('sha256', '?')}… ({md(meta['built_how'])}) |",
        f"| Database | {md(meta['database'])} |",
        f"| Server | {md(meta['server'])} |",
        f"| Payments | local payment mode (TEST MODE), worker inside keys-server |",
        f"| Run time | {meta['duration']:.0f} s |",
        f"| Result | **{'PASS' if results.failed == 0 else 'FAIL'}** — {passed} of {total} checks passed |",
        "",
    ]
    if meta["bin"]["profile"] != "release":
        lines += [
            f"> The binary is a **{meta['bin']['profile']}** build: the flows' results hold for any build, but the "
            "timings are not those of the release build the promises are about.",
            "",
        ]
    lines += ["## Summary", "", "| Flow | Checks passed | Result |", "|---|---:|---|"]
    for fid, title in sections:
        cs = results.of(fid)
        if not cs:
            continue
        ok = sum(c.ok for c in cs)
        lines.append(f"| {md(title)} | {ok}/{len(cs)} | {'PASS' if ok == len(cs) else '**FAIL**'} |")
    if results.timings:
        ok = sum(t["ok"] for t in results.timings)
        lines.append(f"| Timings | {ok}/{len(results.timings)} | {'PASS' if ok == len(results.timings) else '**FAIL**'} |")
    lines.append("")
    for fid, title in sections:
        cs = results.of(fid)
        if not cs:
            continue
        lines += [f"## {title}", "", "| Check | Expected | Observed | Result |", "|---|---|---|---|"]
        for c in cs:
            lines.append(f"| {md(c.name)} | {md(c.expected)} | {md(c.observed)} | {'PASS' if c.ok else '**FAIL**'} |")
        lines.append("")
    if results.timings:
        lines += [
            "## Timings",
            "",
            f"Sequential requests on one keep-alive HTTP/1.1 connection over loopback (`http.client`, timed with "
            f"`time.perf_counter` from sending the request to reading the whole body), after 5 warm-up requests; "
            f"percentiles by nearest rank. PASS when every answer was 200 and p99 is under the promise.",
            "",
            "| Measurement | Requests | p50 | p99 | max | mean | Promise | Result |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for t in results.timings:
            fmt = lambda k: f"{t[k]:.1f} ms" if k in t else "—"  # noqa: E731
            note = (f" (non-200: {t['bad']})" if t["bad"] else "") + (
                f" ({t['reconnects']} reconnections)" if t.get("reconnects") else ""
            )
            lines.append(
                f"| {md(t['label'])} | {t['n']}{md(note)} | {fmt('p50')} | {fmt('p99')} | {fmt('max')} | {fmt('mean')} | "
                f"< {t['promise_ms']:.0f} ms | {'PASS' if t['ok'] else '**FAIL**'} |"
            )
        lines.append("")
    if results.notes:
        lines += ["## How it was run", ""] + [f"- {n}" for n in results.notes] + [""]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description="Pre-hardening verification of keys-server (see .ci/verify).")
    ap.add_argument("--bin", default=os.environ.get("KEYS_VERIFY_BIN"), help="the keys-server binary")
    ap.add_argument("--out", default=DEFAULT_OUT, help="report path (default docs/PRE_HARDENING_VERIFICATION.md)")
    ap.add_argument("--samples", type=int, default=int(os.environ.get("KEYS_VERIFY_SAMPLES", "300")))
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory (server log)")
    args = ap.parse_args()
    if not args.bin:
        print("error: no binary: pass --bin or set KEYS_VERIFY_BIN (the .ci/verify wrapper builds one)", file=sys.stderr)
        return 2
    binary = os.path.abspath(args.bin)
    if args.samples < 1:
        print("error: --samples must be at least 1", file=sys.stderr)
        return 2
    db_url = os.environ.get("KEYS_VERIFY_DATABASE_URL", "").strip()
    pg = None
    if db_url:
        try:
            pg = Postgres(db_url)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    # Stop cleanly on SIGTERM/SIGINT: the finally blocks stop the server and remove what we made.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    started = time.perf_counter()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain"):
        commit += " (dirty)"
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit,
        "nproc": nproc(),
        "os": os_name(),
        "bin": binary_info(binary),
        "built_how": os.environ.get("KEYS_VERIFY_BUILT", "given as KEYS_VERIFY_BIN / --bin, not built by this run"),
    }
    results = Results()
    work = tempfile.mkdtemp(prefix="keys-verify.")
    server = Server(binary, pg.url if pg else None, work, "whsec_verify_" + secrets.token_hex(16))
    meta["database"] = (
        f"fresh Postgres database `{pg.name}` on {urllib.parse.urlsplit(pg.url).hostname}:{urllib.parse.urlsplit(pg.url).port or 5432} (created and dropped by the run)"
        if pg
        else "SQLite, fresh file in a temporary data directory (removed after the run)"
    )
    meta["server"] = "not started"
    interrupted_by = None
    try:
        results.flow("0", "Start-up")
        ok = os.access(binary, os.X_OK)
        results.add(
            "0",
            "binary exists and runs",
            "executable, --version",
            meta["bin"]["version"] if ok else f"{binary}: not executable",
            ok and meta["bin"]["version"] != "?",
        )
        # Pinned: the server and every admin command run this copy, even if a build elsewhere in
        # the shared target directory replaces the file while the run is under way.
        server.binary = os.path.join(work, "keys-server")
        shutil.copy2(binary, server.binary)
        digest = hashlib.sha256()
        with open(server.binary, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        meta["bin"]["sha256"] = digest.hexdigest()[:16]
        if pg:
            pg.create()
            meta["database"] += f", PostgreSQL {pg.version()}"
        try:
            server.start()
            results.add(
                "0",
                "keys-server starts on 127.0.0.1:0",
                "prints “KEYS marketplace running at http://127.0.0.1:…/marketplace”",
                f"{server.url} after {server.startup_s:.1f} s (incl. ingest)",
                True,
            )
        except Exception as err:
            results.add("0", "keys-server starts on 127.0.0.1:0", "prints its URL", f"{err}", False)
            raise
        meta["server"] = f"`--bind 127.0.0.1:0 --data-dir <tmp> --assets keys-assets/` → {server.url}; started in {server.startup_s:.1f} s (catalog ingested on start)"
        h = Http(server.host, server.port)
        ready, waited = poll(lambda: h.call("GET", "/readyz").status == 200, timeout=60, interval=0.2)
        results.add("0", "GET /readyz", "200", f"{'200' if ready else 'not ready'} after {waited:.1f} s", bool(ready))
        v = Verification(server, results, args.samples)
        for fid, title, method in FLOWS:
            results.flow(fid, title)
            v.guarded(fid, getattr(v, method))
        v.timings()
        alive = server.proc is not None and server.proc.poll() is None
        results.add("0", "server still running after every flow", "no crash", "running" if alive else f"exited {server.proc.returncode if server.proc else '?'}", alive)
        results.notes += [
            f"Accounts are signed up through `POST /api/v1/auth/signup` (`*-{v.run_tag}@verify.example`); buyers' emails are "
            "confirmed with the operator command `keys-server admin verify EMAIL` and the admin gets the role with "
            "`keys-server admin grant EMAIL`, both run against the same data directory and database as the server. "
            "The organisation member's email is left unconfirmed (the library needs none).",
            "Payments go through the local checkout page `/pay/local/{session}` (its form, `action=pay`, with the "
            "session's CSRF token); the server's own worker applies the events it emits; the script polls "
            "`GET /api/v1/me/orders` / `…/entitlements` (up to 30 s) for the result.",
            "The anonymous `/marketplace` page is served from the server's rendered-response cache after its first "
            "render (`catalog.response_cache_entries`), which is what every anonymous visitor gets; the download-link "
            "timing reads the session and the caller's entitlements from the database on every request.",
            "Settings: every `KEYS__*` variable of the caller is dropped; the server gets `KEYS__LOG__FILTER=warn`, "
            "`KEYS__PAYMENTS__MODE=local` and `KEYS__STRIPE__WEBHOOK_SECRETS` set to a secret generated for the run "
            "(local mode signs its events with it). The local billing portal and the API cancel a subscription at the "
            "end of the paid period, as Stripe does; to reach that end without waiting a month the script delivers "
            "what Stripe sends then — `customer.subscription.deleted`, signed with that secret — to `POST /webhooks/stripe`.",
            f"Timings use {args.samples} requests each; the download-link timing is for the flow-2 buyer, who owns "
            f"`{SEARCH_KEY}`.",
        ]
    except KeyboardInterrupt as err:
        interrupted_by = str(err) or "interrupted"
        results.add("0", "run completed", "not interrupted", f"interrupted ({interrupted_by})", False)
    except Exception as err:
        if not any(not c.ok for c in results.checks):
            results.add("0", "run completed", "no error", f"{type(err).__name__}: {err}", False)
    finally:
        server.stop()
        if pg:
            pg.drop()
        if results.failed and server.log_tail():
            print("\n-- server log (last lines) --\n" + server.log_tail(), file=sys.stderr)
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    # Whatever did not run is a failure too, so the summary always names every flow.
    why = "not run: " + (interrupted_by or "the run stopped before it (see Start-up)")
    for fid, title, _ in FLOWS:
        if not results.of(fid):
            if fid not in [f for f, _ in results.flows]:
                results.flows.append((fid, title))
            results.add(fid, "flow ran", "run", why, False)
    if not results.timings:
        for label, promise in (("GET /marketplace (anonymous page)", PAGE_PROMISE_MS), ("POST /api/v1/keys/{slug}/download", DOWNLOAD_PROMISE_MS)):
            results.timings.append({"label": label + f" — {why}", "n": 0, "requested": args.samples, "promise_ms": promise, "bad": {}, "reconnects": 0, "ok": False})
    meta["duration"] = time.perf_counter() - started
    write_report(args.out, meta, results)

    total = len(results.checks) + len(results.timings)
    print("\n== Summary")
    for fid, title in [("0", "Start-up")] + [(a, b) for a, b, _ in FLOWS]:
        cs = results.of(fid)
        if cs:
            print(f"  {'PASS' if all(c.ok for c in cs) else 'FAIL'}  {title}: {sum(c.ok for c in cs)}/{len(cs)}")
    for t in results.timings:
        got = f"p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms" if "p99" in t else "no measurement"
        print(f"  {'PASS' if t['ok'] else 'FAIL'}  {t['label']}: {got} (promise p99 < {t['promise_ms']:.0f} ms)")
    print(f"\n{'PASS' if results.failed == 0 else 'FAIL'}: {total - results.failed}/{total} checks passed; report: {os.path.relpath(args.out, REPO)}")
    if interrupted_by:
        return 130
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
