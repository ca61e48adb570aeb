from django import forms


class InvoiceEmailForm(forms.Form):
    """发送至邮箱 under 【下载发票】: the address the invoice PDF goes to."""

    email = forms.EmailField(
        label="发送至邮箱",
        max_length=254,
        error_messages={"required": "请输入邮箱地址", "invalid": "请输入有效的邮箱地址"},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "接收发票的邮箱"}),
    )
