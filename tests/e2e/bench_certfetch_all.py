"""Measures `certfetch --all` over N bundles (default 1,000) in tests/fakeaws
Secrets Manager (target: under 5 s, docs/customer-domains.md). Not a CTest: a figure to report.

    BUILD_DIR=build /usr/bin/python3 tests/e2e/bench_certfetch_all.py [N [PARALLEL [STORE]]]

STORE is aws-sm (default) or dynamodb: the same bundles as bundle items of a
table "certs-bench" (docs/stores.md#listing-a-table), listed by a Scan.

The bundles are ECDSA P-256 leaves of one throw-away CA made here (the same
bundle JSON as renewer writes, docs/stores.md), named cN.fleet.test, stored
as customers/cN.fleet.test. Prints the first run (every folder written) and
the second (nothing changed: one read and compare per name).
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness.fakeaws import FakeAws  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(os.path.dirname(os.path.dirname(HERE)), "build")
CERTFETCH = os.path.join(BUILD_DIR, "bin", "certfetch")


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_bundles(count):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench fleet CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=90))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    for i in range(count):
        name = "c%d.fleet.test" % i
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=60))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        yield name, json.dumps({"certificate": pem(leaf) + pem(ca), "private_key": key_pem, "chain": pem(ca),
                                "domains": [name], "key_type": "ec256"})


def timed(cmd, env):
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%U user %S sys %e wall"] + cmd, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    if p.returncode != 0:
        sys.exit("certfetch failed (%d):\n%s" % (p.returncode, p.stderr[-3000:]))
    return seconds, p.stderr.strip().splitlines()[-1]


BENCH_TABLE = "certs-bench"


def seed(fake, store, count):
    """The bundles into the store; the certfetch --all arguments that list them
    and the (list, read) actions to count."""
    if store == "aws-sm":
        for name, text in make_bundles(count):
            fake.seed_secret("customers/" + name, string=text)
        return ["--secret-id", "customers/"], ("ListSecrets", "GetSecretValue")
    ddb = fake.client("dynamodb")
    ddb.create_table(TableName=BENCH_TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])
    for name, text in make_bundles(count):
        # As the store keeps it after a renewal: the previous bundle beside it.
        ddb.put_item(TableName=BENCH_TABLE, Item={"pk": {"S": "customers/" + name}, "sk": {"S": "bundle"},
                                                  "bundle": {"S": text}, "previous": {"S": text},
                                                  "version": {"N": "2"}})
    ddb.close()
    return ["--store", "dynamodb:%s/customers/" % BENCH_TABLE], ("Scan", "GetItem")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    parallel = sys.argv[2] if len(sys.argv) > 2 else "8"
    store = sys.argv[3] if len(sys.argv) > 3 else "aws-sm"
    if store not in ("aws-sm", "dynamodb"):
        sys.exit("STORE: aws-sm or dynamodb, not %r" % store)
    work = tempfile.mkdtemp(prefix="bench-certfetch-all-")
    try:
        with FakeAws() as fake:
            start = time.monotonic()
            location, (list_call, read_call) = seed(fake, store, count)
            print("seeded %d bundles (%s) in %.1f s" % (count, store, time.monotonic() - start))
            out = os.path.join(work, "certs")
            cmd = [CERTFETCH, "--all", *location, "--out", out, "--reload", "true", "--parallel", parallel]
            env = fake.env()
            first, line1 = timed(cmd, env)
            second, line2 = timed(cmd, env)
            written = sum(1 for n in os.listdir(out) if not n.startswith("."))
            print("certfetch --all (%s) --parallel %s, %d bundles, all written:   %.2f s  (%s)"
                  % (store, parallel, count, first, line1))
            print("certfetch --all (%s) --parallel %s, %d bundles, none changed:  %.2f s  (%s)"
                  % (store, parallel, count, second, line2))
            print("folders: %d; %s calls: %d; %s calls: %d"
                  % (written, list_call, len(fake.calls(list_call)), read_call, len(fake.calls(read_call))))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
