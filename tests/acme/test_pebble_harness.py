"""tests/harness/pebble.py works: Pebble + challtestsrv start on loopback,
serve a directory over the throwaway TLS root, hand out the issuing root,
honour EAB and alternate roots, and stop."""

import json
import os
import unittest
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


if __name__ == "__main__":
    unittest.main()
