"""The DNS side: `dig` (bind9-dnsutils) against the fake's DNS port sees what
Route53 ChangeResourceRecordSets wrote, only once the change is INSYNC, over
UDP and TCP, with the AA bit, NXDOMAIN/NODATA + SOA, REFUSED outside our
zones, CNAME chasing and wildcards."""

import os
import re
import subprocess
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402

DIG = "/usr/bin/dig"
CHANGE_DELAY = 1.5


def dig(port, qtype, name, tcp=False):
    """(status, flags, answer, authority): the sections as lists of
    (name, ttl, type, rdata) tuples."""
    cmd = [DIG, "@127.0.0.1", "-p", str(port), "+norec", "+time=3", "+tries=2",
           "+noall", "+comments", "+answer", "+authority", qtype, name]
    if tcp:
        cmd.insert(4, "+tcp")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    status = re.search(r"status: (\w+)", out).group(1)
    flags = re.search(r";; flags: ([a-z ]+);", out).group(1).split()
    sections, current = {"ANSWER": [], "AUTHORITY": []}, None
    for line in out.splitlines():
        m = re.match(r";; (\w+) SECTION:", line)
        if m:
            current = m.group(1)
            continue
        if not line or line.startswith(";"):
            continue
        if current in sections:
            f = line.split(None, 4)
            sections[current].append((f[0], int(f[1]), f[3], f[4]))
    return status, flags, sections["ANSWER"], sections["AUTHORITY"]


