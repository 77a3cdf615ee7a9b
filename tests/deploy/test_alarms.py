"""Alarms match the metrics the code emits (docs/operations.md#alarms).

1. renewer/metrics.hpp's k_emitted_metrics (the one table of the metrics in
   the run's report lines; tests/e2e/test_metrics.py proves the binary emits
   exactly these, valid EMF) is read here.
2. deploy/cloudformation.yaml, evaluated for both modes, with and without an
   e-mail address, with the default and another namespace: every alarm names a
   metric of the table in the namespace the template passes to
   `--metrics-namespace`, with the table's dimensions, an evaluation range
   CloudWatch accepts, and the SNS topic as its action; the three alarms the
   job needs exist (expiry under AlarmDaysBeforeExpiry days, a failed run, two
   days without a successful run with missing data breaching); in ecs mode the
   log group's metric filters make each alarmed metric from the summary line.
3. Mutations (an unknown metric, another namespace, a dimension the code does
   not set) are reported: the checker can fail.
"""

import copy
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cfn  # noqa: E402
from test_policy import TEMPLATE, scenario_parameters  # noqa: E402

SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
METRICS_HPP = os.path.join(SOURCE_DIR, "renewer", "metrics.hpp")
SEVEN_DAYS = 7 * 86400  # PutMetricAlarm: Period x EvaluationPeriods for periods of an hour or more
STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}


def metrics_table():
    """({name: (unit, scope)}, default namespace, certificate dimension) from renewer/metrics.hpp."""
    with open(METRICS_HPP, encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r'MetricRow\{"(\w+)", "([\w/]+)", "(\w+)",', text)
    namespace = re.search(r'k_default_namespace = "([^"]+)"', text)
    dimension = re.search(r'k_certificate_dimension = "([^"]+)"', text)
    if not rows or not namespace or not dimension:
        raise AssertionError("renewer/metrics.hpp: table, namespace or dimension not found")
    return {n: (u, s) for n, u, s in rows}, namespace.group(1), dimension.group(1)


def of_type(resources, kind):
    return {k: v["Properties"] for k, v in resources.items() if v["Type"] == kind}


def command_of(resources, mode):
    if mode == "lambda":
        return resources["Function"]["Properties"]["ImageConfig"]["Command"]
    return resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]


def flag_value(command, flag):
    return command[command.index(flag) + 1] if flag in command else None


def check_alarms(resources, mode, where):
    """Problems of one evaluated template (empty list: fine)."""
    table, default_namespace, dimension = metrics_table()
    problems = []
    namespace = flag_value(command_of(resources, mode), "--metrics-namespace") or default_namespace
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for name, a in alarms.items():
        metric = a.get("MetricName")
        if metric not in table:
            problems.append(f"{where}: {name} alarms on {metric!r}, which the code does not emit")
            continue
        if a.get("Namespace") != namespace:
            problems.append(f"{where}: {name} looks in namespace {a.get('Namespace')!r}, the run writes {namespace!r}")
        wanted = [] if table[metric][1] == "run" else [dimension]
        given = sorted(d["Name"] for d in a.get("Dimensions", []))
        if given != wanted:
            problems.append(f"{where}: {name} dimensions {given}, the code emits {metric} with {wanted}")
        period, periods = int(a.get("Period", 0)), int(a.get("EvaluationPeriods", 0))
        if period % 60 or period < 60 or period * periods > SEVEN_DAYS:
            problems.append(f"{where}: {name} period {period} x {periods}: CloudWatch refuses it")
        if a.get("Statistic") not in STATISTICS:
            problems.append(f"{where}: {name} statistic {a.get('Statistic')!r}")
        if "AlarmTopic" not in a.get("AlarmActions", []):
            problems.append(f"{where}: {name} does not notify the alarm topic")
    filters = of_type(resources, "AWS::Logs::MetricFilter")
    made = set()
    for name, f in filters.items():
        for t in f["MetricTransformations"]:
            if t["MetricName"] not in table or table[t["MetricName"]][1] != "run":
                problems.append(f"{where}: {name} makes {t['MetricName']!r}, not a run metric of the table")
            if t["MetricNamespace"] != namespace or t["MetricValue"] != "$." + t["MetricName"]:
                problems.append(f"{where}: {name} writes {t['MetricNamespace']}/{t['MetricValue']}")
            if "$.summary IS TRUE" not in f["FilterPattern"] or "$." + t["MetricName"] not in f["FilterPattern"]:
                problems.append(f"{where}: {name} pattern does not select the summary line's {t['MetricName']}")
            made.add(t["MetricName"])
    alarmed = {a.get("MetricName") for a in alarms.values()}
    if mode == "ecs" and alarmed - made:
        problems.append(f"{where}: no metric filter makes {sorted(alarmed - made)} (awslogs does not extract EMF)")
    if mode == "lambda" and filters:
        problems.append(f"{where}: metric filters in lambda mode would count each metric twice")
    return problems


