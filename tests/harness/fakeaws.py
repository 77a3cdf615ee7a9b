"""Start tests/fakeaws (the local AWS-compatible service) for a test.

    from harness.fakeaws import FakeAws
    with FakeAws() as aws:                 # starts at once; or FakeAws(start=False)
        aws.endpoint                       # http://127.0.0.1:PORT  (every service)
        aws.dns_port                       # authoritative DNS, UDP + TCP, 127.0.0.1
        env = aws.env()                    # AWS_* for a client process
        zid = aws.create_zone("example.com")
        aws.records(zid)                   # record sets as the API shows them
        aws.calls("ChangeResourceRecordSets"); aws.clear_calls()
        aws.fault("ChangeResourceRecordSets", "throttle", count=2)
        aws.deny("ChangeResourceRecordSets")

Everything the service writes (ready file, logs, optional state file) lives in
a private temporary directory removed by stop() unless you passed state_file.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(SOURCE_DIR, "tests", "fakeaws", "server.py")
PYTHON = "/usr/bin/python3"  # Debian's, with python3-botocore + python3-dnslib

DEFAULT_AKID = "AKIDEXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

# Variables that would make a client look past the fake: cleared by env().
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_STS_REGIONAL_ENDPOINTS")


class FakeAwsError(RuntimeError):
    pass


class FakeAws:
    def __init__(self, start=True, **start_args):
        self.proc = None
        self.tmpdir = None
        self.endpoint = None
        self.http_port = None
        self.dns_port = None
        self.pid = None
        self.access_key = DEFAULT_AKID
        self.secret_key = DEFAULT_SECRET
        self.region = "us-east-1"
        self._autostart = start
        self._start_args = start_args

    # ---- lifecycle -----------------------------------------------------
    def __enter__(self):
        if self._autostart and self.proc is None:
            self.start(**self._start_args)
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, state_file=None, change_delay=0, credentials=None,
              region="us-east-1", http_port=0, dns_port=0, timeout=20.0):
        """Launch the service and wait (bounded) until it is ready.

        credentials: list of (akid, secret); the first one is what env()
        hands out.  Default: AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY.
        state_file: keep zones/secrets/... across restarts (caller owns it).
        """
        if self.proc is not None:
            raise FakeAwsError("already started")
        self._last_start = dict(state_file=state_file, change_delay=change_delay,
                                credentials=credentials, region=region,
                                http_port=http_port, dns_port=dns_port, timeout=timeout)
        if self.tmpdir is None:
            self.tmpdir = tempfile.mkdtemp(prefix="fakeaws-")
        self.region = region
        ready = os.path.join(self.tmpdir, "ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [PYTHON, SERVER, "--host", "127.0.0.1", "--http-port", str(http_port),
               "--dns-port", str(dns_port), "--ready-file", ready,
               "--change-delay", str(change_delay), "--region", region]
        if credentials:
            self.access_key, self.secret_key = credentials[0]
            for akid, secret in credentials:
                cmd += ["--credentials", f"{akid}:{secret}"]
        if state_file:
            cmd += ["--state", state_file]
        self._stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self._stderr = open(self._stderr_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr,
                                     env=env, cwd=self.tmpdir)
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if os.path.exists(ready):
                try:
                    with open(ready, encoding="utf-8") as f:
                        info = json.load(f)
                    break
                except ValueError:
                    pass
            rc = self.proc.poll()
            if rc is not None:
                err = self.stderr_text()
                self._cleanup_proc()
                raise FakeAwsError(f"fakeaws exited with {rc} before it was ready:\n{err}")
            if time.monotonic() > deadline:
                err = self.stderr_text()
                self.stop()
                raise FakeAwsError(f"fakeaws not ready after {timeout}s:\n{err}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self.http_port = info["http_port"]
        self.dns_port = info["dns_port"]
        self.endpoint = info["endpoint"]
        self.pid = info["pid"]
        return self

    def stop(self, timeout=10.0):
        """SIGTERM, wait bounded, then SIGKILL; remove the temp dir."""
        self._cleanup_proc(timeout)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def restart(self, **start_args):
        """Stop the process (keeping the temp dir) and start it again with
        the previous start() arguments, updated by start_args.  Without a
        state file the new process starts empty; ports change unless given."""
        self._cleanup_proc()
        args = dict(getattr(self, "_last_start", self._start_args))
        args.update(start_args)
        return self.start(**args)

    def _cleanup_proc(self, timeout=10.0):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout)
            self.proc = None
        if getattr(self, "_stderr", None):
            self._stderr.close()
            self._stderr = None

    def stderr_text(self):
        try:
            with open(self._stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-20000:]
        except (OSError, AttributeError):
            return ""

    # ---- client environment ------------------------------------------------
    def env(self, base=None, **extra):
        """Environment for a client: base (default os.environ) without AWS_*
        leftovers, plus the endpoint, test keys, region; extra overrides."""
        env = dict(os.environ if base is None else base)
        for k in _CLEARED:
            env.pop(k, None)
        for k in list(env):
            if k.startswith("AWS_ENDPOINT_URL"):
                del env[k]
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        if self.tmpdir:
            empty = os.path.join(self.tmpdir, "empty-aws-config")
            if not os.path.exists(empty):
                open(empty, "w").close()
            env["AWS_CONFIG_FILE"] = empty
            env["AWS_SHARED_CREDENTIALS_FILE"] = empty
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def client(self, service, access_key=None, secret_key=None, token=None,
               retries=0, timeout=10):
        """A botocore client for `service` against this fake (Debian's
        python3-botocore; only in /usr/bin/python3). No retries by default,
        so a test sees every error the fake answers."""
        import botocore.session
        from botocore.config import Config
        session = botocore.session.Session()
        session.set_credentials(access_key or self.access_key,
                                secret_key or self.secret_key, token)
        return session.create_client(
            service, region_name=self.region, endpoint_url=self.endpoint,
            config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                          connect_timeout=timeout, read_timeout=timeout))

    # ---- control endpoint ------------------------------------------------------
    def control(self, method, path, body=None, timeout=10.0):
        """Call /_fake/<path>; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint}/_fake/{path.lstrip('/')}",
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise FakeAwsError(f"control {method} {path}: {e.code} "
                               f"{e.read().decode(errors='replace')}") from None

    def reset(self):
        self.control("POST", "reset")

    def create_zone(self, name, private=False, vpc_id=None, comment=None):
        """Hosted zone id (bare, e.g. Z0ABC...)."""
        body = {"name": name, "private": private}
        if vpc_id:
            body["vpc_id"] = vpc_id
        if comment:
            body["comment"] = comment
        return self.control("POST", "zones", body)["id"]

    def zones(self):
        return self.control("GET", "zones")["zones"]

    def records(self, zone_id, published=False):
        """Record sets [{Name, Type, TTL, Values}], sorted as Route53 lists them.
        published=True: what the DNS server serves (INSYNC changes only)."""
        q = "?view=dns" if published else ""
        return self.control("GET", f"zones/{zone_id}/records{q}")["records"]

    def put_records(self, zone_id, records):
        """Write record sets directly (no change, visible in DNS at once)."""
        self.control("POST", f"zones/{zone_id}/records", {"records": records})

    def set_change_delay(self, seconds):
        self.control("POST", "change-delay", {"seconds": seconds})

    def calls(self, action=None, service=None):
        q = {}
        if action:
            q["action"] = action
        if service:
            q["service"] = service
        qs = ("?" + urllib.parse.urlencode(q)) if q else ""
        return self.control("GET", "calls" + qs)["calls"]

    def clear_calls(self):
        self.control("DELETE", "calls")

    def fault(self, action, kind, count=None, probability=None, seed=None,
              delay_ms=None, service=None, code=None, status=None, message=None):
        """kind: throttle | prior | error500 | delay | drop | custom."""
        body = {"action": action, "kind": kind}
        for k, v in (("count", count), ("probability", probability), ("seed", seed),
                     ("delay_ms", delay_ms), ("service", service), ("code", code),
                     ("status", status), ("message", message)):
            if v is not None:
                body[k] = v
        return self.control("POST", "faults", body)["rule"]

    def rate_limit(self, service_or_action, per_second, burst=None):
        """Throttle (protocol's code) calls beyond per_second (token bucket,
        bursts up to `burst`), as Route53 does at 5/s per account.
        per_second=None removes the limit."""
        key = "action" if service_or_action[:1].isupper() else "service"
        self.control("POST", "rate-limit", {key: service_or_action,
                                            "per_second": per_second, "burst": burst})

    def clear_faults(self):
        """Remove fault rules and rate limits."""
        self.control("DELETE", "rate-limit")
        self.control("DELETE", "faults")

    def deny(self, action, access_key=None, service=None, principal=None):
        """AccessDenied (AWS's wording) for `action` or "*"; optionally only for
        one access key, one service, or caller ARNs matching the glob
        `principal`, e.g. "*:assumed-role/dns-owner/*"."""
        self.control("POST", "deny", {"action": action, "access_key": access_key,
                                      "service": service, "principal": principal})

    def clear_denies(self):
        self.control("DELETE", "deny")

    def add_credentials(self, access_key, secret_key, token=None, arn=None,
                        expires_in=None):
        self.control("POST", "credentials", {"access_key": access_key,
                                             "secret_key": secret_key, "token": token,
                                             "arn": arn, "expires_in": expires_in})

    def expire_credentials(self, access_key):
        self.control("POST", "credentials/expire", {"access_key": access_key})

    def set_role(self, arn, external_id=None, deny=False):
        self.control("POST", "roles", {"arn": arn, "external_id": external_id, "deny": deny})

    def seed_secret(self, name, string=None, binary=None, **kw):
        body = {"name": name, "string": string, "binary": binary}
        body.update(kw)
        return self.control("POST", "secrets", body)

    def secrets(self):
        return self.control("GET", "secrets")["secrets"]

    def seed_instances(self, instances=None, count=None, tags=None, state="running",
                       asg=None):
        """instances: [{"tags": {...}, "state"?, "id"?, "asg"?}] or count+tags.
        Returns the instance ids."""
        if instances is None:
            instances = [{"tags": dict(tags or {}), "state": state, "asg": asg}
                         for _ in range(count or 1)]
        return self.control("POST", "instances", {"instances": instances})["ids"]

    def instances(self):
        return self.control("GET", "instances")["instances"]

    def seed_asg(self, name, size=2, instances=None, tags=None, refresh_seconds=3.0):
        return self.control("POST", "asgs", {"name": name, "size": size,
                                             "instances": instances, "tags": tags,
                                             "refresh_seconds": refresh_seconds})

    def asgs(self):
        return self.control("GET", "asgs")["asgs"]

    def seed_ecs_service(self, cluster, service, task_definition=None, desired=2,
                         rollout_seconds=2.0):
        return self.control("POST", "ecs/services", {
            "cluster": cluster, "service": service, "task_definition": task_definition,
            "desired": desired, "rollout_seconds": rollout_seconds})

    def ecs_services(self):
        return self.control("GET", "ecs/services")["services"]

    def configure_metadata(self, **kw):
        """ecs_id=, ecs_token=, imds_role=, imds_disabled=, duration=.
        Returns {"ecs": {id: {relative_uri, full_path, token}}, "imds_role"}."""
        return self.control("POST", "metadata", kw)

    def ecs_credentials_env(self, ecs_id="task-credentials", token=None, full=False):
        """Env vars pointing a client at the ECS credentials endpoint
        (instead of static keys)."""
        self.configure_metadata(ecs_id=ecs_id, ecs_token=token)
        env = self.env()
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        if full:
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"{self.endpoint}/ecs/credentials/{ecs_id}"
            if token:
                env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
        else:
            env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = f"/v2/credentials/{ecs_id}"
        return env

    def imds_env(self):
        """Env vars pointing a client at IMDSv2 on this service."""
        env = self.env()
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        env["AWS_EC2_METADATA_DISABLED"] = "false"
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.endpoint + "/"
        return env

    def dns_query(self, name, qtype="TXT", tcp=False, timeout=3.0):
        """Ask the fake's DNS server: (rcode name, [answer rdata as text]),
        e.g. ("NOERROR", ['"value"']). TXT answers are written as Route53
        stores them: each string quoted, strings separated by a space."""
        from dnslib import QTYPE, RCODE, DNSRecord

        def text(rr):
            if QTYPE.get(rr.rtype) != "TXT":
                return str(rr.rdata)
            return " ".join('"' + b.decode("utf-8", "replace").replace("\\", "\\\\")
                            .replace('"', '\\"') + '"' for b in rr.rdata.data)
        q = DNSRecord.question(name, qtype)
        reply = DNSRecord.parse(q.send("127.0.0.1", self.dns_port, tcp=tcp, timeout=timeout))
        return (RCODE.get(reply.header.rcode),
                [text(rr) for rr in reply.rr if QTYPE.get(rr.rtype) == qtype])

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        """Poll predicate() (bounded, with backoff) until it is truthy."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            v = predicate()
            if v:
                return v
            if time.monotonic() > deadline:
                raise FakeAwsError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