def change(action, name, rtype, ttl, values):
    return {"Action": action, "ResourceRecordSet": {
        "Name": name, "Type": rtype, "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values]}}


class Dns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.fake = FakeAws(start=False)
        cls.fake.start(change_delay=CHANGE_DELAY)
        cls.r53 = cls.fake.client("route53")
        cls.port = cls.fake.dns_port
        cls.zid = cls.r53.create_hosted_zone(Name="dns.test", CallerReference="d")[
            "HostedZone"]["Id"]
        cls.other = cls.r53.create_hosted_zone(Name="target.test", CallerReference="t")[
            "HostedZone"]["Id"]
        cls.priv = cls.r53.create_hosted_zone(
            Name="private.test", CallerReference="p",
            VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-1"})["HostedZone"]["Id"]

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def apply(self, *changes, zid=None):
        """Submit a change and wait (bounded) for INSYNC, like a client must."""
        cid = self.r53.change_resource_record_sets(
            HostedZoneId=zid or self.zid, ChangeBatch={"Changes": list(changes)})["ChangeInfo"]["Id"]
        return cid, self.fake.wait_for(
            lambda: self.r53.get_change(Id=cid)["ChangeInfo"]["Status"] == "INSYNC",
            timeout=CHANGE_DELAY + 10, what="INSYNC")

    def test_txt_visible_only_after_insync(self):
        name = "_acme-challenge.dns.test"
        t0 = time.monotonic()
        cid = self.r53.change_resource_record_sets(HostedZoneId=self.zid, ChangeBatch={
            "Changes": [change("CREATE", name, "TXT", 60,
                               ['"token-1"', '"two words" "second \\"string\\""'])]})[
            "ChangeInfo"]["Id"]
        status, flags, ans, auth = dig(self.port, "TXT", name)
        if time.monotonic() - t0 < CHANGE_DELAY:
            self.assertEqual(self.r53.get_change(Id=cid)["ChangeInfo"]["Status"], "PENDING")
            self.assertEqual(status, "NXDOMAIN")
            self.assertEqual(auth[0][2], "SOA")
        self.fake.wait_for(lambda: self.r53.get_change(Id=cid)["ChangeInfo"]["Status"] == "INSYNC",
                           timeout=15, what="INSYNC")
        self.assertGreaterEqual(time.monotonic() - t0, CHANGE_DELAY - 0.1)
        for tcp in (False, True):
            status, flags, ans, auth = dig(self.port, "TXT", name, tcp=tcp)
            self.assertEqual(status, "NOERROR")
            self.assertIn("aa", flags)
            self.assertNotIn("ra", flags)
            self.assertEqual(sorted(a[3] for a in ans),
                             ['"token-1"', '"two words" "second \\"string\\""'])
            self.assertEqual({a[1] for a in ans}, {60})
        # deletion disappears after INSYNC too
        self.apply(change("DELETE", name, "TXT", 60,
                          ['"token-1"', '"two words" "second \\"string\\""']))
        self.assertEqual(dig(self.port, "TXT", name)[0], "NXDOMAIN")

    def test_negative_answers(self):
        self.apply(change("UPSERT", "host.dns.test", "A", 300, ["192.0.2.10"]),
                   change("UPSERT", "a.b.deep.dns.test", "TXT", 60, ['"x"']))
        status, flags, ans, auth = dig(self.port, "TXT", "missing.dns.test")
        self.assertEqual((status, ans), ("NXDOMAIN", []))
        self.assertIn("aa", flags)
        self.assertEqual(auth[0][0], "dns.test.")
        self.assertEqual(auth[0][2], "SOA")
        status, _, ans, auth = dig(self.port, "TXT", "host.dns.test")   # NODATA
        self.assertEqual((status, ans, auth[0][2]), ("NOERROR", [], "SOA"))
        status, _, ans, _ = dig(self.port, "TXT", "b.deep.dns.test")    # empty non-terminal
        self.assertEqual((status, ans), ("NOERROR", []))
        status, flags, ans, _ = dig(self.port, "A", "www.example.org")
        self.assertEqual(status, "REFUSED")
        self.assertNotIn("aa", flags)
        # private zones are not served
        self.apply(change("UPSERT", "x.private.test", "A", 60, ["10.0.0.1"]), zid=self.priv)
        self.assertEqual(dig(self.port, "A", "x.private.test")[0], "REFUSED")

    def test_soa_ns_and_glue(self):
        status, flags, ans, _ = dig(self.port, "NS", "dns.test")
        self.assertEqual(sorted(a[3] for a in ans), ["ns1.dns.test.", "ns2.dns.test."])
        self.assertIn("aa", flags)
        _, _, ans, _ = dig(self.port, "SOA", "dns.test", tcp=True)
        self.assertTrue(ans[0][3].startswith("ns1.dns.test. awsdns-hostmaster.amazon.com. 1 "))
        _, _, ans, _ = dig(self.port, "A", "ns1.dns.test")
        self.assertEqual(ans, [("ns1.dns.test.", 172800, "A", "127.0.0.1")])

    def test_cname_chase_and_wildcard(self):
        self.apply(change("UPSERT", "_acme-challenge.cn.dns.test", "CNAME", 300,
                          ["_acme-challenge.cn.target.test."]))
        self.apply(change("UPSERT", "_acme-challenge.cn.target.test", "TXT", 60, ['"delegated"']),
                   change("UPSERT", "*.wild.target.test", "A", 60, ["192.0.2.99"]),
                   zid=self.other)
        status, _, ans, _ = dig(self.port, "TXT", "_acme-challenge.cn.dns.test")
        self.assertEqual(status, "NOERROR")
        self.assertEqual([(a[0], a[2], a[3]) for a in ans],
                         [("_acme-challenge.cn.dns.test.", "CNAME",
                           "_acme-challenge.cn.target.test."),
                          ("_acme-challenge.cn.target.test.", "TXT", '"delegated"')])
        _, _, ans, _ = dig(self.port, "A", "any.wild.target.test")
        self.assertEqual(ans, [("any.wild.target.test.", 60, "A", "192.0.2.99")])
        self.assertEqual(dig(self.port, "A", "wild.target.test")[0], "NOERROR")  # ENT

    def test_large_answer_truncated_on_udp(self):
        values = [f'"{i:02d}' + "x" * 200 + '"' for i in range(12)]
        self.apply(change("UPSERT", "big.dns.test", "TXT", 60, values))
        cmd = [DIG, "@127.0.0.1", "-p", str(self.port), "+norec", "+time=3", "+tries=2",
               "+ignore", "+bufsize=1232", "TXT", "big.dns.test"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        self.assertRegex(out, r"flags: qr tc aa|flags: qr aa tc")
        status, _, ans, _ = dig(self.port, "TXT", "big.dns.test")  # dig retries over TCP
        self.assertEqual(sorted(a[3] for a in ans), sorted(values))

    def test_records_view_matches_dns(self):
        self.apply(change("UPSERT", "v.dns.test", "TXT", 60, ['"v"']))
        api = self.fake.records(self.zid.split("/")[-1])
        served = self.fake.records(self.zid.split("/")[-1], published=True)
        self.assertEqual(api, served)
        self.assertIn({"Name": "v.dns.test.", "Type": "TXT", "TTL": 60, "Values": ['"v"']}, api)
        # the harness's resolver helper speaks Route53's TXT notation
        self.apply(change("UPSERT", "h.dns.test", "TXT", 60, ['"a b" "c"', '"q\\"x"']))
        for tcp in (False, True):
            self.assertEqual(self.fake.dns_query("h.dns.test", tcp=tcp),
                             ("NOERROR", ['"a b" "c"', '"q\\"x"']))
        self.assertEqual(self.fake.dns_query("nope.dns.test"), ("NXDOMAIN", []))
        self.assertEqual(self.fake.dns_query("x.example.org", "A"), ("REFUSED", []))


if __name__ == "__main__":
    unittest.main()
