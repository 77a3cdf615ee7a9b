"""certfetch --all (docs/customer-domains.md): three customer names issued
through Pebble into Secrets Manager (tests/fakeaws) under "customers/",
fetched into one folder per name, served by ONE nginx running the shipped
deploy/nginx/certfetch-all-snippet.conf ($ssl_server_name paths), each name
checked with `openssl s_client -servername NAME` against the stored bundle's
serial. Then one name renewed: one reload, the other folders untouched; a
corrupted bundle is skipped with its name and never replaces good files.
CertfetchAllDynamoDb runs the same over a dynamodb: table (one Scan lists it,
docs/stores.md#listing-a-table).

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_certfetch_all.py
"""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (CERTFETCH, OPENSSL, SOURCE_DIR, ZONE, E2eCase, Stack, cert_serial, norm_serial,  # noqa: E402
                        run, wait_until)
from nginx import Nginx  # noqa: E402

NAMES = ["shop." + ZONE, "blog." + ZONE, "news." + ZONE]
SNIPPET = os.path.join(SOURCE_DIR, "deploy", "nginx", "certfetch-all-snippet.conf")


class MultiNameNginx(Nginx):
    """tests/e2e/nginx.py's nginx with the shipped snippet's server block,
    moved to loopback and to this test's folder."""

    def __init__(self, cert_root, **kw):
        self.cert_root = cert_root
        super().__init__(cert_root, **kw)

    def _write_config(self):
        super()._write_config()
        with open(SNIPPET) as f:
            server = f.read()
        server = server[server.index("server {"):]
        server = server.replace("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % self.port)
        server = server.replace("listen [::]:443 ssl;\n", "")
        server = server.replace("/etc/nginx/certs/", self.cert_root + "/")
        server = re.sub(r"location / \{.*?\n    \}", 'location / { return 200 "customer $ssl_server_name\\n"; }',
                        server, flags=re.S)
        with open(self.conf) as f:
            text = f.read()
        start = text.index("    server {")
        end = text.rindex("}")  # the http block's
        with open(self.conf, "w") as f:
            f.write(text[:start] + server + "\n" + text[end:])


class CertfetchAll(E2eCase):
    # The store's spec per name, what certfetch --all is given, and the calls
    # that list it and read one bundle.
    STORE = "aws-sm:customers/{name}"
    LOCATION = ["--secret-id", "customers/"]
    LIST_CALL, READ_CALL = "ListSecrets", "GetSecretValue"

    def setUp(self):
        self.stack = Stack.start(self.addCleanup)

    def issue(self, *names, force=False):
        args = [a for n in names for a in ("--cert", n)] + ["--store", self.STORE]
        r = self.stack.renewer("run", *args, *(["--force"] if force else []), account=None)
        self.assertEqual(r.rc, 0, r.explain())
        return r

    def stored_bundle(self, name):
        secret = self.stack.secret("customers/" + name)
        current = [v for v in secret["versions"].values() if "AWSCURRENT" in v["stages"]][0]
        return json.loads(current["string"])

    def stored_serial(self, name):
        return cert_serial(self.stored_bundle(name)["certificate"])

    def served_serial(self, web, name):
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % web.port, "-servername", name,
                            "-CAfile", self.stack.root_file, "-verify_return_error", "-verify_hostname", name],
                           input="", capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, "openssl s_client -servername %s: %s\n%s" % (name, p.stderr[-2000:],
                                                                                        web.error_log()))
        pem = p.stdout[p.stdout.index("-----BEGIN CERTIFICATE-----"):p.stdout.index("-----END CERTIFICATE-----") + 25]
        return cert_serial(pem + "\n")

    def certfetch_all(self, out, *extra):
        return run([CERTFETCH, "--all", *self.LOCATION, "--out", out, *extra],
                   env=self.stack.env(), timeout=120)

    def test_three_names_one_nginx(self):
        self.corrupted_bundles_are_skipped(*self.serve_renew_and_poll())

    def serve_renew_and_poll(self):
        """Three names served, one renewed, a poll with nothing new."""
        s = self.stack
        self.issue(*NAMES)
        out = os.path.join(self.tmpdir("fleet-"), "certs")
        first_reloads = os.path.join(self.tmpdir("reloads-"), "first")
        f1 = self.certfetch_all(out, "--reload", "echo reload >> " + first_reloads)
        self.assertEqual(f1.rc, 0, f1.explain())
        with open(first_reloads) as f:
            self.assertEqual(f.read().split(), ["reload"], "three folders written, one reload")
        self.assertEqual(sorted(n for n in os.listdir(out) if not n.startswith(".")), sorted(NAMES))
        web = MultiNameNginx(out)
        self.addCleanup(web.stop)
        for name in NAMES:
            self.assert_valid_files(os.path.join(out, name), [name], s.root_pem())
            self.assertEqual(self.served_serial(web, name), self.stored_serial(name), name)

        # One name renewed: one reload; the other folders keep their version.
        marker = os.path.join(self.tmpdir("reloads-"), "reloads")
        reload_cmd = "echo reload >> %s && %s" % (marker, web.reload_command())
        before = {n: os.readlink(os.path.join(out, n, "live")) for n in NAMES}
        old_serial = self.stored_serial(NAMES[0])
        self.issue(NAMES[0], force=True)
        self.assertNotEqual(self.stored_serial(NAMES[0]), old_serial)
        f2 = self.certfetch_all(out, "--reload", reload_cmd)
        self.assertEqual(f2.rc, 0, f2.explain())
        with open(marker) as f:
            self.assertEqual(f.read().split(), ["reload"])
        after = {n: os.readlink(os.path.join(out, n, "live")) for n in NAMES}
        self.assertNotEqual(after[NAMES[0]], before[NAMES[0]])
        self.assertEqual([after[n] for n in NAMES[1:]], [before[n] for n in NAMES[1:]])
        new_serial = self.stored_serial(NAMES[0])
        wait_until(lambda: self.served_serial(web, NAMES[0]) == new_serial, 15, "nginx to serve the new serial")
        for name in NAMES[1:]:
            self.assertEqual(self.served_serial(web, name), self.stored_serial(name), name)

        # Nothing new: no reload, and no bundle read (the listing's versions
        # match OUT/NAME/.certfetch-version).
        s.fake.clear_calls()
        f3 = self.certfetch_all(out, "--reload", reload_cmd)
        self.assertEqual(f3.rc, 0, f3.explain())
        with open(marker) as f:
            self.assertEqual(f.read().split(), ["reload"])
        self.assertEqual((len(s.fake.calls(self.LIST_CALL)), len(s.fake.calls(self.READ_CALL))), (1, 0))
        # Another --mode is applied although no version changed (in place: no reload).
        f3b = self.certfetch_all(out, "--reload", reload_cmd, "--mode", "0640")
        self.assertEqual(f3b.rc, 0, f3b.explain())
        for name in NAMES:
            self.assertEqual(os.stat(os.path.join(out, name, "privkey.pem")).st_mode & 0o777, 0o640, name)
        with open(marker) as f:
            self.assertEqual(f.read().split(), ["reload"])
        return out, web, marker, reload_cmd, after

    def corrupted_bundles_are_skipped(self, out, web, marker, reload_cmd, after):
        s = self.stack
        # A corrupted bundle (no previous version) is skipped with its name
        # and does not stop the names after it (news is renewed meanwhile:
        # written, one reload); a corrupted AWSCURRENT of a good name never
        # replaces its good files.
        bad = "broken." + ZONE
        self.assertLess(bad, NAMES[2])  # listed before the renewed name
        self.write_bundle(bad, '{"certificate": "not a certificate"', new=True)
        good = self.stored_bundle(NAMES[1])
        other_key = self.stored_bundle(NAMES[0])["private_key"]
        good_serial = self.stored_serial(NAMES[1])
        self.write_bundle(NAMES[1], json.dumps(dict(good, private_key=other_key)))
        self.issue(NAMES[2], force=True)
        f4 = self.certfetch_all(out, "--reload", reload_cmd, "--parallel", "1")  # in name order
        self.assertEqual(f4.rc, 1, f4.explain())
        self.assertRegex(f4.stderr, r"skipped %s: .*customers/%s" % (re.escape(bad), re.escape(bad)))
        self.assertEqual(len(re.findall("skipped ", f4.stderr)), 1, f4.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, bad, "fullchain.pem")))
        final = {n: os.readlink(os.path.join(out, n, "live")) for n in NAMES}
        self.assertEqual([final[n] for n in NAMES[:2]], [after[n] for n in NAMES[:2]])
        self.assertNotEqual(final[NAMES[2]], after[NAMES[2]])
        with open(marker) as f:
            self.assertEqual(f.read().split(), ["reload", "reload"], "one reload per run that changed files")
        wait_until(lambda: self.served_serial(web, NAMES[2]) == self.stored_serial(NAMES[2]), 15,
                   "nginx to serve the renewed " + NAMES[2])
        for name in NAMES[:2]:
            self.assertEqual(self.served_serial(web, name),
                             good_serial if name == NAMES[1] else self.stored_serial(name), name)
        web.stop()

    def write_bundle(self, name, text, new=False):
        """A new current bundle `text` for `name`, written around the renewer."""
        if new:
            self.stack.fake.seed_secret("customers/" + name, string=text)
            return
        sm = self.stack.fake.client("secretsmanager")
        self.addCleanup(sm.close)
        sm.put_secret_value(SecretId="customers/" + name, SecretString=text)


