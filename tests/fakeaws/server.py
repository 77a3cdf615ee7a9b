#!/usr/bin/python3
"""fakeaws: a local AWS-compatible service for the tests (entry point).

  /usr/bin/python3 tests/fakeaws/server.py --host 127.0.0.1 --http-port 0 \
      --dns-port 0 --ready-file PATH [--credentials AKID:SECRET ...] \
      [--state FILE] [--change-delay SECONDS] [--region us-east-1]

One HTTP port serves every service; this file parses requests, decides the
service and action, checks SigV4, applies deny rules and faults, calls the
service module and logs the call.  See README.md.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True   # keep the source tree clean when run by any test
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import autoscaling  # noqa: E402
import control  # noqa: E402
import dynamodb  # noqa: E402
import ec2  # noqa: E402
import ecs  # noqa: E402
import faults  # noqa: E402
import metadata  # noqa: E402
import route53  # noqa: E402
import secretsmanager  # noqa: E402
import sigv4check  # noqa: E402
import sts  # noqa: E402
import validate  # noqa: E402
from dnsserver import DnsServers  # noqa: E402
from protocols import (PROTOCOL, QUERY_VERSION, AwsError, DropConnection,  # noqa: E402
                       json_headers, query_response, render_error)
from state import ACCOUNT, Store  # noqa: E402

JSON_TARGETS = {"secretsmanager": "secretsmanager",
                "AmazonEC2ContainerServiceV20141113": "ecs",
                dynamodb.TARGET: "dynamodb"}
QUERY_HANDLERS = {"ec2": ec2.handle, "autoscaling": autoscaling.handle, "sts": sts.handle}
JSON_HANDLERS = {"secretsmanager": secretsmanager.handle, "ecs": ecs.handle,
                 "dynamodb": dynamodb.handle}
REDACT = {"SecretString", "SecretBinary", "WebIdentityToken", "Item", "RequestItems"}


class Call:
    """One AWS request as the service modules see it."""

    def __init__(self, method, raw_path, headers, body):
        self.method = method
        self.raw_path = raw_path
        self.path, _, self.raw_query = raw_path.partition("?")
        self.headers = headers                       # [(name, value)]
        self.hmap = {}
        for k, v in headers:
            self.hmap.setdefault(k.lower(), v)
        self.body = body
        self.query = {k: v[0] for k, v in
                      urllib.parse.parse_qs(self.raw_query, keep_blank_values=True).items()}
        self.params = {}
        self.json = None
        self.service = None
        self.action = None
        self.args = {}
        self.cred = None
        self.request_id = str(uuid.uuid4())
        self.log = {}

    def q(self, name):
        return self.query.get(name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: without TCP_NODELAY the
    # body waits for the client's delayed ACK (up to 40 ms per call on Linux),
    # which real AWS endpoints do not add. Matters to call-heavy clients
    # (certfetch --all: one GetSecretValue per name).
    disable_nagle_algorithm = True
    server_version = "fakeaws"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self):
        body = self._read_body()
        store = self.server.store
        call = Call(self.command, self.path, list(self.headers.items()), body)
        path = call.path
        try:
            if path.startswith("/_fake/") or path == "/_fake":
                status, headers, out = control.handle(self.server, call)
                return self._send(status, headers, out)
            if path.startswith("/latest/"):
                return self._send(*metadata.handle_imds(store, call.method, path, call.hmap))
            if path.startswith("/v2/credentials/") or path.startswith("/ecs/credentials/"):
                return self._send(*metadata.handle_ecs(store, call.method, path, call.hmap))
        except DropConnection:
            return self._drop()
        except Exception:
            traceback.print_exc()
            return self._send(500, {"Content-Type": "text/plain"}, b"internal error")
        self._aws(store, call)

    def _identify(self, call):
        if call.path.startswith(route53.PREFIX):
            call.service = "route53"
            call.action, call.args = route53.route(call.method, call.raw_path)
            if call.action is None:
                raise AwsError("InvalidAction", f"Unknown Route53 request "
                               f"{call.method} {call.path}", 404)
            return
        target = call.hmap.get("x-amz-target")
        if target:
            prefix, _, action = target.partition(".")
            call.service = JSON_TARGETS.get(prefix)
            if call.service is None:
                raise AwsError("UnknownOperationException", "", 400)
            call.action = action
            try:
                call.json = json.loads(call.body or b"{}")
                if not isinstance(call.json, dict):
                    raise ValueError("not an object")
            except ValueError:
                raise AwsError("SerializationException", "Start of structure or map "
                               "found where not expected.", 400)
            return
        params = dict(call.query)
        ctype = call.hmap.get("content-type", "")
        if call.method == "POST" and (not ctype or "x-www-form-urlencoded" in ctype):
            for k, v in urllib.parse.parse_qs(call.body.decode("utf-8", "replace"),
                                              keep_blank_values=True).items():
                params[k] = v[0]
        call.params = params
        call.action = params.get("Action")
        call.service = QUERY_VERSION.get(params.get("Version", ""))
        if call.service is None:
            auth = sigv4check.parse_authorization(call.hmap.get("authorization"))
            if auth and auth["service"] in QUERY_HANDLERS:
                call.service = auth["service"]
        if call.service is None or not call.action:
            raise AwsError("InvalidAction", "Could not determine the service or "
                           "action of this request", 400)

    def _aws(self, store, call):
        protocol = "query"
        status, code = 200, None
        try:
            try:
                self._identify(call)
            except AwsError:
                protocol = "json" if call.hmap.get("x-amz-target") else (
                    "rest-xml" if call.path.startswith(route53.PREFIX) else "query")
                raise
            protocol = PROTOCOL[call.service]
            if not (call.service == "sts" and call.action in sts.UNSIGNED):
                region = "us-east-1" if call.service == "route53" else (
                    (store.region, "us-east-1") if call.service == "sts" else store.region)
                call.cred = sigv4check.verify(store, protocol, call.service, call.method,
                                              call.raw_path, call.headers, call.body, region)
            if call.cred is not None:
                faults.check_deny(store, call.service, call.action, call.cred,
                                  self._resource(store, call))
            drop_after = faults.apply_faults(store, call.service, call.action)
            if protocol == "json":
                unknown = validate.check_json(call.service, call.action, call.json)
            elif protocol in ("query", "ec2"):
                unknown = validate.check_query(call.service, call.action, call.params)
            else:
                unknown = []
            if unknown:
                call.log["unknown_params"] = unknown
            status, headers, out = self._dispatch(store, call, protocol)
            if drop_after:
                raise DropConnection()
        except DropConnection:
            status, code = 0, "ConnectionDropped"
            self._log(store, call, status, code)
            return self._drop()
        except AwsError as e:
            status, code = e.status, e.code
            status, headers, out = render_error(protocol, e, call.request_id, call.service)
        except Exception as e:  # a bug here: answer like AWS would, log it
            traceback.print_exc()
            err = AwsError("InternalFailure", f"fakeaws bug: {e}", 500, sender=False)
            status, code = 500, err.code
            status, headers, out = render_error(protocol, err, call.request_id, call.service)
        self._log(store, call, status, code)
        self._send(status, headers, out)

    @staticmethod
    def _resource(store, call):
        if call.service == "route53" and call.args.get("Id"):
            kind = "change" if call.action == "GetChange" else "hostedzone"
            return f"arn:aws:route53:::{kind}/{call.args['Id']}"
        if call.service == "secretsmanager" and call.json and call.json.get("SecretId"):
            with store.lock:
                try:
                    return secretsmanager.find(store, call.json["SecretId"])["arn"]
                except AwsError:
                    return call.json["SecretId"]
        if call.service == "dynamodb" and call.json and call.json.get("TableName"):
            return f"arn:aws:dynamodb:{store.region}:{ACCOUNT}:table/{call.json['TableName']}"
        if call.service == "sts" and call.params.get("RoleArn"):
            return call.params["RoleArn"]
        return "*"

    def _dispatch(self, store, call, protocol):
        if call.service == "route53":
            return route53.handle(store, call)
        if protocol == "json":
            result = JSON_HANDLERS[call.service](store, call)
            out = json.dumps(result).encode()
            return 200, json_headers(call.service, call.request_id, out), out
        inner = QUERY_HANDLERS[call.service](store, call)
        body = query_response(call.service, call.action, inner, call.request_id)
        return 200, {"Content-Type": "text/xml",
                     "x-amzn-RequestId": call.request_id}, body.encode()

    @staticmethod
    def _log(store, call, status, code):
        params = {}
        if call.params:
            params.update({k: v for k, v in call.params.items()
                           if k not in ("Action", "Version") and k not in REDACT})
        if call.json:
            for k, v in call.json.items():
                # BatchGetItem's RequestItems are keys only (a BatchWriteItem's
                # hold whole items): logged, so a test can see what was read.
                if k in REDACT and not (k == "RequestItems" and call.action == "BatchGetItem"):
                    params[k + "Length"] = len(v) if isinstance(v, str) else None
                else:
                    params[k] = v
        if call.service == "route53" and call.query:
            params.update(call.query)
        params.update(call.log)
        entry = {"time": time.time(), "service": call.service, "action": call.action,
                 "access_key": call.cred["access_key"] if call.cred else None,
                 "params": params, "status": status, "code": code,
                 "request_id": call.request_id,
                 "user_agent": call.hmap.get("user-agent")}
        with store.lock:
            store.calls.append(entry)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def write_ready(path, info):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--dns-port", type=int, default=0)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--credentials", action="append", default=[],
                    help="AKID:SECRET (repeatable)")
    ap.add_argument("--state", default=None)
    ap.add_argument("--change-delay", type=float, default=0.0)
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args(argv)

    creds = []
    for c in args.credentials:
        akid, sep, secret = c.partition(":")
        if not sep or not akid or not secret:
            ap.error(f"--credentials wants AKID:SECRET, got {c!r}")
        creds.append((akid, secret))
    store = Store(state_file=args.state, change_delay=args.change_delay,
                  region=args.region, credentials=creds or None)

    httpd = Server((args.host, args.http_port), Handler)
    httpd.store = store
    httpd.host = args.host
    dns = DnsServers(store, args.host, args.dns_port)
    httpd.dns_port = dns.port
    http_port = httpd.server_address[1]
    httpd.endpoint = f"http://{args.host}:{http_port}"

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True)
    t.start()
    dns.start()
    write_ready(args.ready_file, {"http_port": http_port, "dns_port": dns.port,
                                  "endpoint": httpd.endpoint, "pid": os.getpid()})
    while not stop.wait(0.5):
        pass
    httpd.shutdown()
    httpd.server_close()
    dns.stop()
    try:
        store.save()
    except Exception:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
