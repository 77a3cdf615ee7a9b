"""CloudWatch metrics in the Embedded Metric Format (docs/operations.md#metrics):
the real `renewer run` against Pebble and tests/fakeaws, its JSON report lines
parsed and checked against the structure the EMF specification gives
(validate_emf below, written from the specification, not from our code).

Covered: a renewal, a run with nothing due and a run with a refused name each
carry per-certificate DaysUntilExpiry / RenewalSucceeded / RenewalFailed
(dimension Certificate) and per-run RunDuration, CertificatesDue,
OrdersPlaced, Failures, MinDaysUntilExpiry, RunSucceeded with the values the
run had; the names emitted are exactly renewer/metrics.hpp's table;
--metrics-namespace sets the namespace, --no-metrics and `renewer plan` emit
none, a namespace CloudWatch refuses is a usage error (exit 2).

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_metrics.py
"""

import calendar
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import E2eCase, SOURCE_DIR, Stack, ZONE  # noqa: E402

BLOCKED = "forbidden.test"  # refused by Pebble's policy at newOrder (see test_run_route53.py)
METRICS_HPP = os.path.join(SOURCE_DIR, "renewer", "metrics.hpp")

# The CloudWatch standard units (MetricDatum.Unit, the EMF specification's
# MetricDefinition "Unit").
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_emf(doc, now_ms, skew_ms=300_000):
    """Problems of one EMF document (the specification's "Root node",
    "Metadata object", "MetricDirective object", "MetricDefinition object"
    and "Target members"); [] when valid."""
    problems = []
    if len(json.dumps(doc)) > 256 * 1024:
        problems.append("larger than a log event may be")
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        return ["_aws is not an object"]
    if set(aws) - {"Timestamp", "CloudWatchMetrics", "LogGroupName"}:
        problems.append("_aws has extra members %s" % sorted(set(aws)))
    ts = aws.get("Timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        problems.append("Timestamp is not an integer: %r" % (ts,))
    elif abs(ts - now_ms) > skew_ms:
        problems.append("Timestamp %d is not milliseconds near now (%d)" % (ts, now_ms))
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return problems + ["CloudWatchMetrics is not a non-empty array"]
    for d in directives:
        if not isinstance(d, dict) or set(d) != {"Namespace", "Dimensions", "Metrics"}:
            problems.append("directive members are not Namespace, Dimensions, Metrics: %r" % (d,))
            continue
        ns = d["Namespace"]
        if not isinstance(ns, str) or not ns or len(ns) > 255 or ns.startswith(":"):
            problems.append("bad Namespace %r" % (ns,))
        if not isinstance(d["Dimensions"], list):
            problems.append("Dimensions is not an array")
        for dset in d["Dimensions"] if isinstance(d["Dimensions"], list) else []:
            if not isinstance(dset, list) or len(dset) > 30:
                problems.append("bad DimensionSet %r" % (dset,))
                continue
            for key in dset:
                if not isinstance(key, str) or not isinstance(doc.get(key), str):
                    problems.append("dimension %r is not a top-level string member" % (key,))
                elif not doc[key] or len(doc[key]) > 1024:
                    problems.append("dimension %r has a value CloudWatch refuses" % key)
        metrics = d["Metrics"]
        if not isinstance(metrics, list) or not metrics or len(metrics) > 100:
            problems.append("Metrics is not an array of 1-100 definitions")
            continue
        for m in metrics:
            if not isinstance(m, dict) or set(m) - {"Name", "Unit", "StorageResolution"}:
                problems.append("bad MetricDefinition %r" % (m,))
                continue
            name = m.get("Name")
            if not isinstance(name, str) or not name or len(name) > 255:
                problems.append("bad metric Name %r" % (name,))
                continue
            if "Unit" in m and m["Unit"] not in UNITS:
                problems.append("%s: unit %r is not a CloudWatch unit" % (name, m["Unit"]))
            if "StorageResolution" in m and m["StorageResolution"] not in (1, 60):
                problems.append("%s: StorageResolution %r" % (name, m["StorageResolution"]))
            value = doc.get(name)
            ok = is_number(value) or (isinstance(value, list) and 0 < len(value) <= 100 and
                                      all(is_number(v) for v in value))
            if not ok:
                problems.append("metric %s is not a top-level number: %r" % (name, value))
    return problems


def metrics_table():
    """{name: (unit, scope)} parsed from renewer/metrics.hpp's k_emitted_metrics."""
    with open(METRICS_HPP) as f:
        text = f.read()
    rows = re.findall(r'MetricRow\{"(\w+)", "([\w/]+)", "(\w+)",', text)
    if not rows:
        raise AssertionError("renewer/metrics.hpp: no MetricRow rows found")
    return {name: (unit, scope) for name, unit, scope in rows}


def emf_lines(result):
    return [l for l in result.lines if "_aws" in l]


def metric_names(line):
    return {m["Name"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def days_until(not_after, now):
    return (calendar.timegm(time.strptime(not_after, "%Y-%m-%dT%H:%M:%SZ")) - now) / 86400.0


class Metrics(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls, blocklist=[BLOCKED])

    def check_valid(self, result):
        """Every line with _aws is a valid EMF document; returns them."""
        now_ms = int(time.time() * 1000)
        lines = emf_lines(result)
        for line in lines:
            self.assertEqual(validate_emf(line, now_ms), [], json.dumps(line))
        return lines

    def check_table(self, line, seen):
        table = metrics_table()
        for d in line["_aws"]["CloudWatchMetrics"]:
            for m in d["Metrics"]:
                self.assertIn(m["Name"], table, "emitted but not in renewer/metrics.hpp")
                unit, scope = table[m["Name"]]
                self.assertEqual(m.get("Unit"), unit, m["Name"])
                self.assertEqual(d["Dimensions"], [["Certificate"]] if scope == "certificate" else [[]], m["Name"])
                seen.add(m["Name"])

    def test_renewal_nothing_due_and_failure(self):
        s = self.stack
        name = "metrics." + ZONE
        store = "dir:" + self.tmpdir("store-")
        seen = set()

        r1 = s.renewer("run", "-d", name, "--store", store, account="metrics")
        self.assertEqual(r1.rc, 0, r1.explain())
        lines = self.check_valid(r1)
        self.assertEqual(len(lines), 2, r1.explain())  # the certificate line and the summary
        cert, summary = r1.certs[name], r1.summary
        self.assertIn("_aws", cert)
        self.assertIn("_aws", summary)
        for line in lines:
            self.check_table(line, seen)
        self.assertEqual(cert["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Renewer")
        self.assertEqual(cert["Certificate"], name)
        self.assertAlmostEqual(cert["DaysUntilExpiry"], days_until(cert["not_after"], time.time()), delta=0.05)
        self.assertEqual((cert["RenewalSucceeded"], cert["RenewalFailed"]), (1, 0))
        self.assertEqual((summary["CertificatesDue"], summary["OrdersPlaced"], summary["Failures"],
                          summary["RunSucceeded"]), (1, 1, 0, 1), r1.explain())
        self.assertEqual(summary["MinDaysUntilExpiry"], cert["DaysUntilExpiry"])
        self.assertEqual(summary["RunDuration"], summary["duration_ms"])

        # Nothing due: the expiry still reported, nothing ordered.
        r2 = s.renewer("run", "-d", name, "--store", store, account="metrics")
        self.assertEqual(r2.rc, 0, r2.explain())
        for line in self.check_valid(r2):
            self.check_table(line, seen)
        cert2, summary2 = r2.certs[name], r2.summary
        self.assertEqual(cert2["outcome"], "not due")
        self.assertEqual((cert2["RenewalSucceeded"], cert2["RenewalFailed"]), (0, 0))
        self.assertGreater(cert2["DaysUntilExpiry"], 1)
        self.assertEqual((summary2["CertificatesDue"], summary2["OrdersPlaced"], summary2["Failures"],
                          summary2["RunSucceeded"]), (0, 0, 0, 1), r2.explain())

        # A refused name beside the stored one: one failure, the run failed,
        # the smallest expiry is still the stored certificate's.
        r3 = s.renewer("run", "--cert", name, "--cert", BLOCKED, "--store", "dir:%s/{name}" % self.tmpdir("st-"),
                       "--metrics-namespace", "Team/Certs", account="metrics")
        self.assertEqual(r3.rc, 1, r3.explain())
        for line in self.check_valid(r3):
            self.check_table(line, seen)
            self.assertEqual(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Team/Certs")
        failed, summary3 = r3.certs[BLOCKED], r3.summary
        self.assertEqual((failed["RenewalSucceeded"], failed["RenewalFailed"]), (0, 1))
        self.assertNotIn("DaysUntilExpiry", failed)  # nothing stored, no expiry to report
        self.assertNotIn("DaysUntilExpiry", metric_names(failed))
        self.assertEqual((summary3["CertificatesDue"], summary3["OrdersPlaced"], summary3["Failures"],
                          summary3["RunSucceeded"]), (2, 2, 1, 0), r3.explain())
        self.assertEqual(summary3["MinDaysUntilExpiry"], r3.certs[name]["DaysUntilExpiry"])

        self.assertEqual(seen, set(metrics_table()), "metrics in the table that no run emitted")

    def test_off_for_no_metrics_plan_and_text(self):
        s = self.stack
        name = "quiet." + ZONE
        store = "dir:" + self.tmpdir("store-")
        r = s.renewer("run", "-d", name, "--store", store, "--no-metrics", account="metrics")
        self.assertEqual(r.rc, 0, r.explain())
        self.assertTrue(r.lines, r.explain())
        self.assertEqual(emf_lines(r), [], r.explain())
        p = s.renewer("plan", "-d", name, "--store", store, account="metrics")
        self.assertEqual(p.rc, 0, p.explain())
        self.assertTrue(p.lines, p.explain())
        self.assertEqual(emf_lines(p), [], "a plan is not a run: no metrics")
        # The configuration file and the environment can turn them off too.
        r = s.renewer("run", "-d", name, "--store", store, env=s.env(RENEWER_METRICS="false"), account="metrics")
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(emf_lines(r), [], r.explain())

    def test_bad_namespace_is_a_usage_error(self):
        s = self.stack
        for bad in ("AWS/Lambda", ":x", "a|b", " "):
            r = s.renewer("run", "-d", "bad." + ZONE, "--out", self.tmpdir(), "--metrics-namespace", bad)
            self.assertEqual(r.rc, 2, r.explain())
            self.assertIn("--metrics-namespace", r.stderr)
            self.assertIn("CloudWatch namespace", r.stderr)


if __name__ == "__main__":
    unittest.main()
