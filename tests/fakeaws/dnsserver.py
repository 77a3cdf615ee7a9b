"""Authoritative DNS (UDP + TCP, dnslib) for the PUBLIC hosted zones.

Serves each zone's *published* record sets: those of INSYNC changes only.
AA bit on every answer from our zones; NXDOMAIN / NODATA with the SOA in the
authority section; REFUSED for names outside our zones; CNAMEs are chased
within our zones; wildcard records (*.name) match as in RFC 4592 (simplified:
closest existing ancestor).  The NS host names ns1/ns2.<zone> resolve to the
server's own address when the zone has no record for them.
"""

import socket
import threading

from dnslib import (AAAA, CNAME, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel,
                    DNSRecord)
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

import route53


def _rdata(rtype, value):
    if rtype in ("TXT", "SPF"):
        return TXT(route53._split_txt(value))
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "NS":
        return NS(value)
    if rtype == "SOA":
        f = value.split()
        return SOA(f[0], f[1], tuple(int(x) for x in f[2:7]))
    rr = RR.fromZone(f"x. 60 IN {rtype} {value}")[0]
    return rr.rdata


class ZoneResolver(BaseResolver):
    def __init__(self, store, address="127.0.0.1"):
        self.store = store
        self.address = address

    def _zones(self):
        route53.tick(self.store)
        with self.store.lock:
            zones = [z for z in self.store.data["zones"].values() if not z["private"]]
            zones.sort(key=lambda z: z["created"])
            # one view per zone name: the oldest public zone wins
            out = {}
            for z in zones:
                out.setdefault(z["name"], {
                    "name": z["name"],
                    "rrsets": {k: dict(v) for k, v in z["published"].items()}})
            return out

    @staticmethod
    def _find_zone(zones, name):
        best = None
        for zname, z in zones.items():
            if route53.in_zone(name, zname) and (best is None or len(zname) > len(best["name"])):
                best = z
        return best

    @staticmethod
    def _by_name(zone, name):
        return [rr for rr in zone["rrsets"].values() if rr["Name"] == name
                and not rr.get("AliasTarget")]

    def _lookup(self, zone, name):
        """Record sets at name, or via a wildcard; None when the name does
        not exist (an empty non-terminal exists)."""
        rrs = self._by_name(zone, name)
        if rrs:
            return rrs
        if any(rr["Name"].endswith("." + name) for rr in zone["rrsets"].values()):
            return []
        # closest encloser, then *.encloser
        labels = name.rstrip(".").split(".")
        for i in range(1, len(labels)):
            anc = ".".join(labels[i:]) + "."
            if not route53.in_zone(anc, zone["name"]):
                break
            exists = self._by_name(zone, anc) or any(
                rr["Name"].endswith("." + anc) for rr in zone["rrsets"].values())
            if exists:
                wild = self._by_name(zone, "*." + anc)
                return [dict(rr, Name=name) for rr in wild] if wild else None
        return None

    def _add(self, reply, rr, section="answer", name=None):
        for v in rr["Values"]:
            rec = RR(name or rr["Name"], getattr(QTYPE, rr["Type"]), ttl=rr.get("TTL") or 0,
                     rdata=_rdata(rr["Type"], v))
            if section == "answer":
                reply.add_answer(rec)
            else:
                reply.add_auth(rec)

    def _soa(self, zone, reply):
        soa = zone["rrsets"].get(route53.rr_key(zone["name"], "SOA"))
        if soa:
            # negative TTL: min(SOA TTL, SOA minimum), RFC 2308
            self._add(reply, soa, "auth")

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.ra = 0
        reply.header.ad = 0
        q = request.q
        qname = str(q.qname).lower()
        if not qname.endswith("."):
            qname += "."
        qtype = QTYPE.get(q.qtype)
        zones = self._zones()
        zone = self._find_zone(zones, qname)
        if zone is None:
            reply.header.rcode = RCODE.REFUSED
            reply.header.aa = 0
            return reply
        reply.header.aa = 1
        name = qname
        for _ in range(8):
            if qtype in ("A", "ANY") and name in (f"ns1.{zone['name']}", f"ns2.{zone['name']}") \
                    and not self._by_name(zone, name):
                # glue for our own name servers: they are this server
                reply.add_answer(RR(name, QTYPE.A, ttl=172800, rdata=A(self.address)))
                return reply
            rrs = self._lookup(zone, name)
            if rrs is None:
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                self._soa(zone, reply)
                return reply
            match = [rr for rr in rrs if rr["Type"] == qtype or qtype == "ANY"]
            if match:
                for rr in match:
                    self._add(reply, rr, name=name)
                return reply
            cname = [rr for rr in rrs if rr["Type"] == "CNAME"]
            if cname:
                self._add(reply, cname[0], name=name)
                target = route53.norm_name(cname[0]["Values"][0])
                nz = self._find_zone(zones, target)
                if nz is None:
                    return reply
                zone, name = nz, target
                continue
            self._soa(zone, reply)  # NODATA
            return reply
        return reply


class _Handler(DNSHandler):
    """Truncates UDP answers (TC bit) beyond 512 bytes or the size the
    query's EDNS OPT record advertises, so clients retry over TCP."""

    def get_reply(self, data):
        if self.protocol == "udp":
            size = 512
            try:
                for rr in DNSRecord.parse(data).ar:
                    if rr.rtype == QTYPE.OPT:
                        size = max(512, rr.rclass)
            except Exception:
                pass
            self.udplen = size
        return super().get_reply(data)


class DnsServers:
    """UDP + TCP servers on the same loopback port."""

    def __init__(self, store, host="127.0.0.1", port=0):
        resolver = ZoneResolver(store, host)
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                           prefix=False, logf=lambda s: None)
        last = None
        for _ in range(50):
            udp = DNSServer(resolver, address=host, port=port, tcp=False, logger=logger,
                            handler=_Handler)
            actual = udp.server.server_address[1]
            try:
                tcp = DNSServer(resolver, address=host, port=actual, tcp=True, logger=logger,
                                handler=_Handler)
            except OSError as e:
                last = e
                udp.server.server_close()
                if port:
                    raise
                continue
            self.udp, self.tcp, self.port = udp, tcp, actual
            break
        else:
            raise last
        self.tcp.server.daemon_threads = True
        self.udp.server.daemon_threads = True

    def start(self):
        self.udp.start_thread()
        self.tcp.start_thread()

    def stop(self):
        for s in (self.udp, self.tcp):
            try:
                s.server.shutdown()
                s.server.server_close()
            except Exception:
                pass


_ = (socket, threading, DNSLabel)
