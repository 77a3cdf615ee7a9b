#!/usr/bin/python3
"""Generates seeded random requests and signs them with botocore's SigV4Auth.

Run with Debian's python3 (python3-botocore). Writes one JSON object per line:
the request as it goes on the wire (method, url, headers in order, body) plus
what botocore computed (canonical request, string to sign, signature,
Authorization). test_sigv4_botocore.cpp signs the same inputs with our signer
and requires identical output.

Paths and query strings are generated in their on-the-wire (percent-encoded)
form, and both signers are fed exactly that: botocore encodes the path once
more (the double encoding of every service but S3) and takes the query pairs
as they are; our signer does the same for canonically encoded queries.
"""

import argparse
import base64
import json
import random
import sys
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICES = ["sts", "route53", "secretsmanager", "ec2", "ecs", "autoscaling", "service", "s3-control"]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "il-central-1"]
HOSTS = [
    "example.amazonaws.com",
    "Sts.EU-West-1.AmazonAWS.com",
    "127.0.0.1:8443",
    "127.0.0.1:443",
    "localhost:80",
    "route53.amazonaws.com",
    "[::1]:9000",
    "secretsmanager.us-east-1.amazonaws.com",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]
HEADER_NAMES = [
    "Content-Type", "X-Amz-Target", "My-Header1", "my-header1", "MY-HEADER1", "X-Custom", "x-amz-meta-Foo",
    "Accept", "Content-Length", "User-Agent", "X-Amzn-Trace-Id", "Expect", "X-Amz-Date", "Zeta", "a",
    "X-Amz-Security-Token", "x-amz-content-sha256",
]
# Path characters allowed unencoded on the wire (RFC 3986 pchar), besides unreserved.
PATH_SUBDELIMS = "!$&'()*+,;=:@"
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
ODD = [" ", "%", "/", "?", "#", "\u1234", "\u00e9", "\U0001F600", "\"", "<", ">", "\\", "^", "`", "{", "|", "}",
       "[", "]", "\t", "\u0000", "+", "&", "="]
QUERY_KEYS = ["Action", "Version", "a", "A", "b", "key", "\u1234", "x y", "Param-3", "max-items", "~", "Z"]


def rand_text(rng, n_max, odd_rate=0.2):
    out = []
    for _ in range(rng.randint(0, n_max)):
        if rng.random() < odd_rate:
            out.append(rng.choice(ODD))
        else:
            out.append(rng.choice(UNRESERVED))
    return "".join(out)


def wire_segment(rng):
    choice = rng.random()
    if choice < 0.1:
        return "."
    if choice < 0.2:
        return ".."
    if choice < 0.28:
        return ""
    out = []
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.6:
            out.append(rng.choice(UNRESERVED))
        elif r < 0.75:
            out.append(rng.choice(PATH_SUBDELIMS))
        else:
            out.append(quote(rng.choice(ODD), safe=""))
    return "".join(out)


def wire_path(rng):
    if rng.random() < 0.05:
        return ""
    segments = [wire_segment(rng) for _ in range(rng.randint(0, 6))]
    path = "/" + "/".join(segments)
    if rng.random() < 0.3:
        path += "/"
    return path


def wire_query(rng):
    if rng.random() < 0.3:
        return ""
    pairs = []
    for _ in range(rng.randint(1, 7)):
        key = rng.choice(QUERY_KEYS) if rng.random() < 0.6 else rand_text(rng, 6)
        ekey = quote(key, safe="-_.~")
        r = rng.random()
        if r < 0.15:
            pairs.append(ekey)  # key without '='
        elif r < 0.3:
            pairs.append(ekey + "=")  # empty value
        else:
            pairs.append(ekey + "=" + quote(rand_text(rng, 10), safe="-_.~"))
    if pairs and rng.random() < 0.3:
        pairs.append(pairs[0])  # exact repeat
    return "&".join(pairs)


def header_value(rng):
    chars = []
    printable = [chr(c) for c in range(0x21, 0x7F)]
    for _ in range(rng.randint(0, 16)):
        r = rng.random()
        if r < 0.2:
            chars.append(" " * rng.randint(1, 4))
        elif r < 0.25:
            chars.append("\t")
        else:
            chars.append(rng.choice(printable))
    value = "".join(chars)
    if rng.random() < 0.3:
        value = "  " + value + "   "
    return value


def body(rng):
    r = rng.random()
    if r < 0.4:
        return b""
    if r < 0.7:
        return json.dumps({"Name": rand_text(rng, 12), "n": rng.randint(0, 99)}, ensure_ascii=False).encode()
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))


def secret(rng, n):
    alphabet = UNRESERVED + "/+"
    return "".join(rng.choice(alphabet) for _ in range(n))


def generate(rng, index):
    scheme = rng.choice(["https", "http"])
    host = rng.choice(HOSTS)
    path = wire_path(rng)
    query = wire_query(rng)
    url = scheme + "://" + host + path + ("?" + query if query else "")
    headers = []
    if rng.random() < 0.5:
        headers.append((rng.choice(["Host", "host", "HOST"]), host.lower()))
    for _ in range(rng.randint(0, 6)):
        headers.append((rng.choice(HEADER_NAMES), header_value(rng)))
    rng.shuffle(headers)
    token = ""
    if rng.random() < 0.4:
        token = secret(rng, rng.randint(20, 300)) + "=="
    year = rng.randint(2015, 2035)
    timestamp = "%04d%02d%02dT%02d%02d%02dZ" % (year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                                                rng.randint(0, 59), rng.randint(0, 59))
    return {
        "id": index,
        "method": rng.choice(METHODS),
        "url": url,
        "headers": headers,
        "body": body(rng),
        "access_key": "AKIA" + secret(rng, 16).upper().replace("/", "X").replace("+", "Y"),
        "secret_key": secret(rng, 40),
        "token": token,
        "region": rng.choice(REGIONS),
        "service": rng.choice(SERVICES),
        "timestamp": timestamp,
    }


def sign(case):
    request = AWSRequest(method=case["method"], url=case["url"], data=case["body"])
    for name, value in case["headers"]:
        request.headers[name] = value  # HTTPMessage appends: duplicates kept in order
    credentials = Credentials(case["access_key"], case["secret_key"], case["token"] or None)
    auth = SigV4Auth(credentials, case["service"], case["region"])
    # SigV4Auth.add_auth with a fixed clock: the same steps in the same order.
    request.context["timestamp"] = case["timestamp"]
    auth._modify_request_before_signing(request)
    canonical_request = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical_request)
    signature = auth.signature(string_to_sign, request)
    auth._inject_signature_to_request(request, signature)
    return canonical_request, string_to_sign, signature, request.headers["Authorization"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for index in range(args.count):
        case = generate(rng, index)
        canonical_request, string_to_sign, signature, authorization = sign(case)
        out = dict(case)
        out["headers"] = [list(h) for h in case["headers"]]
        out["body"] = base64.b64encode(case["body"]).decode()
        out["canonical_request"] = canonical_request
        out["string_to_sign"] = string_to_sign
        out["signature"] = signature
        out["authorization"] = authorization
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
