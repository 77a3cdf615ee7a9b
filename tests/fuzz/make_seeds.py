#!/usr/bin/python3
"""Seed inputs for the fuzz targets that are not plain text.

    make_seeds.py dns OUTDIR    DNS messages (binary) -> corpus/dns_wire
    make_seeds.py keys OUTDIR   a throwaway EC and RSA key, a CA, a leaf, a
                                chain, DER and a secret bundle for fuzz_pem

`keys` output holds private keys: it goes to the build directory at test time
(scripts/fuzz.sh), never into the repository.
"""

import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import tempfile

from dnslib import CNAME, DNSRecord, NS, QTYPE, RCODE, RR, SOA, TXT, A


def dns_seeds(out):
    os.makedirs(out, exist_ok=True)
    seeds = {}

    q = DNSRecord.question("example.test.", "SOA")
    r = q.reply()
    r.add_answer(RR("example.test.", QTYPE.SOA, rdata=SOA("ns1.example.test.", "hostmaster.example.test.",
                                                           (2026112901, 3600, 600, 86400, 60)), ttl=60))
    seeds["soa_answer"] = r.pack()

    q = DNSRecord.question("_acme-challenge.www.example.test.", "SOA")
    r = q.reply()
    r.header.rcode = RCODE.NXDOMAIN
    r.add_auth(RR("example.test.", QTYPE.SOA, rdata=SOA("ns1.example.test.", "hostmaster.example.test.",
                                                         (1, 3600, 600, 86400, 60)), ttl=60))
    seeds["nxdomain_soa_authority"] = r.pack()

    q = DNSRecord.question("example.test.", "NS")
    r = q.reply()
    r.add_answer(RR("example.test.", QTYPE.NS, rdata=NS("ns1.example.test."), ttl=300))
    r.add_answer(RR("example.test.", QTYPE.NS, rdata=NS("ns2.example.test."), ttl=300))
    r.add_ar(RR("ns1.example.test.", QTYPE.A, rdata=A("127.0.0.1"), ttl=300))
    seeds["ns_compressed_glue"] = r.pack()

    q = DNSRecord.question("_acme-challenge.example.test.", "CNAME")
    r = q.reply()
    r.add_answer(RR("_acme-challenge.example.test.", QTYPE.CNAME,
                    rdata=CNAME("_acme-challenge.delegated.example.net."), ttl=60))
    seeds["cname"] = r.pack()

    q = DNSRecord.question("_acme-challenge.example.test.", "TXT")
    r = q.reply()
    r.header.aa = 1
    r.add_answer(RR("_acme-challenge.example.test.", QTYPE.TXT, rdata=TXT(["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"]), ttl=60))
    r.add_answer(RR("_acme-challenge.example.test.", QTYPE.TXT, rdata=TXT(["a" * 255, "b" * 10]), ttl=60))
    seeds["txt_two_values"] = r.pack()

    r = DNSRecord.question("www.example.test.", "A").reply()
    r.header.tc = 1
    seeds["truncated"] = r.pack()

    # An UPDATE response (opcode 5) carrying a TSIG RR (RFC 8945 §4.2), MAC
    # computed over a made-up request MAC: parsing reaches every TSIG field.
    header = struct.pack("!HHHHHH", 0x1234, 0x8000 | (5 << 11), 1, 0, 0, 1)
    zone = b"\x07example\x04test\x00"
    body = header + zone + struct.pack("!HH", 6, 1)
    key_name = b"\x0brenewer-key\x00"
    alg = b"\x0bhmac-sha256\x00"
    now = 1795392000
    mac = hmac.new(b"k" * 32, b"m" * 32, hashlib.sha256).digest()
    rdata = alg + struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300) + struct.pack("!H", len(mac)) + mac + \
        struct.pack("!HHH", 0x1234, 0, 0)
    tsig = key_name + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    seeds["update_response_tsig"] = body + tsig
    # The same with error BADSIG (16) and no MAC: the server could not verify us.
    rdata = alg + struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300) + struct.pack("!H", 0) + \
        struct.pack("!HHH", 0x1234, 16, 0)
    header = struct.pack("!HHHHHH", 0x1234, 0x8000 | (5 << 11) | 9, 1, 0, 0, 1)
    seeds["update_response_badsig"] = header + zone + struct.pack("!HH", 6, 1) + key_name + \
        struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata

    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def key_seeds(out):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
        openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Fuzz Root", "-days", "30",
                "-addext", "basicConstraints=critical,CA:TRUE", "-out", "ca.pem", cwd=d)
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf-sec1.key", cwd=d)
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", "leaf-sec1.key", "-out", "leaf.key", cwd=d)
        openssl("req", "-new", "-key", "leaf.key", "-subj", "/CN=example.test", "-out", "leaf.csr", cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:example.test,DNS:*.example.test\n"
                    "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "7", "-extfile", "ext.cnf", "-out", "leaf.pem", cwd=d)
        openssl("x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der", cwd=d)
        openssl("genrsa", "-traditional", "-out", "rsa.key", "2048", cwd=d)

        def read(name, mode="r"):
            with open(os.path.join(d, name), mode) as f:
                return f.read()

        leaf, ca, key = read("leaf.pem"), read("ca.pem"), read("leaf.key")
        files = {
            "fullchain.pem": leaf + ca,
            "leaf_and_key.pem": leaf + key,
            "ec_sec1.key": read("leaf-sec1.key"),
            "rsa_traditional.key": read("rsa.key"),
            "bundle.json": json.dumps({"certificate": leaf + ca, "private_key": key, "chain": ca,
                                       "domains": ["example.test", "*.example.test"], "key_type": "ec256"}),
        }
        for name, text in files.items():
            with open(os.path.join(out, name), "w") as f:
                f.write(text)
        with open(os.path.join(out, "leaf.der"), "wb") as f:
            f.write(read("leaf.der", "rb"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("dns", "keys"):
        sys.exit(__doc__)
    (dns_seeds if sys.argv[1] == "dns" else key_seeds)(sys.argv[2])
