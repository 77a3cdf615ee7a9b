"""Boulder's behaviours in front of Pebble: a small HTTPS proxy on loopback.

Pebble does not enforce several things Let's Encrypt's Boulder does (read
letsencrypt/boulder wfe2/wfe.go and web/probs.go). This proxy sits between the
client and Pebble and adds them on request, so tests exercise them for real:

    from harness.pebble import Pebble, ChallTestSrv
    from harness.boulder_proxy import BoulderProxy
    with ChallTestSrv().start() as dns, Pebble() as ca:
        ca.start(dns.dns_port)
        with BoulderProxy(ca.directory, ca.ca_bundle).start() as proxy:
            proxy.directory          # https://127.0.0.1:PORT/dir  (give this to the client)
            proxy.ca_bundle          # the proxy's own throwaway TLS root
            proxy.set_rules(faults=[{"kind": "newOrder", "status": 503, "count": 1}])
            proxy.counts()["newAccount"]

Run as a program (the C++ fixture tests/acme/pebble_fixture.hpp does):

    python3 boulder_proxy.py --upstream https://127.0.0.1:P/dir --upstream-ca ca.pem --state DIR/state.json

it writes {"port": N, "ca_bundle": "..."} to the state file once listening and
serves until SIGTERM. The same rules are set over HTTPS on the proxy itself:
POST /_proxy/rules (JSON, replaces every rule and starts the counts and the
log afresh), GET /_proxy/counts, GET /_proxy/log.

Rules (all off by default except the replaces check, which is Boulder's rule):
  replaces_owner_check  403 urn:ietf:params:acme:error:unauthorized to a
                        newOrder whose `replaces` (RFC 9773 section 5) names a
                        certificate this proxy saw downloaded by another account
                        (Boulder orderMatchesReplacement).
  retry_after_on_500    seconds; added as Retry-After to every 500 answer
                        (Boulder's web/send_error.go does this with 60).
  faults                list of {"kind", "count", and either "action": "drop"
                        (forward the request, then close the connection with no
                        answer: a lost response) or "status", "type", "detail",
                        "retry_after" (answer this problem instead of forwarding;
                        no Retry-After header when retry_after is absent)}.
  hold_processing       {"count": n, "retry_after": s}: the next n order bodies
                        (finalize answers, order fetches) that say "processing"
                        or "valid" are turned into "processing" without a
                        certificate URL, with Retry-After: s (Boulder's
                        asynchronous finalize).
  new_orders_per_account
                        {"limit": n, "window": s (default 10800), "retry_after":
                        s (default: until the oldest counted order leaves the
                        window)}: Boulder's NewOrdersPerAccount limit (Let's
                        Encrypt: 300 per 3 hours) with a small n. A newOrder
                        past n in the window is answered 429
                        urn:ietf:params:acme:error:rateLimited with Retry-After;
                        a newOrder carrying `replaces` (RFC 9773 section 5, an
                        ARI renewal) is exempt, as Boulder exempts renewals
                        inside the suggested window. counts() adds
                        "newOrderLimited" (answered rateLimited).

Request kinds (Pebble 2.4 paths): directory, newNonce, newAccount, account,
newOrder, order, authz, challenge, finalize, certificate, alternateChain,
revokeCert, keyChange, renewalInfo, other. counts() also has
"accountCreated" (newAccount answered 201).

Pebble builds every URL from the request's Host header, so the proxy forwards
its own host:port as Host; it also rewrites Pebble's own base URL in headers
and bodies, should anything carry it. Binds 127.0.0.1 on a free port.
"""

import argparse
import base64
import binascii
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.pebble import OPENSSL, make_tls_cert  # noqa: E402

ACME_ERROR = "urn:ietf:params:acme:error:"

_KINDS = [
    (re.compile(r"^/dir$"), "directory"),
    (re.compile(r"^/nonce-plz"), "newNonce"),
    (re.compile(r"^/sign-me-up"), "newAccount"),
    (re.compile(r"^/my-account/"), "account"),
    (re.compile(r"^/order-plz"), "newOrder"),
    (re.compile(r"^/my-order/"), "order"),
    (re.compile(r"^/authZ/"), "authz"),
    (re.compile(r"^/chalZ/"), "challenge"),
    (re.compile(r"^/finalize-order/"), "finalize"),
    (re.compile(r"^/certZ/[^/]+/alternate/\d+$"), "alternateChain"),
    (re.compile(r"^/certZ/"), "certificate"),
    (re.compile(r"^/revoke-cert"), "revokeCert"),
    (re.compile(r"^/rollover-account-key"), "keyChange"),
    (re.compile(r"renewalInfo"), "renewalInfo"),
]


