"""`manage.py order_history_pdf <number> > history.pdf`: one order's event history as a PDF,
each event with its hash, and whether the whole audit chain verifies at the time of printing."""

import sys

from django.core.management.base import BaseCommand, CommandError

from orders.audit import chain_verify, history_pdf
from orders.models import Order


class Command(BaseCommand):
    help = "导出订单历史 PDF（写到标准输出，或 --output 指定的文件）"

    def add_arguments(self, parser):
        parser.add_argument("number", help="订单号, e.g. YQ2026112712345678")
        parser.add_argument("--output", "-o", default=None, help="file to write instead of stdout")

    def handle(self, *args, number, output=None, **options):
        order = Order.objects.filter(number=number).first()
        if order is None:
            raise CommandError(f"no order {number}")
        pdf = history_pdf(order=order, report=chain_verify())
        if output:
            with open(output, "wb") as f:
                f.write(pdf)
        else:
            sys.stdout.buffer.write(pdf)
            sys.stdout.buffer.flush()
