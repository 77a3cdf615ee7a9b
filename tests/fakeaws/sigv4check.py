"""SigV4 verification by recomputing the signature with botocore's signer.

Nothing here re-implements the canonical request: botocore.auth.SigV4Auth
builds it from an AWSRequest rebuilt out of the incoming request, restricted
to the headers the client said it signed, at the client's X-Amz-Date.
"""

import datetime
import hashlib
import hmac
import re
import time
from http.client import HTTPMessage

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from protocols import AwsError, code_for

MAX_SKEW = 15 * 60
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)"
    r"\s*,\s*Signature=([0-9a-fA-F]+)\s*$")
BAD_SIG_MSG = ("The request signature we calculated does not match the signature "
               "you provided. Check your AWS Secret Access Key and signing method. "
               "Consult the service documentation for details.")


class _Signer(SigV4Auth):
    """botocore's SigV4Auth, told exactly which headers were signed."""

    def __init__(self, credentials, service, region, signed):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        out = HTTPMessage()
        for name, value in request.headers.items():
            if name.lower() in self._signed:
                out[name.lower()] = value
        return out


def parse_authorization(value):
    m = _AUTH_RE.match(value or "")
    if not m:
        return None
    cred, signed, sig = m.groups()
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return {"access_key": parts[0], "date": parts[1], "region": parts[2],
            "service": parts[3], "signed_headers": signed.split(";"),
            "signature": sig.lower()}


def compute_signature(method, raw_path, headers, body, secret, region, service,
                      amz_date, signed_headers, token=None):
    """Signature botocore computes for this request (hex)."""
    host = None
    for k, v in headers:
        if k.lower() == "host":
            host = v
    req = AWSRequest(method=method, url=f"http://{host or 'localhost'}{raw_path}",
                     data=body)
    # AWSRequest's headers are case-insensitive; keep duplicates in order.
    req.headers = _MultiHeaders(headers)
    req.context["timestamp"] = amz_date
    signer = _Signer(Credentials("x", secret, token), service, region,
                     set(signed_headers))
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    return signer.signature(sts, req), canonical, sts


class _MultiHeaders:
    """Minimal header map with duplicate support, enough for SigV4Auth."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self):
        return list(self._pairs)

    def __contains__(self, name):
        return any(k.lower() == name.lower() for k, _ in self._pairs)

    def __getitem__(self, name):
        for k, v in self._pairs:
            if k.lower() == name.lower():
                return v
        raise KeyError(name)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default


def _amz_date_epoch(amz_date):
    d = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def verify(store, protocol, service, method, raw_path, headers, body,
           expected_region):
    """Check the request's SigV4 signature; return the caller's credential
    record (dict with access_key added) or raise AwsError."""
    def fail(what, msg):
        code, status = code_for(protocol, service, what)
        raise AwsError(code, msg, status)

    hmap = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), v)
    auth = hmap.get("authorization")
    if not auth:
        fail("missing_auth", "Request is missing Authentication Token"
             if protocol != "json" else "Missing Authentication Token")
    parsed = parse_authorization(auth)
    if not parsed:
        code = "IncompleteSignature"
        raise AwsError(code, "Authorization header requires 'Credential', "
                       "'Signature' and 'SignedHeaders' parameters.", 403 if protocol != "json" else 400)
    amz_date = hmap.get("x-amz-date")
    if not amz_date:
        raise AwsError("IncompleteSignature",
                       "Authorization header requires existence of either a "
                       "'X-Amz-Date' or a 'Date' header.", 403 if protocol != "json" else 400)
    try:
        ts = _amz_date_epoch(amz_date)
    except ValueError:
        raise AwsError("IncompleteSignature", f"Date must be in ISO-8601 'basic "
                       f"format'. Got '{amz_date}'.", 403 if protocol != "json" else 400)
    now = time.time()
    if abs(now - ts) > MAX_SKEW:
        nowf = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        if ts < now:
            limit = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - MAX_SKEW))
            msg = (f"Signature expired: {amz_date} is now earlier than {limit} "
                   f"({nowf} - 15 min.)")
        else:
            limit = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + MAX_SKEW))
            msg = (f"Signature not yet current: {amz_date} is still later than "
                   f"{limit} ({nowf} + 15 min.)")
        if protocol == "ec2":
            msg = "Request has expired."
        fail("skew", msg)
    if parsed["date"] != amz_date[:8]:
        fail("bad_signature", f"Date in Credential scope does not match YYYYMMDD "
             f"from ISO-8601 version of date from HTTP: '{parsed['date']}' != "
             f"'{amz_date[:8]}', from '{amz_date}'.")
    if parsed["service"] != service:
        fail("bad_signature", f"Credential should be scoped to correct service: "
             f"'{service}'. ")
    if isinstance(expected_region, str):
        expected_region = (expected_region,)
    if parsed["region"] not in expected_region:
        fail("bad_signature", f"Credential should be scoped to a valid region, not '{parsed['region']}'. ")
    if "host" not in parsed["signed_headers"]:
        fail("bad_signature", "'Host' must be a 'SignedHeader' in the AWS "
             "Authorization.")
    for h in parsed["signed_headers"]:
        if h not in hmap:
            fail("bad_signature", BAD_SIG_MSG)

    with store.lock:
        cred = store.data["credentials"].get(parsed["access_key"])
        cred = dict(cred) if cred else None
    if cred is None:
        fail("unknown_key", "The security token included in the request is invalid."
             if protocol != "ec2" else
             "AWS was not able to validate the provided access credentials")
    token = hmap.get("x-amz-security-token")
    if cred.get("token"):
        if token != cred["token"]:
            fail("unknown_key", "The security token included in the request is invalid."
                 if protocol != "ec2" else
                 "AWS was not able to validate the provided access credentials")
        if "x-amz-security-token" not in parsed["signed_headers"] and protocol != "json":
            # AWS accepts an unsigned token header for most services; keep it.
            pass
        if cred.get("expires") and cred["expires"] < now:
            fail("expired_token", "The security token included in the request is expired")
    elif token:
        fail("unknown_key", "The security token included in the request is invalid.")

    content_sha = hmap.get("x-amz-content-sha256")
    if content_sha and content_sha != "UNSIGNED-PAYLOAD":
        if content_sha.lower() != hashlib.sha256(body).hexdigest():
            code = "XAmzContentSHA256Mismatch"
            raise AwsError(code, "The provided 'x-amz-content-sha256' header does "
                           "not match what was computed.", 400)

    expected, _, _ = compute_signature(
        method, raw_path, headers, body, cred["secret"], parsed["region"],
        parsed["service"], amz_date, parsed["signed_headers"])
    if not hmac.compare_digest(expected, parsed["signature"]):
        fail("bad_signature", BAD_SIG_MSG)
    cred["access_key"] = parsed["access_key"]
    return cred
