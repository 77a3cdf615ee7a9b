#!/usr/bin/python3
"""The two figures of a customer-domain fleet from one run
(docs/stores.md#reading-many-certificates, docs/customer-domains.md):

  * renewer over N certificates in DynamoDB where nothing is due
    (bench/dynamodb_nothing_due.py: run time, calls, read units and cost);
  * certfetch --all fetching N certificates into an empty folder, then again
    with nothing changed (tests/e2e/bench_certfetch_all.py).

  BUILD_DIR=build SOURCE_DIR=. PYTHONPATH=tests /usr/bin/python3 bench/fleet_scale.py [N]

Prints the load average beside the figures: on a shared machine the wall
times follow it.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(script, count):
    env = dict(os.environ)
    env.setdefault("BUILD_DIR", os.path.join(ROOT, "build"))
    env.setdefault("SOURCE_DIR", ROOT)
    env["PYTHONPATH"] = os.path.join(ROOT, "tests")
    p = subprocess.run([sys.executable, script, str(count)], env=env, capture_output=True, text=True,
                       timeout=1200)
    if p.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (script, p.returncode, p.stderr[-3000:]))
    return p.stdout.splitlines()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("load average before: %.1f %.1f %.1f" % os.getloadavg(), flush=True)
    for line in run(os.path.join(HERE, "dynamodb_nothing_due.py"), count):
        if line.startswith(("FIGURE", "COST")):
            print(line, flush=True)
    for line in run(os.path.join(ROOT, "tests", "e2e", "bench_certfetch_all.py"), count):
        if line.startswith(("certfetch --all", "folders:")):
            print("FIGURE " + line, flush=True)
    print("load average after: %.1f %.1f %.1f" % os.getloadavg(), flush=True)


if __name__ == "__main__":
    main()