def kind_of(path):
    path = urllib.parse.urlsplit(path).path
    for pattern, kind in _KINDS:
        if pattern.search(path):
            return kind
    return "other"


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_jws(body):
    """(protected header dict, payload dict or None) of a flattened JWS, or ({}, None)."""
    try:
        jws = json.loads(body)
        protected = json.loads(_b64url_decode(jws["protected"]))
        payload = jws.get("payload", "")
        return protected, (json.loads(_b64url_decode(payload)) if payload else None)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return {}, None


def serial_of_replaces(replaces):
    """RFC 9773 section 4.1 CertID "base64url(AKI).base64url(serial)" -> serial as lowercase hex."""
    try:
        serial = _b64url_decode(replaces.split(".")[1])
    except (IndexError, ValueError, binascii.Error):
        return None
    return "%x" % int.from_bytes(serial, "big")


def serial_of_pem(pem):
    """Serial (lowercase hex) of the first certificate of a PEM chain, or None.
    The openssl CLI reads the first PEM block, as make_tls_cert() uses it."""
    out = subprocess.run([OPENSSL, "x509", "-noout", "-serial"], input=pem.encode(), capture_output=True)
    text = out.stdout.decode(errors="replace").strip()
    if out.returncode != 0 or not text.startswith("serial="):
        return None
    return "%x" % int(text[len("serial="):], 16)


class _Rules:
    def __init__(self):
        self.lock = threading.Lock()
        self.replace({})
        self.counts = {}
        self.log = []
        self.owners = {}  # certificate serial hex -> account URL (kid) that downloaded it

    def replace(self, rules):
        with self.lock:
            self.replaces_owner_check = rules.get("replaces_owner_check", True)
            self.retry_after_on_500 = rules.get("retry_after_on_500")
            self.faults = [dict(f) for f in rules.get("faults", [])]
            self.hold = dict(rules.get("hold_processing") or {})
            self.new_orders = dict(rules.get("new_orders_per_account") or {})
            self.order_times = {}  # account URL (kid) -> monotonic times of counted newOrders

    def clear_counts(self):
        with self.lock:
            self.counts = {}
            self.log = []

    def take_fault(self, kind):
        with self.lock:
            for fault in self.faults:
                if fault.get("kind") == kind and fault.get("count", 1) > 0:
                    fault["count"] = fault.get("count", 1) - 1
                    return dict(fault)
        return None

    def take_hold(self):
        with self.lock:
            if self.hold.get("count", 0) > 0:
                self.hold["count"] -= 1
                return self.hold.get("retry_after")
        return None

    def record(self, kind, status):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind == "newAccount" and status == 201:
                self.counts["accountCreated"] = self.counts.get("accountCreated", 0) + 1
            self.log.append({"kind": kind, "status": status, "t": time.monotonic()})


