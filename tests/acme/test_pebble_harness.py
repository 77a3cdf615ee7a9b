"""tests/harness/pebble.py works: Pebble + challtestsrv start on loopback,
serve a directory over the throwaway TLS root, hand out the issuing root,
honour EAB and alternate roots, and stop."""

import json
import os
import ssl
import unittest
import urllib.error
import urllib.request

from harness.pebble import ChallTestSrv, Pebble


class PebbleHarness(unittest.TestCase):
    def test_start_directory_root_stop(self):
        with ChallTestSrv().start() as dns, Pebble() as ca:
            ca.start(dns.dns_port, eab={"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"},
                     alternate_roots=1)
            self.assertTrue(ca.directory.startswith("https://127.0.0.1:"))
            self.assertTrue(os.path.exists(ca.ca_bundle))
            directory = json.load(ca._get(ca.directory))
            self.assertIn("newOrder", directory)
            self.assertTrue(directory["meta"]["externalAccountRequired"])
            self.assertIn("BEGIN CERTIFICATE", ca.root_pem())
            self.assertNotEqual(ca.root_pem(0), ca.root_pem(1))
            dns.set_txt("harness.example.test", "value")
            dns.clear_txt("harness.example.test")
            proc = ca.proc
        self.assertIsNotNone(proc.poll())

    def test_boulder_proxy_forwards_rewrites_counts_and_injects(self):
        with ChallTestSrv().start() as dns, Pebble() as ca:
            ca.start(dns.dns_port)
            proxy = ca.behind_boulder_proxy()
            ctx = ssl.create_default_context(cafile=proxy.ca_bundle)
            directory = json.load(urllib.request.urlopen(proxy.directory, context=ctx, timeout=10))
            # Every URL the client is given leads back to the proxy.
            for key in ("newNonce", "newAccount", "newOrder", "revokeCert"):
                self.assertTrue(directory[key].startswith(proxy.base + "/"), directory[key])
            proxy.set_rules(faults=[{"kind": "newNonce", "status": 503, "count": 1}])
            head = urllib.request.Request(directory["newNonce"], method="HEAD")
            with self.assertRaises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(head, context=ctx, timeout=10)
            self.assertEqual(refused.exception.code, 503)
            self.assertIsNone(refused.exception.headers.get("Retry-After"))
            answer = urllib.request.urlopen(head, context=ctx, timeout=10)
            self.assertTrue(answer.headers.get("Replay-Nonce"))
            self.assertEqual(proxy.counts(), {"newNonce": 2})
            self.assertEqual([e["status"] for e in proxy.log()], [503, 200])
        self.assertIsNone(proxy._server)  # stopped with Pebble


if __name__ == "__main__":
    unittest.main()
