"""`renewer run` with the exec provider in batch mode (docs/dns-providers.md#exec):
ten certificates in one run call the hook once to present every value and
once to remove them. The hook writes into Debian's bind9 with nsupdate, one
UPDATE per call, and Pebble validates against that bind.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_run_exec_batch.py
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import E2eCase, RENEWER, ZONE, run, write_script  # noqa: E402

# PROG present|cleanup FQDN VALUE [FQDN VALUE ...]: one nsupdate message for
# every pair, one line per call in $E2E_HOOK_LOG ("VERB PAIRS").
BATCH_NSUPDATE_HOOK = r"""#!/bin/sh
set -e
verb=$1; shift
echo "$verb $(($# / 2))" >> "$E2E_HOOK_LOG"
{
  echo "server 127.0.0.1 $E2E_NS_PORT"
  echo "zone $E2E_ZONE"
  while [ $# -ge 2 ]; do
    case $verb in
      present) echo "update add $1 60 TXT \"$2\"" ;;
      cleanup) echo "update delete $1 TXT \"$2\"" ;;
      *) echo "unknown verb $verb" >&2; exit 2 ;;
    esac
    shift 2
  done
  echo send
} | nsupdate -y "hmac-sha256:renewer-256:$E2E_NSUPDATE_SECRET"
"""


class RunExecBatch(E2eCase):
    def test_ten_certificates_one_hook_call_each_way(self):
        ns, ca, d, root = self.bind_and_pebble("exec-batch-")
        hook = write_script(d, "batch-hook", BATCH_NSUPDATE_HOOK)
        hook_log = os.path.join(d, "hook.log")
        out = os.path.join(d, "out")
        names = ["batch%d.%s" % (i, ZONE) for i in range(10)]
        dns = {"provider": "exec", "exec_path": hook, "exec_batch": 100,
               "resolver": ns.address, "nameservers": ns.address, "propagation_timeout": 60}
        config = {"defaults": {"store": "dir:%s/{name}" % out},
                  "certificates": [{"domains": [n], "dns": dns} for n in names]}
        config_path = os.path.join(d, "renewer.json")
        with open(config_path, "w") as f:
            json.dump(config, f, indent=2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(E2E_HOOK_LOG=hook_log, E2E_NS_PORT=str(ns.port), E2E_ZONE=ZONE,
                   E2E_NSUPDATE_SECRET=ns.keys["renewer-256"]["secret"])
        r = run([RENEWER, "run", "--config", config_path,
                 "--server", ca.directory, "--ca-bundle", ca.ca_bundle, "--trust-root", root,
                 "--email", "ops@example.test", "--agree-tos", "--account-file", os.path.join(d, "account.json"),
                 "--spool-dir", os.path.join(d, "spool"), "--log-format", "json",
                 # A cap for Debian's Pebble 2.4, not the default for real CAs: it deadlocks
                 # under many orders in flight (letsencrypt/pebble#554: Order() read-locks
                 # recursively).
                 "--concurrency", "4"], env=env, timeout=180)
        print("\n10 certificates through a batching exec hook (bind9): %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        for n in names:
            self.assertEqual(r.certs[n]["outcome"], "renewed", r.explain())
            self.assert_valid_files(os.path.join(out, n), [n], ca.root_pem())
        with open(hook_log) as f:
            calls = f.read().splitlines()
        print("hook calls: %s" % calls)
        self.assertEqual(calls, ["present 10", "cleanup 10"], r.explain())
        for n in names:
            self.assertEqual(ns.txt("_acme-challenge." + n), [], "TXT records left in bind")


if __name__ == "__main__":
    unittest.main(verbosity=2)
