"""The SigV4 check: requests signed by botocore pass; any tampering, a wrong
key, a stale date or a wrong scope is rejected with the code AWS uses for
that protocol."""

import datetime
import http.client
import json
import os
import sys
import unittest
import urllib.parse
import warnings

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402

AKID, SECRET = "AKIDTESTSIGV4", "c2VjcmV0LXRlc3Qta2V5LWZvci1zaWd2NA"


class SigV4(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)  # botocore's pooled sockets
        cls.fake = FakeAws(credentials=[(AKID, SECRET)])
        cls.fake.start(credentials=[(AKID, SECRET)])
        cls.host = f"127.0.0.1:{cls.fake.http_port}"

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    # ---- helpers -------------------------------------------------------
    def sign(self, method, path, service, body=b"", headers=None, secret=SECRET,
             akid=AKID, token=None, when=None, region="us-east-1"):
        req = AWSRequest(method=method, url=f"http://{self.host}{path}", data=body,
                         headers=dict(headers or {}))
        signer = SigV4Auth(Credentials(akid, secret, token), service, region)
        if when is None:
            signer.add_auth(req)
        else:
            # sign at a chosen time: botocore takes the time from datetime.utcnow()
            import botocore.auth as ba
            real = ba.datetime.datetime

            class Fixed(real):
                @classmethod
                def utcnow(cls):
                    return when
            ba.datetime.datetime = Fixed
            try:
                signer.add_auth(req)
            finally:
                ba.datetime.datetime = real
        return req

    def send(self, req, tamper=None):
        """Send a signed AWSRequest; tamper(method, path, headers, body) may
        change it after signing."""
        parts = urllib.parse.urlsplit(req.url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        headers = {k: v for k, v in req.headers.items()}
        body = req.body or b""
        if isinstance(body, str):
            body = body.encode()
        method = req.method
        if tamper:
            method, path, headers, body = tamper(method, path, headers, body)
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.http_port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def route53(self, **kw):
        return self.sign("GET", "/2013-04-01/hostedzone?maxitems=5", "route53", **kw)

    def sts(self, **kw):
        return self.sign("POST", "/", "sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type":
                                  "application/x-www-form-urlencoded; charset=utf-8"}, **kw)

    def secrets(self, **kw):
        return self.sign("POST", "/", "secretsmanager", body=b"{}",
                         headers={"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": "secretsmanager.ListSecrets"}, **kw)

    def ec2(self, **kw):
        return self.sign("POST", "/", "ec2", body=b"Action=DescribeInstances&Version=2016-11-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, **kw)

    # ---- cases ---------------------------------------------------------------
    def test_valid_requests_pass(self):
        for make in (self.route53, self.sts, self.secrets, self.ec2):
            status, body = self.send(make())
            self.assertEqual(status, 200, body)

    def test_flipped_signature_character(self):
        def flip(m, p, h, b):
            auth = h["Authorization"]
            last = auth[-1]
            h["Authorization"] = auth[:-1] + ("0" if last != "0" else "1")
            return m, p, h, b
        for make, status, code in ((self.route53, 403, "<Code>SignatureDoesNotMatch</Code>"),
                                   (self.sts, 403, "<Code>SignatureDoesNotMatch</Code>"),
                                   (self.secrets, 400, '"InvalidSignatureException"'),
                                   (self.ec2, 401, "<Code>AuthFailure</Code>")):
            s, body = self.send(make(), flip)
            self.assertEqual(s, status, body)
            self.assertIn(code, body)
        s, body = self.send(self.route53(), flip)
        self.assertIn('<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                      '<Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>', body)
        s, body = self.send(self.ec2(), flip)
        self.assertIn("<Response><Errors><Error><Code>AuthFailure</Code>", body)
        self.assertIn("<RequestID>", body)
        s, body = self.send(self.secrets(), flip)
        self.assertEqual(json.loads(body)["__type"], "InvalidSignatureException")

    def test_tampered_body_path_query_header(self):
        cases = [
            lambda m, p, h, b: (m, p, h, b.replace(b"GetCallerIdentity", b"GetCallerIdentitx")),
            lambda m, p, h, b: (m, p.replace("maxitems=5", "maxitems=6"), h, b),
            lambda m, p, h, b: (m, p.replace("hostedzone?", "hostedzonesbyname?"), h, b),
            lambda m, p, h, b: ("POST", p, h, b),
            lambda m, p, h, b: (m, p, dict(h, **{"X-Amz-Date": h["X-Amz-Date"][:-3] + (
                "58Z" if h["X-Amz-Date"].endswith("59Z") else "59Z")}), b),
        ]
        for i, t in enumerate(cases):
            make = self.sts if i == 0 else self.route53
            s, body = self.send(make(), t)
            self.assertIn(s, (403, 404), f"case {i}: {body}")
            self.assertIn("SignatureDoesNotMatch", body, f"case {i}")

    def test_unsigned_extra_header_is_ignored(self):
        s, body = self.send(self.route53(), lambda m, p, h, b: (m, p, dict(h, **{"X-Extra": "1"}), b))
        self.assertEqual(s, 200, body)

    def test_odd_paths_and_queries(self):
        paths = ["/2013-04-01/hostedzonesbyname?dnsname=a%20b.example.com&maxitems=1",
                 "/2013-04-01/hostedzonesbyname?maxitems=2&dnsname=%C3%A9x.com",
                 "/2013-04-01/hostedzonesbyname?dnsname=&maxitems=3",
                 "/2013-04-01/hostedzone/Z%2A1/rrset?name=%2A.x.com&type=TXT"]
        for p in paths:
            s, body = self.send(self.sign("GET", p, "route53"))
            self.assertNotIn("SignatureDoesNotMatch", body, p)

    def test_wrong_secret_and_unknown_key(self):
        s, body = self.send(self.sts(secret="wrong"))
        self.assertEqual(s, 403)
        self.assertIn("SignatureDoesNotMatch", body)
        for make, status, code in ((self.sts, 403, "InvalidClientTokenId"),
                                   (self.route53, 403, "InvalidClientTokenId"),
                                   (self.secrets, 400, "UnrecognizedClientException"),
                                   (self.ec2, 401, "AuthFailure")):
            s, body = self.send(make(akid="AKIDUNKNOWN0000"))
            self.assertEqual(s, status, body)
            self.assertIn(code, body)

    def test_clock_skew(self):
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=16)
        s, body = self.send(self.route53(when=old))
        self.assertEqual(s, 403)
        self.assertIn("<Code>SignatureDoesNotMatch</Code><Message>Signature expired:", body)
        s, body = self.send(self.secrets(when=old))
        self.assertEqual(json.loads(body)["__type"], "InvalidSignatureException")
        s, body = self.send(self.ec2(when=old))
        self.assertIn("<Code>RequestExpired</Code>", body)
        future = datetime.datetime.utcnow() + datetime.timedelta(minutes=16)
        s, body = self.send(self.sts(when=future))
        self.assertIn("Signature not yet current", body)
        ok = datetime.datetime.utcnow() - datetime.timedelta(minutes=14)
        s, body = self.send(self.sts(when=ok))
        self.assertEqual(s, 200, body)

    def test_scope_and_missing_auth(self):
        s, body = self.send(self.sign("GET", "/2013-04-01/hostedzone", "ec2"))
        self.assertIn("Credential should be scoped to correct service: 'route53'", body)
        s, body = self.send(self.sign("GET", "/2013-04-01/hostedzone", "route53",
                                      region="eu-west-1"))
        self.assertIn("Credential should be scoped to a valid region", body)
        s, body = self.send(self.route53(), lambda m, p, h, b: (
            m, p, {k: v for k, v in h.items() if k != "Authorization"}, b))
        self.assertEqual(s, 403)
        self.assertIn("MissingAuthenticationToken", body)

    def test_payload_hash_header_must_match(self):
        req = self.sts()
        req2 = self.sign("POST", "/", "sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "X-Amz-Content-SHA256": "0" * 64})
        s, body = self.send(req2)
        self.assertEqual(s, 400)
        self.assertIn("XAmzContentSHA256Mismatch", body)
        self.assertEqual(self.send(req)[0], 200)

    def test_session_token(self):
        sts = self.fake.client("sts")
        c = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/x",
                            RoleSessionName="sig")["Credentials"]
        good = self.route53(akid=c["AccessKeyId"], secret=c["SecretAccessKey"],
                            token=c["SessionToken"])
        self.assertEqual(self.send(good)[0], 200)
        bad = self.route53(akid=c["AccessKeyId"], secret=c["SecretAccessKey"], token="forged")
        s, body = self.send(bad)
        self.assertEqual(s, 403)
        self.assertIn("InvalidClientTokenId", body)
        none = self.route53(akid=c["AccessKeyId"], secret=c["SecretAccessKey"])
        self.assertEqual(self.send(none)[0], 403)

    def test_requests_checked_against_the_model(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        s, body = self.send(self.sign("POST", "/", "ec2", headers=form, body=(
            b"Action=DescribeInstances&Version=2016-11-15&Filters.1.Name=tag-key")))
        self.assertIn("<Code>UnknownParameter</Code><Message>The parameter Filters.1.Name "
                      "is not recognized</Message>", body)
        s, body = self.send(self.sign("POST", "/", "ec2", headers=form, body=(
            b"Action=TerminateInstances&Version=2016-11-15")))
        self.assertIn("<Code>MissingParameter</Code>", body)
        s, body = self.send(self.sign("POST", "/", "sts", headers=form, body=(
            b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=abc")))
        self.assertIn("Value null at 'roleArn' failed to satisfy constraint", body)
        s, body = self.send(self.sign("POST", "/", "secretsmanager", body=b'{"SecretID": "x"}',
                                      headers={"Content-Type": "application/x-amz-json-1.1",
                                               "X-Amz-Target": "secretsmanager.GetSecretValue"}))
        self.assertEqual(json.loads(body)["__type"], "ValidationException")
        self.fake.clear_calls()
        self.send(self.sign("POST", "/", "sts", headers=form, body=(
            b"Action=GetCallerIdentity&Version=2011-06-15&Bogus=1")))
        self.assertEqual(self.fake.calls()[-1]["params"]["unknown_params"], ["Bogus"])

    def test_calls_log_records_rejections(self):
        self.fake.clear_calls()
        self.send(self.sts(secret="wrong"))
        calls = self.fake.calls("GetCallerIdentity")
        self.assertEqual(calls[-1]["code"], "SignatureDoesNotMatch")
        self.assertEqual(calls[-1]["status"], 403)


if __name__ == "__main__":
    unittest.main()
