"""`make bench`: pages under load, issuance throughput and latency, growth; writes BENCHMARKS.md.

Creates the PostgreSQL database `yq_bench`, fills it, serves it with gunicorn (2 sync workers)
and Celery (2 worker processes over Redis) on 127.0.0.1, loads it with wrk, and on the way out
— also after a failure or Ctrl-C — stops every process it started and drops the database.
BENCH_QUICK=1: a smaller, shorter run.
"""

import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DB_NAME = "yq_bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# A Redis server of the run's own (no persistence), unless BENCH_REDIS_URL names one: others
# working on this machine flush and restart the shared one, and a broker that loses queued
# tasks mid-run would turn the issuance figures into noise.
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6399"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:{REDIS_PORT}/0")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
HOST = "127.0.0.1"

if QUICK:
    CONFIG = {
        "enterprises": 2_000,
        "small_enterprises": 200,
        "duration": 4,
        "warmup": 1,
        "burst": 40,
        "rate": 10,
        "rate_seconds": 5,
        "raw_iterations": 30,
    }
else:
    CONFIG = {
        "enterprises": 10_000,
        "small_enterprises": 200,
        "duration": 10,
        "warmup": 2,
        "burst": 200,
        "rate": 20,
        "rate_seconds": 15,
        "raw_iterations": 100,
    }
WRK_THREADS, WRK_CONNECTIONS = 2, 32


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- Processes and the database: everything started here is stopped here -----------------------


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], *, env: dict, log_path: Path) -> subprocess.Popen:
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            # Its own session: the signal reaches its children (workers) too, and nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.started)):
            self.stop(proc)


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(statement)


def drop_database() -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("bench: wrk is not installed. Install it (Debian: sudo apt-get install -y wrk).")
    log("wrk is missing: installing it with apt-get")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("bench: apt-get did not install wrk")


def start_redis(processes: Processes, rundir: Path) -> None:
    server = shutil.which("redis-server") or sys.exit("bench: redis-server is not installed")
    args = [server, "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", ""]
    proc = processes.start([*args, "--appendonly", "no"], env=dict(os.environ),
                           log_path=rundir / "redis.log")  # fmt: skip
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True,
                         check=False).stdout.strip() != b"PONG":  # fmt: skip
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start; see {rundir}/redis.log")
        time.sleep(0.1)


# ---- HTTP and wrk -------------------------------------------------------------------------------


