"""A small fake of Stripe's v1 HTTP API, for the real ``stripe`` client pointed at it.

It speaks the subset the store uses, decodes Stripe's bracketed form encoding, replays answers per
``Idempotency-Key``, records every request so tests can assert on exactly what was sent, and can
answer 500s or hang to test faults. It also serves a checkout page: paying there builds the
events Stripe would send, signs them as Stripe does and posts them to the store's webhook.

It proves what the store sends and how it reacts, not what Stripe does (see the live suite).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TAX_RATE_PERCENT = 10


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends: t=<unix>,v1=HMAC-SHA256(secret, "t.payload")."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` -> {"a": {"b": [{"c": "v"}]}}, as Stripe reads its form bodies."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Fault:
    method: str
    path: str
    status: int = 500
    times: int = 1
    delay: float = 0.0
    should_retry: bool = False


@dataclass
class FakeStripe:
    webhook_url: str = ""
    webhook_secret: str = ""
    requests: list[Recorded] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.objects.clear()
            self.events.clear()
            self.faults.clear()
            self.idempotent.clear()
            self.webhook_url = ""
            self.webhook_secret = ""

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test helpers ---------------------------------------------------------------------------

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def fail(self, method: str, path: str, **kwargs: Any) -> None:
        self.faults.append(Fault(method=method, path=path, **kwargs))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    def add_account(self, account_id: str, *, ready: bool = True) -> dict[str, Any]:
        account = {
            "id": account_id,
            "object": "account",
            "type": "express",
            "charges_enabled": ready,
            "payouts_enabled": ready,
            "details_submitted": ready,
            "requirements": {"currently_due": [] if ready else ["external_account"]},
        }
        self.objects[account_id] = account
        return account

    def event(self, type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": created or int(time.time()),
            "livemode": False,
            "type": type_,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        return event

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """Pay session ``session_id`` as a customer would; the events Stripe then sends."""
        session = self.objects[session_id]
        price = self.objects[session["line_items"][0]["price"]]
        amount = int(price["unit_amount"])
        tax = amount * TAX_RATE_PERCENT // 100
        customer = session.get("customer") or self.new_id("cus")
        now = int(time.time())
        session.update(status="complete", customer=customer, amount_subtotal=amount)
        session["amount_total"] = amount + tax
        session["total_details"] = {"amount_tax": tax, "amount_discount": 0, "amount_shipping": 0}
        if session["mode"] == "payment":
            intent = self.new_id("pi")
            self._charge(intent, amount + tax)
            session.update(payment_status="paid", payment_intent=intent)
            return [self.event("checkout.session.completed", session)]
        data = session.get("subscription_data") or {}
        trial_days = int(data.get("trial_period_days") or 0)
        days = {"month": 30, "year": 365}[price["recurring"]["interval"]]
        subscription = {
            "id": self.new_id("sub"),
            "object": "subscription",
            "status": "trialing" if trial_days else "active",
            "customer": customer,
            "cancel_at_period_end": False,
            "metadata": data.get("metadata") or {},
            "trial_end": now + trial_days * 86400 if trial_days else None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self.new_id("si"),
                        "price": price,
                        "current_period_start": now,
                        "current_period_end": now + (trial_days or days) * 86400,
                    }
                ],
            },
        }
        self.objects[subscription["id"]] = subscription
        session.update(payment_status="paid" if not trial_days else "no_payment_required")
        session["subscription"] = subscription["id"]
        invoice = self.invoice(
            subscription, paid=0 if trial_days else amount + tax, tax=0 if trial_days else tax
        )
        return [
            self.event("checkout.session.completed", session),
            self.event("invoice.paid", invoice),
        ]

    def invoice(
        self,
        subscription: dict[str, Any],
        *,
        paid: int,
        tax: int,
        due: int | None = None,
        reason: str = "subscription_create",
        attempt: int = 0,
    ) -> dict[str, Any]:
        intent = self.new_id("pi") if paid else None
        if intent:
            self._charge(intent, paid)
        invoice_id = self.new_id("in")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "billing_reason": reason,
            "currency": subscription["items"]["data"][0]["price"]["currency"],
            "amount_due": paid if due is None else due,
            "amount_paid": paid,
            "attempt_count": attempt,
            "hosted_invoice_url": f"{self.url}/invoice/{invoice_id}",
            "total_taxes": [{"amount": tax, "tax_behavior": "exclusive"}] if tax else [],
            "created": int(time.time()),
            "customer": subscription["customer"],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": subscription["metadata"],
                },
            },
            "payments": {
                "object": "list",
                "data": [{"payment": {"type": "payment_intent", "payment_intent": intent}}] if intent else [],
            },
        }
        self.objects[invoice["id"]] = invoice
        return invoice

    def charge_for(self, intent: str) -> dict[str, Any]:
        return next(
            o for o in self.objects.values() if o.get("object") == "charge" and o["payment_intent"] == intent
        )

    def _charge(self, intent: str, amount: int) -> dict[str, Any]:
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "refunded": False,
            "payment_intent": intent,
            "currency": "usd",
        }
        self.objects[charge["id"]] = charge
        return charge

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Post ``events`` to the store's webhook, signed, as Stripe would."""
        for event in events:
            payload = json.dumps(event)
            request = urllib.request.Request(
                self.webhook_url,
                data=payload.encode(),
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                },
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

    # -- the HTTP side --------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        if path.startswith("/pay/"):
            self._pay_page(handler, method, path.removeprefix("/pay/"))
            return
        raw = parse_qsl(body if method == "POST" else parts.query, keep_blank_values=True)
        params = decode_form(raw)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            self.requests.append(Recorded(method, path, params, headers))
            fault = next(
                (f for f in self.faults if f.method == method and f.path == path and f.times > 0), None
            )
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            self._send(
                handler,
                fault.status,
                {"error": {"type": "api_error", "message": "Fake Stripe fault"}},
                {"Stripe-Should-Retry": "true" if fault.should_retry else "false"},
            )
            return
        key = headers.get("idempotency-key")
        if method == "POST" and key:
            with self.lock:
                replay = self.idempotent.get(key)
            if replay is not None:
                self._send(handler, replay[0], replay[1], {"Idempotent-Replayed": "true"})
                return
        with self.lock:
            status, answer = self._route(method, path, params)
            if method == "POST" and key:
                self.idempotent[key] = (status, answer)
        self._send(handler, status, answer)

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_{int(time.time() * 1000)}")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _missing(self, object_id: str) -> tuple[int, dict[str, Any]]:
        return 404, {"error": {"type": "invalid_request_error", "message": f"No such object: '{object_id}'"}}

    def _route(self, method: str, path: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        segments = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "POST" and segments == ["products"]:
            obj = {
                "id": self.new_id("prod"),
                "object": "product",
                "name": p["name"],
                "metadata": p.get("metadata", {}),
            }
        elif method == "POST" and segments[:1] == ["products"] and len(segments) == 2:
            obj = self.objects.get(segments[1])
            if obj is None:
                return self._missing(segments[1])
            obj.update(name=p.get("name", obj["name"]))
        elif method == "POST" and segments == ["prices"]:
            obj = {
                "id": self.new_id("price"),
                "object": "price",
                "product": p["product"],
                "unit_amount": int(p["unit_amount"]),
                "currency": p["currency"],
                "recurring": p.get("recurring"),
                "type": "recurring" if p.get("recurring") else "one_time",
                "metadata": p.get("metadata", {}),
            }
        elif method == "POST" and segments == ["checkout", "sessions"]:
            for line in p.get("line_items", []):
                if line["price"] not in self.objects:
                    return self._missing(line["price"])
            obj = {"id": self.new_id("cs"), "object": "checkout.session", "status": "open", **p}
            obj["url"] = f"{self.url}/pay/{obj['id']}"
            obj["payment_status"] = "unpaid"
        elif method == "GET" and segments[:2] == ["checkout", "sessions"] and len(segments) == 3:
            obj = self.objects.get(segments[2])
            return (200, obj) if obj else self._missing(segments[2])
        elif segments[:1] == ["subscriptions"] and len(segments) == 2:
            obj = self.objects.get(segments[1])
            if obj is None:
                return self._missing(segments[1])
            if method == "POST" and "cancel_at_period_end" in p:
                obj["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
            elif method == "DELETE":
                obj["status"] = "canceled"
            return 200, obj
        elif method == "POST" and segments == ["refunds"]:
            charge = self.charge_for(p["payment_intent"])
            amount = int(p.get("amount") or charge["amount"] - charge["amount_refunded"])
            obj = {
                "id": self.new_id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "payment_intent": p["payment_intent"],
                "status": "succeeded",
                "metadata": p.get("metadata", {}),
                "created": int(time.time()),
            }
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        elif method == "GET" and segments == ["refunds"]:
            data = [
                o
                for o in self.objects.values()
                if o.get("object") == "refund" and o["charge"] == p.get("charge")
            ]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
        elif method == "POST" and segments == ["accounts"]:
            obj = self.add_account(self.new_id("acct"), ready=False)
            obj.update(email=p.get("email"), metadata=p.get("metadata", {}))
        elif method == "GET" and segments[:1] == ["accounts"] and len(segments) == 2:
            obj = self.objects.get(segments[1])
            return (200, obj) if obj else self._missing(segments[1])
        elif method == "POST" and segments == ["account_links"]:
            return 200, {
                "object": "account_link",
                "url": f"{self.url}/onboarding/{p['account']}",
                "expires_at": 0,
            }
        elif method == "POST" and segments == ["billing_portal", "sessions"]:
            return 200, {
                "id": self.new_id("bps"),
                "object": "billing_portal.session",
                "url": f"{self.url}/portal/{p['customer']}",
            }
        elif method == "GET" and segments == ["events"]:
            after = int((p.get("created") or {}).get("gt") or 0)
            data = [e for e in reversed(self.events) if e["created"] > after]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/events"}
        else:
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({method}: {path}).",
                }
            }
        self.objects[obj["id"]] = obj
        return 200, obj

    def _pay_page(self, handler: BaseHTTPRequestHandler, method: str, session_id: str) -> None:
        session = self.objects.get(session_id)
        if session is None:
            self._send(handler, 404, {"error": "no such session"})
            return
        if method == "GET":
            html = (
                "<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>"
                f"<p id=amount>{session['line_items'][0]['price']}</p>"
                f"<form method=post action='/pay/{session_id}'><button id=pay type=submit>Pay</button></form>"
                f"<a id=back href='{session['cancel_url']}'>Back</a>"
            ).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(html)))
            handler.end_headers()
            handler.wfile.write(html)
            return
        with self.lock:
            events = self.complete_checkout(session_id)
        self.deliver(events)
        handler.send_response(303)
        handler.send_header("Location", session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
        handler.send_header("Content-Length", "0")
        handler.end_headers()
