"""moto_server, moto's stand-alone AWS endpoint, on a free loopback port: a
second opinion on AWS shapes beside tests/fakeaws, where `moto_server` is on
PATH (the machine image's default python3 has moto; Debian's does not).

    moto = MotoServer.find()            # None: not installed, skip with a message
    endpoint = moto.start(tmpdir)       # http://127.0.0.1:PORT, or RuntimeError with its log
    ...
    moto.stop()
"""

import os
import shutil
import subprocess
import time
import urllib.request

from harness.ports import free_port


class MotoServer:
    def __init__(self, path):
        self.path = path
        self.proc = None
        self.log = None
        self.log_path = None

    @classmethod
    def find(cls):
        path = shutil.which("moto_server")
        return cls(path) if path else None

    def start(self, workdir, timeout=60.0):
        """Starts it with its log in `workdir`; returns the endpoint once it answers."""
        port = free_port()
        self.log_path = os.path.join(workdir, "moto.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.path, "-H", "127.0.0.1", "-p", str(port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)
        endpoint = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                return endpoint
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    with open(self.log_path, errors="replace") as f:
                        raise RuntimeError("moto_server did not come up:\n" + f.read()[-3000:])
                time.sleep(0.2)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
