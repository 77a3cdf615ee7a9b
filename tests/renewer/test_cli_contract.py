"""The command-line contract of `renewer` (docs/configuration.md), checked on the binary.

Flags beat the configuration file for every setting; environment variables the
docs list are read and checked; extra words, unknown flags and bad values are
exit 2 with a message naming what the user wrote, before any network call (a
listening socket stands in for the CA and must see no connection).

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v test_cli_contract
"""

import json
import os
import select
import socket
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
RENEWER = os.path.join(BUILD_DIR, "bin", "renewer")

# Variables that would change what the binary reads; the tests set their own.
_SETTINGS_PREFIXES = ("ACME_", "AWS_", "RFC2136_", "EXEC_", "RENEWER_")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
    env.update(extra)
    return env


class Listener:
    """A TCP socket on 127.0.0.1 that counts connections (the would-be CA)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}/dir"

    def connections(self):
        count = 0
        while select.select([self.sock], [], [], 0)[0]:
            conn, _ = self.sock.accept()
            conn.close()
            count += 1
        return count

    def close(self):
        self.sock.close()


class CliContract(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="renewer-cli-")
        self.addCleanup(self.tmp.cleanup)
        self.ca = Listener()
        self.addCleanup(self.ca.close)
        self.out = os.path.join(self.tmp.name, "out")

    def renewer(self, *args, env=None):
        # The spool and its DNS journal go to the test's folder, not /var/lib or /tmp.
        base = clean_env(RENEWER_SPOOL_DIR=os.path.join(self.tmp.name, "spool"))
        base.update(env or {})
        return subprocess.run([RENEWER, *args], capture_output=True, text=True, timeout=60, env=base,
                              stdin=subprocess.DEVNULL)

    def assert_usage_error(self, result, *fragments):
        self.assertEqual(result.returncode, 2, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertEqual(self.ca.connections(), 0, "a configuration error must stop before any network call")

    def write_config(self, document):
        path = os.path.join(self.tmp.name, "renewer.json")
        with open(path, "w") as f:
            json.dump(document, f)
        return path

    def test_no_arguments_prints_usage_to_stderr(self):
        result = self.renewer()
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, "")
        self.assertIn("Usage: renewer COMMAND", result.stderr)

    def test_flags_beat_the_config_file(self):
        config = self.write_config({"defaults": {"store": "aws-sm:certs/{name}"},
                                    "certificates": [{"domains": ["example.com"]}]})
        # A plan asks the CA for renewal information: a port bound but not
        # listening refuses at once, and the plan goes on with the lifetime rule.
        refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(refusing.close)
        refusing.bind(("127.0.0.1", 0))
        server = f"https://127.0.0.1:{refusing.getsockname()[1]}/dir"
        result = self.renewer("plan", "--config", config, "--out", self.out, "--key-type", "rsa2048",
                              "--server", server, "--log-format", "json")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        stores = [line["store"] for line in lines if "store" in line]
        self.assertEqual(stores, ["dir:" + self.out])

    def test_extra_words_are_an_error(self):
        result = self.renewer("plan", "-d", "example.com", "--out", self.out, "extra.example.com",
                              "--server", self.ca.url)
        self.assert_usage_error(result, "unexpected argument 'extra.example.com'")

    def test_version_after_the_subcommand(self):
        for command in ("run", "plan", "dns-test"):
            result = self.renewer(command, "--version")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(result.stdout.startswith("renewer "), result.stdout)

    def test_plan_help_lists_no_run_only_flags(self):
        plan = self.renewer("plan", "--help").stdout
        run = self.renewer("run", "--help").stdout
        for flag in ("--dry-run", "--deploy-hook", "--replace", "--dns-timeout", "--reuse-key", "--deadline"):
            self.assertNotIn(flag, plan)
            self.assertIn(flag, run)
        for flag in ("--config", "--force", "--key-type", "--store", "--server"):
            self.assertIn(flag, plan)

    def test_messages_name_the_flag(self):
        common = ["-d", "example.com", "--out", self.out, "--server", self.ca.url]
        self.assert_usage_error(self.renewer("run", *common, "--timeout", "abc"),
                                "--timeout: 'abc' is not a whole number")
        self.assert_usage_error(
            self.renewer("run", *common, "--dns", "rfc2136", "--rfc2136-server", "127.0.0.1:53",
                         "--rfc2136-ttl=-5"),
            "--rfc2136-ttl: must be between 1 and 86400, got -5")
        self.assert_usage_error(self.renewer("run", *common, "--concurrency", "0"),
                                "--concurrency: must be between 1 and 64, got 0")

    def test_unknown_flag_points_to_help(self):
        self.assert_usage_error(self.renewer("run", "--colour"), "see renewer run --help")

    def test_missing_config_file_is_named_once(self):
        missing = os.path.join(self.tmp.name, "nonexistent.json")
        result = self.renewer("run", "--config", missing)
        self.assert_usage_error(result, missing)
        self.assertEqual(result.stderr.count(missing), 1, result.stderr)

    def test_malformed_server_url(self):
        for url in ("http://acme.example/dir", "https://", "https:// spaced"):
            self.assert_usage_error(self.renewer("run", "-d", "example.com", "--out", self.out, "--server", url),
                                    "is not an https:// URL")

    def test_environment_settings_are_read_and_checked(self):
        args = ["run", "-d", "example.com", "--out", self.out, "--server", self.ca.url]
        self.assert_usage_error(
            self.renewer(*args, "--dns", "rfc2136", "--rfc2136-server", "127.0.0.1:53",
                         env={"RFC2136_TTL": "notanumber"}),
            "RFC2136_TTL: 'notanumber' is not a whole number")
        self.assert_usage_error(self.renewer(*args, env={"AWS_ROUTE53_REQUESTS_PER_SECOND": "notanumber"}),
                                "AWS_ROUTE53_REQUESTS_PER_SECOND: 'notanumber' is not a number")

    def test_tsig_key_without_secret_stops_before_the_ca(self):
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", self.ca.url,
                              "--dns", "rfc2136", "--rfc2136-server", "127.0.0.1:53", "--rfc2136-tsig-key", "k.")
        self.assert_usage_error(result, "--rfc2136-tsig-key: needs --rfc2136-tsig-secret-file or RFC2136_TSIG_SECRET")

    def test_a_flag_of_another_provider_is_an_error(self):
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", self.ca.url,
                              "--rfc2136-server", "127.0.0.1:53")
        self.assert_usage_error(result, "--rfc2136-server: not used by provider route53")


if __name__ == "__main__":
    unittest.main()
