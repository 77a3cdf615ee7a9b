"""Debian's nginx as a foreground master on loopback, for the end-to-end
suites and scripts/demo.py.

    with Nginx(cert_dir, server_names=["example.test"]) as web:
        web.port                       # 127.0.0.1:<port> ssl
        web.reload_command()           # "nginx -s reload" for this instance
        web.served_certificate(name, root_file)   # PEM nginx presents

Everything (config, pid, logs, temp paths) lives in a private temp dir that
stop() removes; the master runs with `daemon off`, so stop() (SIGQUIT, then
SIGTERM/SIGKILL, bounded) ends it and its workers.
"""

import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

NGINX = "/usr/sbin/nginx"


class NginxError(RuntimeError):
    pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, cert_dir, server_names=("example.test",), port=None, start=True, timeout=20):
        self.cert_dir = cert_dir
        self.server_names = list(server_names)
        self.port = port or _free_port()
        self.prefix = tempfile.mkdtemp(prefix="renewer-nginx-")
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.proc = None
        self._write_config()
        if start:
            self.start(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _write_config(self):
        p = self.prefix
        for sub in ("logs", "tmp"):
            os.makedirs(os.path.join(p, sub), exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        text = f"""# renewer test nginx (foreground master)
{user}daemon off;
master_process on;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        server_name {' '.join(self.server_names)};
        ssl_certificate {self.cert_dir}/fullchain.pem;
        ssl_certificate_key {self.cert_dir}/privkey.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        default_type text/plain;
        location / {{ return 200 "served by nginx for the renewer demo\\n"; }}
    }}
}}
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def base_command(self):
        # -e: the start-up error log too, so nothing touches /var/log/nginx.
        return [NGINX, "-p", self.prefix + "/", "-c", self.conf, "-e", os.path.join(self.prefix, "logs", "error.log")]

    def reload_command(self):
        """Shell command that makes this nginx re-read its files (for certfetch --reload)."""
        return " ".join(shlex.quote(a) for a in self.base_command() + ["-s", "reload"])

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log"), errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def start(self, timeout=20):
        test = subprocess.run(self.base_command() + ["-t"], capture_output=True, text=True)
        if test.returncode != 0:
            raise NginxError("nginx -t failed:\n" + test.stderr)
        self.proc = subprocess.Popen(self.base_command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                self.stop()
                raise NginxError("nginx exited with %s:\n%s\n%s" % (self.proc and self.proc.returncode, err,
                                                                     self.error_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                log = self.error_log()
                self.stop()
                raise NginxError("nginx not listening after %ss:\n%s" % (timeout, log))
            time.sleep(delay)  # polling readiness, bounded by the deadline
            delay = min(delay * 2, 0.25)

    def served_certificate(self, server_name, root_file, timeout=5.0):
        """PEM of the leaf nginx presents for server_name (SNI), verified
        against root_file only (no system roots)."""
        ctx = ssl.create_default_context(cafile=root_file)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
        return ssl.DER_cert_to_PEM_cert(der)

    def stop(self, timeout=10):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown of master + workers
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()
                    try:
                        self.proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait(timeout)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        if self.prefix:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None