def alarm_on(resources, metric):
    found = [a for a in of_type(resources, "AWS::CloudWatch::Alarm").values() if a.get("MetricName") == metric]
    return found[0] if len(found) == 1 else None


class AlarmsMatchTheCode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = cfn.load(TEMPLATE)

    def evaluate(self, mode, template=None, **extra):
        parameters = dict(scenario_parameters(mode, "none", False), **extra)
        return cfn.evaluate(template or self.template, parameters)["Resources"]

    def test_every_alarm_names_an_emitted_metric(self):
        count = 0
        for mode in ("lambda", "ecs"):
            for extra in ({}, {"MetricsNamespace": "Team/Certs", "AlarmEmail": "ops@example.com"}):
                with self.subTest(mode=mode, **extra):
                    resources = self.evaluate(mode, **extra)
                    self.assertEqual(check_alarms(resources, mode, mode), [])
                    count += len(of_type(resources, "AWS::CloudWatch::Alarm"))
        print(f"FIGURE alarms: {count} alarms in 4 parameter sets checked against renewer/metrics.hpp")

    def test_the_three_alarms(self):
        for mode in ("lambda", "ecs"):
            r = self.evaluate(mode, AlarmDaysBeforeExpiry="7")
            expiring = alarm_on(r, "MinDaysUntilExpiry")
            self.assertIsNotNone(expiring)
            self.assertEqual((expiring["ComparisonOperator"], float(expiring["Threshold"]), expiring["Statistic"]),
                             ("LessThanThreshold", 7.0, "Minimum"))
            failed = alarm_on(r, "Failures")
            self.assertIsNotNone(failed)
            self.assertEqual((failed["ComparisonOperator"], float(failed["Threshold"])), ("GreaterThanThreshold", 0))
            quiet = alarm_on(r, "RunSucceeded")
            self.assertIsNotNone(quiet)
            self.assertEqual(quiet["TreatMissingData"], "breaching")
            self.assertEqual(int(quiet["Period"]) * int(quiet["EvaluationPeriods"]), 2 * 86400)
            self.assertEqual(int(quiet.get("DatapointsToAlarm", quiet["EvaluationPeriods"])),
                             int(quiet["EvaluationPeriods"]))
            self.assertEqual((quiet["ComparisonOperator"], float(quiet["Threshold"])), ("LessThanThreshold", 1.0))
        self.assertEqual(alarm_on(self.evaluate("lambda"), "MinDaysUntilExpiry")["Threshold"], "14")

    def test_email_subscription_is_optional(self):
        self.assertEqual(of_type(self.evaluate("lambda"), "AWS::SNS::Subscription"), {})
        subs = of_type(self.evaluate("lambda", AlarmEmail="ops@example.com"), "AWS::SNS::Subscription")
        self.assertEqual(list(subs.values()),
                         [{"TopicArn": "AlarmTopic", "Protocol": "email", "Endpoint": "ops@example.com"}])

    def test_mutations_are_caught(self):
        def mutated(mode, change):
            t = copy.deepcopy(self.template)
            change(t["Resources"])
            return check_alarms(self.evaluate(mode, template=t), mode, mode)

        def set_prop(logical, key, value):
            return lambda res: res[logical]["Properties"].__setitem__(key, value)

        cases = {
            "unknown metric": ("lambda", set_prop("RunFailedAlarm", "MetricName", "Errors"), "does not emit"),
            "other namespace": ("lambda", set_prop("RunFailedAlarm", "Namespace", "Renewer2"), "looks in namespace"),
            "dimension": ("lambda", set_prop("NoSuccessfulRunAlarm", "Dimensions",
                                             [{"Name": "Certificate", "Value": "example.com"}]), "dimensions"),
            "too long": ("lambda", set_prop("NoSuccessfulRunAlarm", "EvaluationPeriods", 8), "refuses"),
            "filter missing": ("ecs", lambda res: res.pop("FailuresMetricFilter"), "no metric filter makes"),
        }
        for name, (mode, change, expected) in cases.items():
            with self.subTest(name):
                problems = mutated(mode, change)
                self.assertTrue(any(expected in p for p in problems), f"{name}: {problems}")


if __name__ == "__main__":
    unittest.main()
