"""Recompute the order-event hash chain and report edited, deleted, inserted or reordered rows.

Exit code 0 when the chain holds, 1 when it does not. Keep the printed head hash somewhere the
application cannot write (a ticket, a log shipper) and pass it back with --expect-head: that is
what catches the newest events being removed.
"""

from django.core.management.base import BaseCommand, CommandError

from orders.audit import chain_verify


class Command(BaseCommand):
    help = "校验订单事件哈希链（被修改、删除、插入或调换顺序的事件）"

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head", default=None, help="a head hash printed by an earlier run"
        )

    def handle(self, *args, expect_head=None, **options):
        report = chain_verify(expect_head=expect_head)
        for finding in report.findings:
            self.stderr.write(str(finding))
        summary = f"{report.checked} events checked; head {report.head}"
        if not report.ok:
            raise CommandError(
                f"audit chain broken: {len(report.findings)} finding(s); {summary}", returncode=1
            )
        self.stdout.write(f"audit chain OK: {summary}")
