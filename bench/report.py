"""BENCHMARKS.md from a run's results, followed by the hand-written analysis (bench/ANALYSIS.md)."""

from pathlib import Path

ANALYSIS = Path(__file__).with_name("ANALYSIS.md")
PAGE_TARGET = 0.50
ISSUANCE_TARGET = 0.60
LATENCY_TARGET_S = 2.0


def _met(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def write(results: dict, path: Path) -> None:
    m = results["machine"]
    d = results["data"]
    floors = [r["floor"]["rps"] for r in results["pages"].values()]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py; `BENCH_QUICK=1 make bench` for a smaller, shorter",
        "run). Edit bench/ANALYSIS.md, not the figures: the next run rewrites this file.",
        "",
        f"- **Run**: {results['date']}, {'QUICK' if results['quick'] else 'full'} run, "
        f"{results['elapsed_s']} s in all.",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux "
        f"{m['kernel']}; Python {m['python']}, PostgreSQL {m['postgresql']}, a private "
        "redis-server started by the run on 127.0.0.1. wrk runs on the same box (it takes "
        "part of the 2 cores, as in BASELINES.md).",
        f"- **Data** (database `yq_bench`, made and dropped by the run): {d['enterprises']:,} "
        f"enterprises (an applicant and a valid certificate each), {d['orders']:,} orders, "
        f"{d['events']:,} order events, generated in {d['generate_large_s']} s with bulk_create; "
        "the pages' user has 实名认证, 60+ orders (a draft, one 签发中, a paid one) and a "
        "certificate issued for real with 50 employees on 50 seats.",
        "- **Serving**: gunicorn `yueqiqian.wsgi`, 2 sync workers, access log on, persistent "
        "connections (CONN_MAX_AGE 60), DEBUG off, settings `bench.settings` (base settings + "
        "the floor view's urlconf). Load: `wrk -t2 -c32 --latency`, "
        f"{results['config']['warmup']} s warm-up then {results['config']['duration']} s per "
        "page and as long for its floor (two runs each), logged-in pages with the session "
        "cookie in `-H`.",
        "",
        "## Targets",
        "",
        "| target | result | |",
        "|---|---|---|",
    ]
    for name, r in results["pages"].items():
        ratio = r["rps"] / r["floor"]["rps"]
        lines.append(f"| {name} ≥ 50% of floor | {ratio:.0%} | {_met(ratio >= PAGE_TARGET)} |")
    raw = results["raw"]["per_second"]
    tp = results["issuance"]["throughput"]
    lat = results["issuance"]["latency"]
    ratio = tp["with_invoice_per_s"] / raw if raw else 0
    lines.append(
        f"| issuance ≥ 60% of raw | {tp['with_invoice_per_s']}/s vs {raw}/s = {ratio:.0%} | "
        f"{_met(ratio >= ISSUANCE_TARGET)} |"
    )
    all_done = lat["completed"] == lat["orders"]
    lines.append(
        f"| notification → 已完成 p99 < 2 s at {lat['rate_per_s']}/s | p99 {lat['p99_s']} s "
        f"({lat['completed']}/{lat['orders']} completed) | "
        f"{_met(all_done and lat['p99_s'] < LATENCY_TARGET_S)} |"
    )
    lines += [
        "",
        "## 1. Pages beside the one-query floor (same gunicorn, same run)",
        "",
        "The floor is `bench/floor/` (bench/urls.py): one query of 20 order rows and a small "
        "template through the full middleware stack, no session. The machine is shared with "
        "other work, so each page ran between floor runs of its own — floor, page, page, floor, "
        "half the duration each, a drifting load weighs on both sides alike — and its ratio is "
        f"to those (floor: {min(floors):.0f}–{max(floors):.0f} req/s).",
        "",
        "| page | req/s | its floor req/s | ratio | p50 ms | p99 ms | floor p99 ms | queries "
        "| non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["pages"].items():
        f = r["floor"]
        lines.append(
            f"| {name} | {r['rps']:.0f} | {f['rps']:.0f} | {r['rps'] / f['rps']:.0%} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {f['p99_ms']:.1f} | "
            f"{results['queries_large'].get(name, '?')} | {r['non_2xx'] + f['non_2xx']} |"
        )
    raw_r = results["raw"]
    lines += [
        "",
        "## 2. Issuance: paid → 已完成 (certificate, seals) → invoice",
        "",
        f"**Raw** (one process, no database, no Celery; the pure functions "
        "`build_enterprise_certificate`, `draw_official_seal` + `draw_legal_rep_seal`, "
        f"`render_invoice_pdf`): {raw_r['per_order_ms']} ms per order = **{raw}/s** on one core "
        f"(certificate {raw_r['parts_ms']['certificate']} ms, seals {raw_r['parts_ms']['seals']}"
        f" ms, invoice {raw_r['parts_ms']['invoice']} ms; {raw_r['iterations']} orders"
        + (
            f", half before the pipeline and half after it: "
            f"{' and '.join(f'{r}/s' for r in raw_r['runs_per_second'])}, the mean per order "
            "is the figure"
            if raw_r.get("runs_per_second")
            else ""
        )
        + ").",
        "",
        f"**Pipeline** (gunicorn takes the signed notification → Payment, 签发中, "
        "`certificate_issue` queued on commit → 2 Celery worker processes: certificate, seals, "
        "已完成, then `invoice_render` and the SMS as their own tasks): "
        f"{tp['orders']} notifications posted at once (posting took {tp['posting_s']} s).",
        "",
        "| | orders/s | ratio to raw |",
        "|---|---:|---:|",
        f"| paid → 已完成 | {tp['completed_per_s']} | {tp['completed_per_s'] / raw:.0%} |",
        f"| paid → 已完成 and invoice rendered | {tp['with_invoice_per_s']} | {ratio:.0%} |",
        "",
        f"**Latency at a steady {lat['rate_per_s']} notifications/s for {lat['seconds']} s** "
        "(from the notify POST leaving the client to the order's `updated_at` at 已完成): "
        f"p50 **{lat['p50_s']} s**, p99 **{lat['p99_s']} s**, max {lat['max_s']} s; "
        f"{lat['completed']}/{lat['orders']} completed. To the invoice row: p50 "
        f"{lat['invoice_p50_s']} s, p99 {lat['invoice_p99_s']} s.",
        "",
        "## 3. Growth",
        "",
        f"Queries per request (in-process, Django test client + CaptureQueriesContext) at "
        f"{d['small_orders']:,} and at {d['orders']:,} orders:",
        "",
        "| page | queries @ small | queries @ large |",
        "|---|---:|---:|",
    ]
    for name, n in results["queries_small"].items():
        lines.append(f"| {name} | {n} | {results['queries_large'].get(name, '?')} |")
    if results.get("inprocess"):
        lines += [
            "",
            "Cost per request in one process (Django test client: no HTTP, no load), each page "
            "interleaved with the floor; `（行缓存未命中）` is 订单管理 with its rendered-rows "
            "cache bypassed, i.e. the first view after an order changed:",
            "",
            "| page | ms per request | floor ms | ratio |",
            "|---|---:|---:|---:|",
        ]
        for name, c in results["inprocess"].items():
            lines.append(
                f"| {name} | {c['ms']:.2f} | {c['floor_ms']:.2f} | {c['floor_ms'] / c['ms']:.0%} |"
            )
    small, large = results["order_list_small"], results["pages"]["订单管理 第 1 页"]
    gm, cm = results["memory_gunicorn"], results["memory_celery"]
    lines += [
        "",
        "订单管理 first page under the same load:",
        "",
        "| orders in the database | req/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|",
        f"| {d['small_orders']:,} | {small['rps']:.0f} | {small['p50_ms']:.1f} | "
        f"{small['p99_ms']:.1f} |",
        f"| {d['orders']:,} | {large['rps']:.0f} | {large['p50_ms']:.1f} | {large['p99_ms']:.1f} |",
        "",
        "Memory (RSS from /proc, after the load):",
        "",
        f"- gunicorn: master {gm['master_mb']} MB, workers "
        + ", ".join(f"{w} MB" for w in gm["workers_mb"]),
        f"- celery: main process {cm['master_mb']} MB, pool workers "
        + ", ".join(f"{w} MB" for w in cm["workers_mb"]),
        "",
    ]
    text = "\n".join(lines)
    if ANALYSIS.exists():
        text += "\n" + ANALYSIS.read_text()
    path.write_text(text)


if __name__ == "__main__":
    # Re-render from a run's results.json (e.g. after editing bench/ANALYSIS.md).
    import json
    import sys

    write(json.loads(Path(sys.argv[1]).read_text()), Path(__file__).parents[1] / "BENCHMARKS.md")