def _problem(status, type_, detail, retry_after=None):
    body = json.dumps({"type": ACME_ERROR + type_, "detail": detail, "status": status}).encode()
    headers = [("Content-Type", "application/problem+json")]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    return status, headers, body


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "boulder-proxy"

    def log_message(self, fmt, *args):  # quiet; the request log is in rules.log
        pass

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_proxy/"):
            return self._control(body)
        proxy = self.server.proxy
        kind = kind_of(self.path)
        fault = proxy.rules.take_fault(kind)
        if fault and fault.get("action") != "drop":
            answer = _problem(fault.get("status", 500), fault.get("type", "serverInternal"),
                              fault.get("detail", "injected by the test proxy"), fault.get("retry_after"))
        else:
            answer = self._boulder_checks(kind, body) or self._forward(kind, body)
        status, headers, out = answer
        if status == 500 and proxy.rules.retry_after_on_500 is not None and \
                not any(h.lower() == "retry-after" for h, _ in headers):
            headers.append(("Retry-After", str(proxy.rules.retry_after_on_500)))
        proxy.rules.record(kind, 0 if fault and fault.get("action") == "drop" else status)
        if fault and fault.get("action") == "drop":
            self.close_connection = True  # the request reached Pebble; the answer is lost
            return
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _boulder_checks(self, kind, body):
        rules = self.server.proxy.rules
        limited = self._new_orders_limit(kind, body)
        if limited:
            return limited
        if kind != "newOrder" or not rules.replaces_owner_check:
            return None
        protected, payload = parse_jws(body)
        replaces = (payload or {}).get("replaces")
        if not replaces:
            return None
        owner = rules.owners.get(serial_of_replaces(replaces) or "")
        if owner is not None and owner != protected.get("kid"):
            # Boulder wfe2 orderMatchesReplacement: berrors.UnauthorizedError -> 403.
            return _problem(403, "unauthorized",
                            "requester account did not request the certificate being replaced by this order")
        return None

    def _new_orders_limit(self, kind, body):
        """Boulder's NewOrdersPerAccount (ratelimits: a bucket per account) as a
        sliding window: the rateLimited answer when this newOrder is one too many."""
        rules = self.server.proxy.rules
        if kind != "newOrder" or not rules.new_orders.get("limit"):
            return None
        protected, payload = parse_jws(body)
        if (payload or {}).get("replaces"):
            return None
        limit = rules.new_orders["limit"]
        window = rules.new_orders.get("window", 10800)
        now = time.monotonic()
        with rules.lock:
            times = [t for t in rules.order_times.get(protected.get("kid"), []) if now - t < window]
            if len(times) < limit:
                rules.order_times[protected.get("kid")] = times + [now]
                return None
            rules.counts["newOrderLimited"] = rules.counts.get("newOrderLimited", 0) + 1
        retry_after = rules.new_orders.get("retry_after", int(window - (now - times[0])) + 1)
        return _problem(429, "rateLimited",
                        "too many new orders (%d) from this account in the last %d s, retry after %d s" %
                        (limit, window, retry_after), retry_after)

    def _forward(self, kind, body):
        proxy = self.server.proxy
        conn = http.client.HTTPSConnection(proxy.upstream_host, proxy.upstream_port,
                                           context=proxy.upstream_ctx, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection")}
            headers["Host"] = "127.0.0.1:%d" % proxy.port
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            out = response.read()
            status = response.status
            pairs = [(k, proxy.rewrite(v)) for k, v in response.getheaders()
                     if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        finally:
            conn.close()
        out = proxy.rewrite_bytes(out)
        if kind in ("certificate", "alternateChain") and status == 200:
            serial = serial_of_pem(out.decode(errors="replace"))
            kid = parse_jws(body)[0].get("kid")
            if serial and kid:
                with proxy.rules.lock:
                    proxy.rules.owners.setdefault(serial, kid)
        if kind in ("finalize", "order") and status == 200:
            status, pairs, out = self._hold(status, pairs, out)
        return status, pairs, out

    def _hold(self, status, pairs, out):
        try:
            doc = json.loads(out)
        except ValueError:
            return status, pairs, out
        if doc.get("status") not in ("processing", "valid"):
            return status, pairs, out
        retry_after = self.server.proxy.rules.take_hold()
        if retry_after is None:
            return status, pairs, out
        doc["status"] = "processing"
        doc.pop("certificate", None)
        pairs = [(k, v) for k, v in pairs if k.lower() != "retry-after"] + [("Retry-After", str(retry_after))]
        return status, pairs, json.dumps(doc).encode()

    def _control(self, body):
        rules = self.server.proxy.rules
        if self.command == "POST" and self.path == "/_proxy/rules":
            rules.replace(json.loads(body or b"{}"))
            rules.clear_counts()
            out = b"{}"
        elif self.path == "/_proxy/counts":
            with rules.lock:
                out = json.dumps(rules.counts).encode()
        elif self.path == "/_proxy/log":
            with rules.lock:
                out = json.dumps(rules.log).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class BoulderProxy:
    def __init__(self, upstream_directory, upstream_ca, workdir=None):
        parts = urllib.parse.urlsplit(upstream_directory)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.upstream_base = "%s://%s" % (parts.scheme, parts.netloc)
        self.upstream_ctx = ssl.create_default_context(cafile=upstream_ca)
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="boulder-proxy-")
        self.rules = _Rules()
        self.port = None
        self.ca_bundle = None
        self._server = self._thread = None

    def start(self):
        self.ca_bundle, cert, key = make_tls_cert(self.workdir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=True)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def base(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def directory(self):
        return self.base + "/dir"

    def rewrite(self, text):
        return text.replace(self.upstream_base, self.base)

    def rewrite_bytes(self, data):
        return data.replace(self.upstream_base.encode(), self.base.encode())

    def set_rules(self, **rules):
        """Replaces every rule and starts counts() and log() afresh."""
        self.rules.replace(rules)
        self.rules.clear_counts()

    def counts(self):
        with self.rules.lock:
            return dict(self.rules.counts)

    def log(self):
        with self.rules.lock:
            return list(self.rules.log)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="Pebble's directory URL")
    parser.add_argument("--upstream-ca", required=True, help="the CA bundle that trusts Pebble's TLS certificate")
    parser.add_argument("--state", required=True, help="file written with {port, ca_bundle} once listening")
    args = parser.parse_args()
    workdir = os.path.dirname(os.path.abspath(args.state))
    proxy = BoulderProxy(args.upstream, args.upstream_ca, workdir=workdir).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tmp = args.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"port": proxy.port, "ca_bundle": proxy.ca_bundle}, f)
    os.rename(tmp, args.state)
    stop.wait()
    proxy.stop()


if __name__ == "__main__":
    main()
