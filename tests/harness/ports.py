"""Free loopback ports for test servers."""

import socket


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port that is free on `host` right now (TCP by default).  Another
    process may still take it before you bind: prefer letting servers bind
    port 0 and report the port when they can."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_tcp_udp(host="127.0.0.1", attempts=50):
    """A port free for both TCP and UDP (e.g. for a DNS server)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")
