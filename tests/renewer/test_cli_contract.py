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

    def refusing_port(self):
        """A port bound but not listening: a connection is refused at once."""
        refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(refusing.close)
        refusing.bind(("127.0.0.1", 0))
        return refusing.getsockname()[1]

    def offline_aws_env(self):
        """AWS settings that keep every AWS request on 127.0.0.1 (a port that
        refuses), should a check fail and the run go on: no instance metadata,
        no profile files, no region."""
        none = os.path.join(self.tmp.name, "no-such-aws-file")
        return {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.refusing_port()}", "AWS_CONFIG_FILE": none,
                "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true"}

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

    # ---- every provider, store and replacement setting is checked before the CA ----
    def test_exec_path_that_is_no_program_stops_before_the_ca(self):
        missing = os.path.join(self.tmp.name, "no-such-hook")
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", self.ca.url,
                              "--dns", "exec", "--exec-path", missing)
        self.assert_usage_error(result, f'--exec-path: "{missing}" is not an executable file')
        config = self.write_config({"server": self.ca.url, "certificates": [
            {"domains": ["example.com"], "store": "dir:" + self.out,
             "dns": {"provider": "exec", "exec_path": "no-such-dns-hook"}}]})
        self.assert_usage_error(self.renewer("run", "--config", config),
                                'certificates[0].dns.exec_path: "no-such-dns-hook" is not an executable file on PATH')

    def test_tsig_key_that_is_no_dns_name_stops_before_the_ca(self):
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", self.ca.url,
                              "--dns", "rfc2136", "--rfc2136-server", "127.0.0.1:53", "--rfc2136-tsig-key", "a..b.",
                              env={"RFC2136_TSIG_SECRET": "c2VjcmV0c2VjcmV0c2VjcmV0"})
        self.assert_usage_error(result, "--rfc2136-tsig-key: not a DNS name: empty label")

    # ---- secret names and ids ----------------------------------------------------
    def test_dot_ids_are_refused(self):
        for name in (".", ".."):
            config = self.write_config({"server": self.ca.url, "certificates": [
                {"name": name, "domains": ["example.com"], "store": "dir:" + self.out + "/{name}"}]})
            self.assert_usage_error(self.renewer("run", "--config", config),
                                    f'certificates[0].name: "{name}" is not a certificate id')

    def test_a_store_on_another_certificates_lease_is_refused(self):
        config = self.write_config({"server": self.ca.url, "certificates": [
            {"name": "a", "domains": ["a.example.com"], "store": "aws-sm:certs/a"},
            {"name": "b", "domains": ["b.example.com"], "store": "aws-sm:certs/a-lock"}]})
        self.assert_usage_error(self.renewer("run", "--config", config, env=self.offline_aws_env()),
                                'certificates[1].store: "aws-sm:certs/a-lock" is the lease secret of certificates[0]')
        config = self.write_config({"server": self.ca.url, "account_store": "aws-sm:certs/a-lock",
                                    "certificates": [{"name": "a", "domains": ["a.example.com"],
                                                      "store": "aws-sm:certs/a"}]})
        self.assert_usage_error(self.renewer("run", "--config", config, env=self.offline_aws_env()),
                                'account_store: "aws-sm:certs/a-lock" is the lease secret of certificates[0]')

    def test_eab_hmac_key_on_the_command_line_warns(self):
        # The CA refuses at once and the run ends (exit 1).
        server = f"https://127.0.0.1:{self.refusing_port()}/dir"
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", server,
                              "--eab-kid", "kid", "--eab-hmac-key", "c2VjcmV0c2VjcmV0c2VjcmV0")
        self.assertIn("--eab-hmac-key puts a secret on the command line", result.stderr)
        self.assertIn("prefer ACME_EAB_HMAC_KEY or a file named by the configuration's eab.hmac_key_file",
                      result.stderr)
        self.assertNotIn("c2VjcmV0c2VjcmV0c2VjcmV0", result.stderr)


    def test_no_aws_region_says_which_is_used(self):
        # Every AWS and CA address refuses at once; the plan fails reading the store (exit 1).
        env = self.offline_aws_env()
        local = env["AWS_ENDPOINT_URL"].removeprefix("http://")
        args = ["plan", "-d", "example.com", "--store", "aws-sm:certs/example", "--server", "https://" + local]
        unset = self.renewer(*args, env=env)
        self.assertIn("no AWS region set (AWS_REGION, AWS_DEFAULT_REGION or the profile's region); using us-east-1",
                      unset.stderr)
        set_ = self.renewer(*args, env={**env, "AWS_REGION": "eu-west-1"})
        self.assertNotIn("no AWS region set", set_.stderr)
        local_only = self.renewer("plan", "-d", "example.com", "--out", self.out, "--server", "https://" + local,
                                  env=env)
        self.assertNotIn("no AWS region set", local_only.stderr)


    # ---- waste nothing before failing ------------------------------------------------
    def test_a_spool_that_cannot_be_created_stops_before_the_ca(self):
        blocker = os.path.join(self.tmp.name, "a-file")
        open(blocker, "w").close()
        spool = os.path.join(blocker, "spool")
        args = ["run", "-d", "example.com", "--out", self.out, "--server", self.ca.url]
        self.assert_usage_error(self.renewer(*args, env={"RENEWER_SPOOL_DIR": spool}),
                                f"RENEWER_SPOOL_DIR: the spool folder {spool}: cannot be created: "
                                f"{blocker} is not a folder")
        self.assert_usage_error(self.renewer(*args, "--spool-dir", spool), f"--spool-dir: the spool folder {spool}")
        # The DNS journal lives beside the spool and is checked as well.
        journal_parent = os.path.join(self.tmp.name, "state")
        os.makedirs(journal_parent)
        open(os.path.join(journal_parent, "spool-dns-journal"), "w").close()
        self.assert_usage_error(
            self.renewer(*args, "--spool-dir", os.path.join(journal_parent, "spool")),
            f"the spool folder {journal_parent}/spool-dns-journal: {journal_parent}/spool-dns-journal is not a folder")

    def test_a_user_without_home_and_state_folder_stops_before_the_ca(self):
        # A service account (not root) with HOME unset falls back to /var/lib/renewer/spool, which it cannot create.
        if os.geteuid() != 0 and os.access("/var/lib", os.W_OK):
            self.skipTest("this user may write /var/lib")
        env = {k: v for k, v in clean_env().items() if k not in ("HOME", "STATE_DIRECTORY", "XDG_STATE_HOME")}
        out = os.path.join(self.tmp.name, "nobody-out")
        os.makedirs(out)
        os.chmod(self.tmp.name, 0o711)  # the store folder must be reachable: only the spool may stop the run
        os.chmod(out, 0o777)
        as_nobody = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None
        result = subprocess.run([RENEWER, "run", "-d", "example.com", "--out", out, "--server", self.ca.url],
                                capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
                                preexec_fn=as_nobody)
        self.assert_usage_error(result, "the spool folder /var/lib/renewer/spool: ",
                                "(set another with --spool-dir or RENEWER_SPOOL_DIR)")

    def test_a_deadline_too_short_for_any_order_says_so_at_start(self):
        result = self.renewer("run", "-d", "example.com", "--out", self.out, "--server", self.ca.url,
                              "--deadline", "40")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("--deadline 40: no order can start (20 s are kept for the clean-up and an order starts only "
                      "with 30 s left)", result.stderr)
        self.assertIn("give at least 50", result.stderr)
        self.assertEqual(self.ca.connections(), 0)
        enough = self.renewer("run", "-d", "example.com", "--out", self.out,
                              "--server", f"https://127.0.0.1:{self.refusing_port()}/dir", "--deadline", "50")
        self.assertNotIn("no order can start", enough.stderr)


    def test_a_plan_with_nothing_stored_does_not_contact_the_ca(self):
        result = self.renewer("plan", "-d", "example.com", "--out", self.out, "--server", self.ca.url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no certificate stored", result.stdout)
        self.assertEqual(self.ca.connections(), 0, "renewal information is asked only about a stored certificate")


if __name__ == "__main__":
    unittest.main()
