"""The sandbox provider's pay page: where a human plays the customer's bank or wallet.

Kept apart from server.py so that the simulation reads without markup in the way.
No bearer token here: the page stands in for the customer's own bank. Everything shown is
escaped, since references and URLs arrive from API callers.
"""

from __future__ import annotations

from html import escape
from string import Template
from typing import TYPE_CHECKING, Final, Protocol

from aiohttp import web

from payments.qris import render_png

if TYPE_CHECKING:
    from payments.gateways.sandbox.records import SandboxPayment

_PAGE: Final = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox payment $reference</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
dd{margin:0 0 .6rem}code{font-size:1.2rem}form{display:inline}button{font-size:1.1rem;
padding:.5rem 1.5rem;margin-right:.5rem}</style></head>
<body><h1>Sandbox payment</h1>
<p>A simulated gateway: no real money moves.</p>
<dl><dt>Amount</dt><dd><strong>$amount</strong></dd><dt>Method</dt><dd>$method</dd>
<dt>Reference</dt><dd>$reference</dd><dt>Status</dt><dd id="status">$status</dd></dl>
$details
$actions
</body></html>
""")

_BUTTONS: Final = Template("""<form method="post" action="$action">
<input type="hidden" name="outcome" value="pay"><button type="submit">Pay</button></form>
<form method="post" action="$action">
<input type="hidden" name="outcome" value="fail"><button type="submit">Fail</button></form>""")


class Provider(Protocol):
    """What the page needs of the simulated provider (server.py), without importing it."""

    def find(self, reference: str) -> SandboxPayment | None: ...
    def act(self, payment: SandboxPayment, action: str) -> object: ...


def page_routes(provider: Provider, prefix: str) -> list[web.RouteDef]:
    """GET and POST {prefix}/pay/{reference}, and the QR image {prefix}/qr/{reference}.png."""
    page = _PayPage(provider, prefix)
    return [
        web.get(prefix + "/pay/{reference}", page.show),
        web.post(prefix + "/pay/{reference}", page.submit),
        web.get(prefix + "/qr/{reference}.png", page.qr_image),
    ]


class _PayPage:
    def __init__(self, provider: Provider, prefix: str) -> None:
        self._provider = provider
        self._prefix = prefix

    async def show(self, request: web.Request) -> web.Response:
        html = render_page(self._find(request), self._prefix)
        return web.Response(text=html, content_type="text/html")

    async def submit(self, request: web.Request) -> web.Response:
        payment = self._find(request)
        try:
            outcome = (await request.post()).get("outcome")
        except ValueError:  # a form that is not one (bad bytes, bad encoding)
            outcome = None
        if outcome not in ("pay", "fail"):
            raise web.HTTPBadRequest(text="outcome must be pay or fail")
        self._provider.act(payment, str(outcome))
        raise web.HTTPSeeOther(request.path)  # show the result; a reload does not post again

    async def qr_image(self, request: web.Request) -> web.Response:
        qr_string = self._find(request).instructions.get("qr_string")
        if qr_string is None:
            raise web.HTTPNotFound(text="not a QRIS payment")
        return web.Response(body=render_png(qr_string), content_type="image/png")

    def _find(self, request: web.Request) -> SandboxPayment:
        payment = self._provider.find(request.match_info["reference"])
        if payment is None:
            raise web.HTTPNotFound(text="no payment with this reference")
        return payment


def render_page(payment: SandboxPayment, prefix: str) -> str:
    """The page for one payment: what to pay, and while it is pending, Pay and Fail buttons."""
    return _PAGE.substitute(
        reference=escape(payment.reference),
        amount=escape(f"{payment.currency} {payment.amount:,}"),
        method=escape(payment.method),
        status=escape(payment.status),
        details=_details(payment, prefix),
        actions=_actions(payment, prefix),
    )


def _details(payment: SandboxPayment, prefix: str) -> str:
    info = payment.instructions
    if "va_number" in info:
        bank = escape(info["bank"].upper())
        return (
            f"<p>Transfer to {bank} virtual account <code>{escape(info['va_number'])}</code></p>"
        )
    if "qr_string" in info:
        src = escape(f"{prefix}/qr/{payment.reference}.png")
        return f'<p>Scan with any QRIS app:</p><img src="{src}" alt="QRIS code" width="256">'
    if "phone" in info:
        return f"<p>A payment prompt was pushed to {escape(info['phone'])}.</p>"
    return ""


def _actions(payment: SandboxPayment, prefix: str) -> str:
    if payment.status == "PENDING":
        return _BUTTONS.substitute(action=escape(f"{prefix}/pay/{payment.reference}"))
    back = payment.return_url
    link = f' <a href="{escape(back)}">Back to the shop</a>' if back else ""
    return f"<p>This payment is {escape(payment.status)}.{link}</p>"
