from django.db import models


class Invoice(models.Model):
    """The invoice PDF of a paid order, rendered by a worker (invoices.tasks.invoice_render)."""

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="invoice", verbose_name="订单"
    )
    number = models.CharField("发票号码", max_length=32, unique=True)
    title = models.CharField("发票抬头", max_length=100)
    tax_id = models.CharField("纳税人识别号", max_length=20)
    remark = models.CharField("备注", max_length=200, blank=True)
    amount_fen = models.PositiveBigIntegerField("金额（分）")
    pdf = models.FileField("发票文件", upload_to="invoices/%Y/%m/")
    issued_at = models.DateTimeField("开具时间", auto_now_add=True)

    class Meta:
        verbose_name = "发票"
        verbose_name_plural = "发票"

    def __str__(self) -> str:
        return self.number