class CertfetchAllDynamoDb(CertfetchAll):
    TABLE = "certs-fleet"
    STORE = "dynamodb:%s/customers/{name}" % TABLE
    LOCATION = ["--store", "dynamodb:%s/customers/" % TABLE]
    LIST_CALL, READ_CALL = "Scan", "GetItem"

    def setUp(self):
        super().setUp()
        self.ddb = self.stack.fake.client("dynamodb")
        self.addCleanup(self.ddb.close)
        self.ddb.create_table(TableName=self.TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])

    def item(self, name):
        return self.ddb.get_item(TableName=self.TABLE, ConsistentRead=True,
                                 Key={"pk": {"S": "customers/" + name}, "sk": {"S": "bundle"}}).get("Item")

    def stored_bundle(self, name):
        return json.loads(self.item(name)["bundle"]["S"])

    def write_bundle(self, name, text, new=False):
        """As the store's put does: the old bundle to previous, version + 1."""
        item = self.item(name) or {"pk": {"S": "customers/" + name}, "sk": {"S": "bundle"}, "version": {"N": "0"}}
        if "bundle" in item:
            item["previous"] = item["bundle"]
        item["bundle"] = {"S": text}
        item["version"] = {"N": str(int(item["version"]["N"]) + 1)}
        self.ddb.put_item(TableName=self.TABLE, Item=item)


if __name__ == "__main__":
    unittest.main(verbosity=2)