def http_request(method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(wrk_bin: str, path: str, *, seconds: int, headers=None, lua: Path | None = None) -> dict:
    args = [wrk_bin, f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if lua:
        args += ["-s", str(lua)]
    args.append(f"http://{HOST}:{PORT}{path}")
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", text, re.M))
    if "99" not in latency or "Requests/sec" not in text:
        raise RuntimeError(f"unexpected wrk output for {path}:\n{text}\n{out.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)$", text, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def post_lua(path: Path, headers: dict[str, str], body: bytes) -> Path:
    """A wrk script that POSTs this body with these headers on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- The measurements ----------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def memory(proc: subprocess.Popen) -> dict:
    workers = children(proc.pid)
    return {
        "master_mb": round(rss_mb(proc.pid), 1),
        "workers_mb": [round(rss_mb(pid), 1) for pid in workers],
    }


def query_counts(pages: list[dict]) -> dict[str, int]:
    """Queries per request, in-process through the test client (full middleware stack)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for page in pages:
        client = Client()
        if page.get("session"):
            client.cookies["sessionid"] = page["session"]
        method = client.post if page.get("method") == "POST" else client.get
        kwargs = {"headers": page.get("headers", {})}
        if page.get("make_body"):
            headers, body = page["make_body"]()
            kwargs = {"headers": headers, "data": body, "content_type": "application/json"}
        method(page["path"], **kwargs)  # warm: first-request imports and caches
        if page.get("make_body"):
            headers, body = page["make_body"]()
            kwargs = {"headers": headers, "data": body, "content_type": "application/json"}
        with CaptureQueriesContext(connection) as captured:
            response = method(page["path"], **kwargs)
        if response.status_code != page.get("status", 200):
            raise RuntimeError(f"{page['name']}: status {response.status_code} in-process")
        counts[page["name"]] = len(captured)
    return counts


class _NoCache:
    """A cache that never has anything (for the cost of a miss)."""

    def get(self, key, default=None):
        return default

    def set(self, *args, **kwargs) -> None:
        pass


def inprocess_costs(floor: dict, pages: list[dict], *, rounds: int = 6, n: int = 40) -> dict:
    """Milliseconds per request in this process (test client, no HTTP, no load), each page's
    rounds interleaved with the floor's; the best half of the rounds. For 订单管理 also with
    its rendered-rows cache bypassed (yueqiqian/fragments.py): the cost of a changed list."""
    from unittest import mock

    from django.test import Client

    from yueqiqian import fragments

    def client_for(page: dict) -> tuple[Client, list]:
        client = Client()
        if page.get("session"):
            client.cookies["sessionid"] = page["session"]
        bodies = (
            [page["make_body"]() for _ in range(rounds * n + 5)] if page.get("make_body") else []
        )
        for i in range(5):
            _send(client, page, bodies, i)
        return client, bodies

    def best(samples: list[float]) -> float:
        return round(sum(sorted(samples)[: rounds // 2]) / (rounds // 2), 2)

    def timed(client, page, bodies, offset: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            _send(client, page, bodies, offset + i)
        return (time.perf_counter() - start) / n * 1000

    floor_client, _ = client_for(floor)
    variants = [(page["name"], page, False) for page in pages]
    order_list = next(p for p in pages if p["path"] == "/orders/")
    variants.append((f"{order_list['name']}（行缓存未命中）", order_list, True))
    costs = {}
    for name, page, miss in variants:
        client, bodies = client_for(page)
        floor_ms, page_ms = [], []
        for r in range(rounds):
            floor_ms.append(timed(floor_client, floor, [], 0))
            with (
                mock.patch.object(fragments, "default_cache", _NoCache())
                if miss
                else contextlib.nullcontext()
            ):
                page_ms.append(timed(client, page, bodies, 5 + r * n))
        costs[name] = {"ms": best(page_ms), "floor_ms": best(floor_ms)}
    return costs


def _send(client, page: dict, bodies: list, i: int) -> None:
    if bodies:
        headers, body = bodies[i]
        client.post(page["path"], data=body, content_type="application/json", headers=headers)
    else:
        client.get(page["path"], headers=page.get("headers", {}))


def profile_pages(pages: list[dict], rundir: Path, requests: int = 200) -> None:
    """BENCH_PROFILE=1: cProfile `requests` in-process requests of each page; the top functions
    by cumulative and by own time go to <rundir>/profile-<n>.txt. Not part of the figures."""
    import cProfile
    import pstats

    from django.test import Client

    for n, page in enumerate(pages):
        client = Client()
        if page.get("session"):
            client.cookies["sessionid"] = page["session"]
        bodies = [page["make_body"]() for _ in range(requests)] if page.get("make_body") else []

        _send(client, page, bodies, 0)
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            _send(client, page, bodies, i)
        profiler.disable()
        out = rundir / f"profile-{n}.txt"
        with out.open("w") as stream:
            stream.write(f"{page['name']} {page['path']}: {requests} requests\n")
            stats = pstats.Stats(profiler, stream=stream).strip_dirs()
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)
        log(f"  profile of {page['name']} → {out}")


def check_page(page: dict) -> None:
    headers = dict(page.get("headers", {}))
    if page.get("session"):
        headers["Cookie"] = f"sessionid={page['session']}"
    body = None
    if page.get("make_body"):
        extra, body = page["make_body"]()
        headers.update(extra, **{"Content-Type": "application/json"})
    status, content = http_request(page.get("method", "GET"), page["path"], headers, body)
    if status != page.get("status", 200):
        raise RuntimeError(f"{page['name']} {page['path']}: HTTP {status} {content[:300]!r}")


def load(wrk_bin: str, page: dict, rundir: Path, seconds: int, *, warm: bool = True) -> dict:
    headers = dict(page.get("headers", {}))
    if page.get("session"):
        headers["Cookie"] = f"sessionid={page['session']}"
    lua = None
    if page.get("make_body"):
        extra, body = page["make_body"]()  # signed now: valid for the 300 s window
        lua = post_lua(rundir / "notify.lua", {**extra, "Content-Type": "application/json"}, body)
    # Warm-up: the figures are not read (a short run can end without its latency table).
    if warm:
        with contextlib.suppress(RuntimeError):
            wrk(wrk_bin, page["path"], seconds=CONFIG["warmup"], headers=headers, lua=lua)
    try:
        result = wrk(wrk_bin, page["path"], seconds=seconds, headers=headers, lua=lua)
    except RuntimeError as exc:
        log(f"  {page['name']}: {exc}; once more")
        result = wrk(wrk_bin, page["path"], seconds=seconds, headers=headers, lua=lua)
    log(
        f"  {page['name']:<28} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:.1f} ms  "
        f"p99 {result['p99_ms']:.1f} ms  non-2xx {result['non_2xx']}"
    )
    return result


def beside_floor(wrk_bin: str, page: dict, floor: dict, rundir: Path) -> dict:
    """The page and the floor in the order floor, page, page, floor (half the duration each):
    a load that drifts during the ~25 s — the machine is shared — weighs on both sides alike,
    where a floor run only before the page gave whichever side ran in the quieter moment the
    better figure (one run's floors went from 405 to 795 req/s)."""
    half = max(1, CONFIG["duration"] // 2)
    floor_runs = [load(wrk_bin, floor, rundir, half)]
    page_runs = [load(wrk_bin, page, rundir, half), load(wrk_bin, page, rundir, half, warm=False)]
    floor_runs.append(load(wrk_bin, floor, rundir, half, warm=False))
    return {**_combined(page_runs), "floor": _combined(floor_runs)}


def _combined(runs: list[dict]) -> dict:
    """Runs of equal length as one: the mean rate, the mean median, the worst p99."""
    return {
        "rps": round(sum(r["rps"] for r in runs) / len(runs), 1),
        "requests": sum(r["requests"] for r in runs),
        "p50_ms": round(sum(r["p50_ms"] for r in runs) / len(runs), 2),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": "; ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
        "runs": [r["rps"] for r in runs],
    }


def raw_issuance(orders, iterations: int) -> dict:
    """The issuance's own work in this one process, no database, no Celery: the enterprise key
    and certificate, both seals, the invoice PDF."""
    from cryptography import x509

    from certificates.issuance import build_enterprise_certificate, new_serial_number
    from certificates.models import CACertificate
    from certificates.regions import city_for, province_for
    from certificates.seals import draw_legal_rep_seal, draw_official_seal
    from certificates.selectors import ca_private_key_load
    from certificates.services import ca_crl_url, ca_ocsp_url
    from invoices.pdf import invoice_items_for, render_invoice_pdf

    issuers = {}
    for cert in CACertificate.objects.filter(role=CACertificate.Role.ISSUING).select_related("ca"):
        issuers[cert.ca_id] = (
            x509.load_pem_x509_certificate(cert.certificate_pem.encode()),
            ca_private_key_load(cert),
            ca_crl_url(ca=cert.ca, role="issuing"),
            ca_ocsp_url(ca=cert.ca),
        )
    prepared = [(o, invoice_items_for(o)) for o in orders]
    parts = {"certificate": 0.0, "seals": 0.0, "invoice": 0.0}

    def once(order, items, record: bool) -> None:
        issuing_cert, issuing_key, crl, ocsp = issuers[order.ca_id]
        province = province_for(order.credit_code)
        t0 = time.perf_counter()
        build_enterprise_certificate(
            issuing_cert=issuing_cert,
            issuing_key=issuing_key,
            enterprise_name=order.enterprise_name,
            credit_code=order.credit_code,
            province=province,
            city=city_for(order.enterprise_address, province),
            years=order.years,
            serial_number=new_serial_number(),
            not_before=dt.datetime.now(dt.UTC),
            crl_url=crl,
            ocsp_url=ocsp,
        )
        t1 = time.perf_counter()
        draw_official_seal(order.enterprise_name)
        draw_legal_rep_seal(order.legal_rep_name)
        t2 = time.perf_counter()
        render_invoice_pdf(
            invoice_number=f"FP{order.number[2:]}",
            issued_at=dt.datetime.now(dt.UTC),
            seller_name=order.ca.name,
            buyer_title=order.invoice_title,
            buyer_tax_id=order.invoice_tax_id,
            items=items,
            total_fen=order.amount_fen,
            remark="",
            order_number=order.number,
        )
        t3 = time.perf_counter()
        if record:
            parts["certificate"] += t1 - t0
            parts["seals"] += t2 - t1
            parts["invoice"] += t3 - t2

    for order, items in prepared[:3]:  # fonts, reportlab's caches
        once(order, items, record=False)
    start = time.perf_counter()
    for n in range(iterations):
        once(*prepared[n % len(prepared)], record=True)
    elapsed = time.perf_counter() - start
    return {
        "iterations": iterations,
        "per_order_ms": round(elapsed / iterations * 1000, 1),
        "per_second": round(iterations / elapsed, 1),
        "parts_ms": {k: round(v / iterations * 1000, 1) for k, v in parts.items()},
    }


def notify_order(order, merchants, data_module) -> float:
    """POST the order's paid notification to gunicorn; returns when it was sent (epoch)."""
    merchant = merchants[order.ca_id]
    headers, body = data_module.signed_notification(
        data_module.paid_transaction(order, merchant=merchant), merchant=merchant
    )
    sent = time.time()
    status, content = http_request(
        "POST",
        f"/pay/wechat/notify/{merchant.ca.code}/",
        {**headers, "Content-Type": "application/json"},
        body,
    )
    if status != 200:
        raise RuntimeError(f"notify {order.number}: HTTP {status} {content[:200]!r}")
    return sent


def wait_completed(numbers: list[str], *, timeout: float) -> dict[str, tuple[float, float | None]]:
    """Poll until every order is 已完成 with its invoice (or the timeout): number → (completed
    at, invoice issued at), epoch seconds, from the rows themselves."""
    from django.db import connection

    from invoices.models import Invoice
    from orders.models import Order
    from orders.states import OrderStatus

    deadline = time.monotonic() + timeout
    done: dict[str, tuple[float, float | None]] = {}
    while time.monotonic() < deadline:
        rows = Order.objects.filter(number__in=numbers, status=OrderStatus.COMPLETED).values_list(
            "number", "updated_at"
        )
        invoices = dict(
            Invoice.objects.filter(order__number__in=numbers).values_list(
                "order__number", "issued_at"
            )
        )
        done = {
            n: (u.timestamp(), invoices[n].timestamp() if n in invoices else None) for n, u in rows
        }
        if len(done) == len(numbers) and all(i is not None for _, i in done.values()):
            break
        connection.close()  # a fresh snapshot each poll, no idle transaction
        time.sleep(0.1)
    return done


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def issuance(orders, merchants, data_module) -> dict:
    burst, paced = orders[: CONFIG["burst"]], orders[CONFIG["burst"] :]
    # Throughput: every notification as fast as 8 senders go; the workers drain the queue.
    log(f"issuance throughput: {len(burst)} notifications at once")
    start = time.time()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: notify_order(o, merchants, data_module), burst))
    posted = time.time() - start
    done = wait_completed([o.number for o in burst], timeout=120 + len(burst))
    completed = [c for c, _ in done.values()]
    invoiced = [i for _, i in done.values() if i is not None]
    throughput = {
        "orders": len(burst),
        "completed": len(completed),
        "invoiced": len(invoiced),
        "posting_s": round(posted, 2),
        "completed_per_s": round(len(completed) / (max(completed) - start), 1)
        if completed
        else 0.0,
        "with_invoice_per_s": round(len(invoiced) / (max(invoiced) - start), 1)
        if invoiced
        else 0.0,
    }
    log(f"  {throughput}")

    # Latency at a steady rate: one notification every 1/rate s, from a small sender pool.
    rate = CONFIG["rate"]
    log(f"issuance latency: {len(paced)} notifications at {rate}/s")
    sent: dict[str, float] = {}
    lock = threading.Lock()

    def send(order) -> None:
        at = notify_order(order, merchants, data_module)
        with lock:
            sent[order.number] = at

    begin = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for n, order in enumerate(paced):
            delay = begin + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, order)
    done = wait_completed(list(sent), timeout=60)
    lat = [done[n][0] - sent[n] for n in sent if n in done]
    lat_inv = [done[n][1] - sent[n] for n in sent if n in done and done[n][1] is not None]
    latency = {
        "rate_per_s": rate,
        "seconds": CONFIG["rate_seconds"],
        "orders": len(paced),
        "completed": len(lat),
        "p50_s": round(percentile(lat, 50), 3),
        "p99_s": round(percentile(lat, 99), 3),
        "max_s": round(max(lat), 3) if lat else None,
        "invoice_p50_s": round(percentile(lat_inv, 50), 3),
        "invoice_p99_s": round(percentile(lat_inv, 99), 3),
    }
    log(f"  {latency}")
    return {"throughput": throughput, "latency": latency}


# ---- The run -------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    pg = subprocess.run(
        ["psql", f"{PG}/postgres", "-Atc", "SHOW server_version"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg or "unknown",
    }


def main() -> None:
    wrk_bin = ensure_wrk()
    rundir = Path(tempfile.mkdtemp(prefix="yq-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "DJANGO_DEBUG": "0",
        "YQ_VAR_DIR": str(rundir),
        "YQ_PRIVATE_MEDIA_ROOT": str(rundir / "private"),
        "YQ_SMS_SANDBOX_OUTBOX": str(rundir / "sms-outbox.jsonl"),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    processes = Processes()
    # SIGTERM (e.g. from make being stopped) unwinds through the finally below, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"{'quick' if QUICK else 'full'} run; logs in {rundir}")
    started = time.monotonic()
    try:
        if "BENCH_REDIS_URL" not in os.environ:
            start_redis(processes, rundir)
        drop_database()
        admin_sql(f"CREATE DATABASE {DB_NAME}")
        results = run(wrk_bin, rundir, env, processes)
        results["elapsed_s"] = round(time.monotonic() - started)
        results["machine"] = machine()
        from bench.report import write

        (rundir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
        write(results, ROOT / "BENCHMARKS.md")
        log(f"BENCHMARKS.md written ({results['elapsed_s']} s)")
    finally:
        processes.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        drop_database()
        log(f"stopped everything, dropped {DB_NAME}")


def run(wrk_bin: str, rundir: Path, env: dict, processes: Processes) -> dict:
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.test import Client

    from bench import data
    from orders.models import WechatPayMerchant

    redis.Redis.from_url(REDIS_URL).flushdb()
    t0 = time.monotonic()
    call_command("migrate", verbosity=0)
    data.seed()
    log(f"migrated and seeded in {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    small = data.generate(0, CONFIG["small_enterprises"])
    fixtures = data.page_fixtures()
    data.analyze()
    log(f"small data ({small.orders} orders) and page fixtures in {time.monotonic() - t0:.1f} s")

    client = Client()
    client.force_login(fixtures.user)
    session = client.cookies["sessionid"].value

    def notify_body():
        return data.signed_notification(fixtures.paid_transaction, merchant=fixtures.merchant)

    floor = {"name": "floor（1 次查询）", "path": "/bench/floor/"}
    pages = [
        {"name": "首页", "path": "/", "session": session},
        {"name": "订单管理 第 1 页", "path": "/orders/", "session": session},
        {
            "name": "证书详情（50 名员工）",
            "path": f"/certificates/{fixtures.certificate.pk}/",
            "session": session,
        },
        {
            "name": "员工授权列表（50 名）",
            "path": f"/certificates/{fixtures.certificate.pk}/employees/",
            "session": session,
        },
        {
            "name": "申请填写（第 1 步）",
            "path": f"/orders/{fixtures.draft.number}/apply/",
            "session": session,
        },
        {
            # What the 签发中 page polls every 2 s (templates/orders/detail.html).
            "name": "状态轮询 fragment=status",
            "path": f"/orders/{fixtures.issuing.number}/?fragment=status&seen=issuing",
            "status": 204,  # still 签发中: htmx keeps the panel
            "session": session,
            "headers": {"HX-Request": "true"},
        },
        {
            "name": "微信支付通知（重复）",
            "path": f"/pay/wechat/notify/{fixtures.merchant.ca.code}/",
            "method": "POST",
            "make_body": notify_body,
        },
    ]
    order_list = pages[1]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    results: dict = {"config": CONFIG, "quick": QUICK, "date": today}
    # The page fixtures were just written: their stamps settle (yueqiqian/fragments.py) before
    # the pages are counted, as they have long before anyone looks at a page twice.
    from yueqiqian.fragments import SETTLE_SECONDS

    time.sleep(SETTLE_SECONDS + 1)
    results["queries_small"] = query_counts([floor, *pages])

    gunicorn = processes.start(
        [
            str(VENV_BIN / "gunicorn"), "yueqiqian.wsgi:application",
            "--workers", "2", "--bind", f"{HOST}:{PORT}",
            "--access-logfile", str(rundir / "access.log"),
        ],
        env=env,
        log_path=rundir / "gunicorn.log",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            http_request("GET", "/bench/floor/")
            break
        except OSError:
            if gunicorn.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {rundir}/gunicorn.log") from None
            time.sleep(0.2)
    for page in [floor, *pages]:
        check_page(page)
    log(f"growth: 订单管理 at {small.orders} orders")
    results["order_list_small"] = load(wrk_bin, order_list, rundir, CONFIG["duration"])

    t0 = time.monotonic()
    large = data.generate(CONFIG["small_enterprises"], CONFIG["enterprises"])
    data.analyze()
    gen_s = time.monotonic() - t0
    total = {
        "enterprises": small.enterprises + large.enterprises,
        "orders": small.orders + large.orders,
        "events": small.events + large.events,
    }
    log(f"generated to {total} in {gen_s:.1f} s")
    results["data"] = {**total, "small_orders": small.orders, "generate_large_s": round(gen_s, 1)}
    results["queries_large"] = query_counts([floor, *pages])

    log("pages (wrk -t2 -c32), each beside the floor")
    # The machine is shared: each page runs between floor runs of its own, and its ratio is
    # to them, so a neighbour's load shifts both sides alike.
    results["pages"] = {}
    for page in pages:
        results["pages"][page["name"]] = beside_floor(wrk_bin, page, floor, rundir)
    results["memory_gunicorn"] = memory(gunicorn)
    log("in-process cost per request (no HTTP, no load)")
    results["inprocess"] = inprocess_costs(floor, pages)
    log(f"  {results['inprocess']}")
    if os.environ.get("BENCH_PROFILE"):
        profile_pages([floor, *pages], rundir)

    # Issuance: the raw work first, on an idle machine, then the pipeline.
    count = CONFIG["burst"] + CONFIG["rate"] * CONFIG["rate_seconds"]
    orders = data.issuance_orders(count, first_index=50_000_000)
    from orders.models import Order

    orders = list(
        Order.objects.filter(pk__in=[o.pk for o in orders])
        .select_related("ca", "package")
        .order_by("pk")
    )
    # The raw work before and after the pipeline, its mean the figure: the machine's speed
    # drifts over a run, and one measurement before gave whichever moment was quieter the
    # better side of the ratio.
    log(f"raw issuance work, one process: {CONFIG['raw_iterations']} orders")
    raw_before = raw_issuance(orders[:20], CONFIG["raw_iterations"])
    log(f"  {raw_before}")

    from yueqiqian.celery import app

    app.control.purge()
    celery = processes.start(
        [
            str(VENV_BIN / "celery"), "-A", "yueqiqian", "worker", "--pool=prefork",
            "--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "-n", f"bench-{os.getpid()}@%h", "-Q", "celery,bulk",
        ],
        env=env,
        log_path=rundir / "celery.log",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1):
        if celery.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start; see {rundir}/celery.log")
    merchants = {m.ca_id: m for m in WechatPayMerchant.objects.select_related("ca")}
    results["issuance"] = issuance(orders, merchants, data)
    results["memory_celery"] = memory(celery)
    log(f"raw issuance work again: {CONFIG['raw_iterations']} orders")
    raw_after = raw_issuance(orders[:20], CONFIG["raw_iterations"])
    log(f"  {raw_after}")
    results["raw"] = _raw_mean(raw_before, raw_after)
    return results


def _raw_mean(*runs: dict) -> dict:
    per_order = sum(r["per_order_ms"] for r in runs) / len(runs)
    return {
        "iterations": sum(r["iterations"] for r in runs),
        "per_order_ms": round(per_order, 1),
        "per_second": round(1000 / per_order, 1),
        "parts_ms": {
            k: round(sum(r["parts_ms"][k] for r in runs) / len(runs), 1)
            for k in runs[0]["parts_ms"]
        },
        "runs_per_second": [r["per_second"] for r in runs],
    }


if __name__ == "__main__":
    main()
