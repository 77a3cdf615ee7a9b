"""A test-only AWS Lambda Runtime API (version 2018-06-01) on 127.0.0.1, a
free port: what the Lambda service offers a custom runtime inside its
sandbox, reduced to what a test needs.

    GET  /2018-06-01/runtime/invocation/next           next queued event; blocks while none
    POST /2018-06-01/runtime/invocation/{id}/response  recorded
    POST /2018-06-01/runtime/invocation/{id}/error     recorded (with Lambda-Runtime-Function-Error-Type)
    POST /2018-06-01/runtime/init/error                recorded

    rt = FakeLambdaRuntime(); rt.start(); self.addCleanup(rt.stop)
    env["AWS_LAMBDA_RUNTIME_API"] = rt.host_port
    rid = rt.invoke({"force": True}, deadline_in=600)
    result = rt.wait_result(rid, timeout=60)   # {"kind": "response"|"error", "body": ..., "headers": ...}

/next hands out queued events in order, with the headers Lambda sends
(Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms in Unix epoch
milliseconds, Lambda-Runtime-Trace-Id, Lambda-Runtime-Invoked-Function-Arn).
With the queue empty it blocks until an event is queued or stop() is
called, as the real API keeps the sandbox waiting; `idle_waiters` counts
the /next calls blocked right now so a test can tell the runtime is idle.
Every wait here is bounded.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class FakeLambdaRuntime:
    def __init__(self):
        self._cond = threading.Condition()
        self._queue = []          # events not yet handed out
        self._handed = {}         # request id -> event dict, handed out, not answered
        self.results = {}         # request id -> {"kind", "body", "headers"}
        self.init_errors = []     # [{"body", "headers"}]
        self.next_calls = 0
        self.idle_waiters = 0
        self._stopping = False
        self._server = None
        self._thread = None

    # ---- life cycle ------------------------------------------------------
    def start(self):
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None):
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the runtime went away (SIGTERM) mid-poll

            def do_GET(self):
                if self.path != PREFIX + "/invocation/next":
                    return self._send(404, b'{"errorType":"NotFound"}')
                event = runtime._take_next()
                if event is None:  # stopping: let the client see a closed connection
                    self.close_connection = True
                    return self._send(500, b'{"errorType":"ServiceShuttingDown"}')
                headers = {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": event["id"],
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:123456789012:function:renewer",
                }
                if event["deadline_ms"] is not None:
                    headers["Lambda-Runtime-Deadline-Ms"] = str(event["deadline_ms"])
                if event["trace_id"]:
                    headers["Lambda-Runtime-Trace-Id"] = event["trace_id"]
                self._send(200, event["body"], headers)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path == PREFIX + "/init/error":
                    with runtime._cond:
                        runtime.init_errors.append({"body": body.decode("utf-8", "replace"), "headers": headers})
                        runtime._cond.notify_all()
                    return self._send(202, b'{"status":"OK"}')
                parts = self.path[len(PREFIX):].split("/") if self.path.startswith(PREFIX) else []
                # ["", "invocation", id, "response"|"error"]
                if len(parts) != 4 or parts[1] != "invocation" or parts[3] not in ("response", "error"):
                    return self._send(404, b'{"errorType":"NotFound"}')
                rid, kind = parts[2], parts[3]
                with runtime._cond:
                    if rid not in runtime._handed:
                        return self._send(400, b'{"errorType":"InvalidRequestID"}')
                    del runtime._handed[rid]
                    runtime.results[rid] = {"kind": kind, "body": body.decode("utf-8", "replace"),
                                            "headers": headers}
                    runtime._cond.notify_all()
                self._send(202, b'{"status":"OK"}')

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-lambda-runtime",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Releases blocked /next calls and stops serving (idempotent)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def host_port(self):
        return "127.0.0.1:%d" % self._server.server_address[1]

    # ---- what a test does ------------------------------------------------
    def invoke(self, event, deadline_in=600.0, deadline_ms=None, trace_id=None, raw=None):
        """Queues an event (any JSON value, or `raw` bytes as the body) and
        returns its request id. The deadline is `deadline_in` seconds from
        now unless `deadline_ms` (epoch ms, or False for none) is given."""
        rid = str(uuid.uuid4())
        if deadline_ms is None:
            deadline_ms = int((time.time() + deadline_in) * 1000)
        elif deadline_ms is False:
            deadline_ms = None
        body = raw if raw is not None else json.dumps(event).encode()
        with self._cond:
            self._queue.append({"id": rid, "body": body, "deadline_ms": deadline_ms,
                                "trace_id": trace_id or "Root=1-%08x-%s;Sampled=0" % (int(time.time()),
                                                                                    uuid.uuid4().hex[:24])})
            self._cond.notify_all()
        return rid

    def wait_result(self, rid, timeout):
        """The response/error posted for `rid`: {"kind", "body", "json", "headers"}."""
        with self._cond:
            if not self._cond.wait_for(lambda: rid in self.results, timeout=timeout):
                raise AssertionError("no response or error for invocation %s within %ss" % (rid, timeout))
            result = dict(self.results[rid])
        try:
            result["json"] = json.loads(result["body"])
        except ValueError:
            result["json"] = None
        return result

    def wait_init_error(self, timeout):
        with self._cond:
            if not self._cond.wait_for(lambda: self.init_errors, timeout=timeout):
                raise AssertionError("no /runtime/init/error within %ss" % timeout)
            error = dict(self.init_errors[0])
        error["json"] = json.loads(error["body"])
        return error

    def wait_idle(self, timeout):
        """Until the runtime is blocked in /next with nothing queued."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.idle_waiters > 0 and not self._queue, timeout=timeout):
                raise AssertionError("the runtime did not come back to /next within %ss" % timeout)

    # ---- server side -------------------------------------------------------
    def _take_next(self):
        with self._cond:
            self.next_calls += 1
            self.idle_waiters += 1
            self._cond.notify_all()
            try:
                # Bounded even if a test forgets stop(): an hour, far above any test timeout.
                self._cond.wait_for(lambda: self._queue or self._stopping, timeout=3600)
                if self._stopping or not self._queue:
                    return None
                event = self._queue.pop(0)
                self._handed[event["id"]] = event
                return event
            finally:
                self.idle_waiters -= 1
