"""Route53 (REST-XML, 2013-04-01): hosted zones, record sets, changes.

Zone:   {"id", "name", "private", "vpcs": [{"VPCRegion","VPCId"}], "comment",
         "caller_ref", "created", "rrsets": {key: rrset}, "published": {key: rrset}}
RRSet:  {"Name": "x.example.com.", "Type": "TXT", "TTL": 60, "Values": [...],
         "SetIdentifier"?: str, "AliasTarget"?: {...}}
Change: {"id", "zone_id", "seq", "submitted", "insync_at", "status", "comment",
         "snapshot": rrsets after the change, until published}

`rrsets` is what the API shows at once; `published` is what the DNS server
serves, replaced by a change's snapshot when that change becomes INSYNC.
"""

import copy
import ipaddress
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET

from protocols import AwsError, el, raw, route53_response, iso8601
from state import rand_id

PREFIX = "/2013-04-01/"
TYPES = {"A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA",
         "SPF", "SRV", "TXT", "HTTPS", "SVCB", "TLSA", "SSHFP"}
MAX_RECORDS = 1000
MAX_VALUE_CHARS = 32000


# ---- names ---------------------------------------------------------------
def norm_name(name):
    """Lowercase, absolute, with \\ooo escapes decoded."""
    name = (name or "").strip()
    name = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name)
    name = name.lower()
    if not name.endswith("."):
        name += "."
    return name


def show_name(name):
    """Route53's output form: characters outside [a-z0-9-_.] as \\ooo."""
    return "".join(c if (c.isalnum() and c.isascii()) or c in "-_." else
                   f"\\{ord(c):03o}" for c in name)


def rev_key(name):
    return tuple(reversed(name.rstrip(".").split(".")))


def in_zone(name, zone_name):
    return name == zone_name or name.endswith("." + zone_name)


def rr_key(name, rtype, set_id=None):
    return f"{name}|{rtype}|{set_id or ''}"


def sort_key(rr):
    return (rev_key(rr["Name"]), rr["Type"], rr.get("SetIdentifier") or "")


def zone_path_id(zone_id):
    return zone_id.split("/")[-1]


# ---- zones ---------------------------------------------------------------
def create_zone(store, name, private=False, vpcs=None, comment=None,
                caller_ref=None, now=None):
    """Create a zone with SOA + NS, immediately published.  Returns
    (zone, change)."""
    name = norm_name(name)
    now = now or time.time()
    with store.lock:
        zones = store.data["zones"]
        if caller_ref:
            for z in zones.values():
                if z["caller_ref"] == caller_ref:
                    raise AwsError("HostedZoneAlreadyExists",
                                   "A hosted zone has already been created with "
                                   "the specified caller reference.", 409)
        zid = rand_id("Z", 13)
        ns = [f"ns1.{name}", f"ns2.{name}"]
        rrsets = {
            rr_key(name, "SOA"): {"Name": name, "Type": "SOA", "TTL": 900,
                                  "Values": [f"ns1.{name} awsdns-hostmaster.amazon.com. "
                                             f"1 7200 900 1209600 86400"]},
            rr_key(name, "NS"): {"Name": name, "Type": "NS", "TTL": 172800,
                                 "Values": ns},
        }
        zone = {"id": zid, "name": name, "private": bool(private),
                "vpcs": vpcs or [], "comment": comment,
                "caller_ref": caller_ref or rand_id("ref-", 12),
                "created": now, "rrsets": rrsets,
                "published": copy.deepcopy(rrsets)}
        zones[zid] = zone
        change = _new_change(store, zid, None, now, comment)
        store.save()
        return zone, change


def _new_change(store, zone_id, snapshot, now, comment=None):
    store.data["seq"] += 1
    cid = rand_id("C", 13)
    change = {"id": cid, "zone_id": zone_id, "seq": store.data["seq"],
              "submitted": now, "insync_at": now + store.change_delay,
              "status": "PENDING", "comment": comment, "snapshot": snapshot}
    store.data["changes"][cid] = change
    return change


def tick(store):
    """Promote due changes to INSYNC and publish their snapshots (per zone,
    in order: an INSYNC change implies all earlier ones of its zone)."""
    now = time.time()
    with store.lock:
        changes = store.data["changes"]
        pending = sorted((c for c in changes.values() if c["status"] == "PENDING"),
                         key=lambda c: c["seq"])
        if not pending:
            return
        latest_due = {}
        for c in pending:
            # the delay in force now decides (tests may change it live)
            if c["submitted"] + store.change_delay <= now:
                latest_due[c["zone_id"]] = c["seq"]
        if not latest_due:
            return
        for c in pending:
            lim = latest_due.get(c["zone_id"])
            if lim is not None and c["seq"] <= lim:
                c["status"] = "INSYNC"
                zone = store.data["zones"].get(c["zone_id"])
                if zone is not None and c.get("snapshot") is not None:
                    zone["published"] = c["snapshot"]
                c["snapshot"] = None
        store.save()


def get_zone(store, zone_id):
    zid = zone_path_id(zone_id)
    zone = store.data["zones"].get(zid)
    if zone is None:
        raise AwsError("NoSuchHostedZone", f"No hosted zone found with ID: {zid}", 404)
    return zone


# ---- XML pieces --------------------------------------------------------------
def zone_xml(zone):
    cfg = el("Comment", zone.get("comment")) + el("PrivateZone", zone["private"])
    return raw("HostedZone",
               el("Id", f"/hostedzone/{zone['id']}") + el("Name", show_name(zone["name"]))
               + el("CallerReference", zone["caller_ref"]) + raw("Config", cfg)
               + el("ResourceRecordSetCount", len(zone["rrsets"])))


def change_xml(change):
    return raw("ChangeInfo", el("Id", f"/change/{change['id']}")
               + el("Status", change["status"])
               + el("SubmittedAt", iso8601(change["submitted"]))
               + el("Comment", change.get("comment")))


def delegation_xml(zone):
    ns = zone["rrsets"].get(rr_key(zone["name"], "NS"))
    names = [v.rstrip(".") for v in (ns["Values"] if ns else [])]
    return raw("DelegationSet", raw("NameServers", "".join(el("NameServer", n) for n in names)))


def vpcs_xml(zone):
    return raw("VPCs", "".join(raw("VPC", el("VPCRegion", v.get("VPCRegion"))
                                   + el("VPCId", v.get("VPCId"))) for v in zone["vpcs"]))


def rrset_xml(rr):
    inner = el("Name", show_name(rr["Name"])) + el("Type", rr["Type"])
    inner += el("SetIdentifier", rr.get("SetIdentifier"))
    for k in ("Weight", "Region", "Failover", "MultiValueAnswer"):
        if k in rr:
            inner += el(k, rr[k])
    if rr.get("AliasTarget"):
        a = rr["AliasTarget"]
        inner += raw("AliasTarget", el("HostedZoneId", a.get("HostedZoneId"))
                     + el("DNSName", a.get("DNSName"))
                     + el("EvaluateTargetHealth", bool(a.get("EvaluateTargetHealth"))))
    else:
        inner += el("TTL", rr.get("TTL"))
        inner += raw("ResourceRecords", "".join(
            raw("ResourceRecord", el("Value", v)) for v in rr["Values"]))
    return raw("ResourceRecordSet", inner)


# ---- request XML -----------------------------------------------------------
def _strip_ns(elem):
    for e in elem.iter():
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    return elem


def _parse_xml(body):
    try:
        return _strip_ns(ET.fromstring(body))
    except ET.ParseError as e:
        raise AwsError("InvalidInput", f"Could not parse the request XML: {e}")


def _text(elem, path, default=None):
    e = elem.find(path)
    return e.text if e is not None and e.text is not None else default


def parse_rrset(e):
    rr = {"Name": norm_name(_text(e, "Name", "")), "Type": _text(e, "Type", "")}
    ttl = _text(e, "TTL")
    if ttl is not None:
        try:
            rr["TTL"] = int(ttl)
        except ValueError:
            raise AwsError("InvalidInput", f"Invalid TTL: {ttl}")
    if _text(e, "SetIdentifier"):
        rr["SetIdentifier"] = _text(e, "SetIdentifier")
    for k in ("Weight", "Region", "Failover", "MultiValueAnswer"):
        if _text(e, k) is not None:
            rr[k] = _text(e, k)
    alias = e.find("AliasTarget")
    if alias is not None:
        rr["AliasTarget"] = {"HostedZoneId": _text(alias, "HostedZoneId"),
                             "DNSName": _text(alias, "DNSName"),
                             "EvaluateTargetHealth": _text(alias, "EvaluateTargetHealth") == "true"}
    rr["Values"] = [v.text or "" for v in e.findall("ResourceRecords/ResourceRecord/Value")]
    return rr


# ---- routing ---------------------------------------------------------------
def route(method, path):
    """(action, args) for a Route53 REST path, or raise AwsError."""
    p = urllib.parse.unquote(path.split("?", 1)[0])[len(PREFIX):].rstrip("/")
    parts = p.split("/") if p else []
    if parts == ["hostedzone"]:
        return {"POST": "CreateHostedZone", "GET": "ListHostedZones"}.get(method), {}
    if parts == ["hostedzonesbyname"] and method == "GET":
        return "ListHostedZonesByName", {}
    if parts == ["hostedzonecount"] and method == "GET":
        return "GetHostedZoneCount", {}
    if len(parts) == 2 and parts[0] == "hostedzone":
        return {"GET": "GetHostedZone", "DELETE": "DeleteHostedZone"}.get(method), {"Id": parts[1]}
    if len(parts) == 3 and parts[0] == "hostedzone" and parts[2] == "rrset":
        return {"GET": "ListResourceRecordSets",
                "POST": "ChangeResourceRecordSets"}.get(method), {"Id": parts[1]}
    if len(parts) == 2 and parts[0] == "change" and method == "GET":
        return "GetChange", {"Id": parts[1]}
    return None, {}


def handle(store, call):
    action = call.action
    fn = globals().get("op_" + action)
    if fn is None:
        raise AwsError("InvalidAction", f"Unsupported action {action}")
    out = fn(store, call)
    if "Id" in call.args:
        _run_races(store, action, zone_path_id(call.args["Id"]))
    return out


# ---- another writer ----------------------------------------------------------
def add_race(store, zone_id, after, records, count=1):
    """Another writer at the same names: once each of the next `count` calls
    of `after` (e.g. ListResourceRecordSets) on the zone has been answered,
    and before its answer reaches the client, `records` are written (UPSERT,
    published at once). This is the window a read-merge-write must survive:
    Route53 itself serialises nothing between a client's read and its change.
    Rules fire in the order added, one per answered call."""
    with store.lock:
        get_zone(store, zone_id)
        store.data.setdefault("r53_races", []).append(
            {"zone_id": zone_path_id(zone_id), "after": after,
             "records": records, "count": int(count)})
        store.save()


def _run_races(store, action, zone_id):
    with store.lock:
        for race in store.data.get("r53_races", []):
            if race["after"] == action and race["zone_id"] == zone_id and race["count"] > 0:
                race["count"] -= 1
                seed_records(store, zone_id, race["records"])
                return  # one write per read: several rules play one after the other


def _ok(root, inner, status=200, headers=None):
    h = {"Content-Type": "text/xml"}
    h.update(headers or {})
    return status, h, route53_response(root, inner).encode()


def _max_items(call, default, top):
    v = call.q("maxitems")
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise AwsError("InvalidInput", "1 validation error detected: Value at "
                       "'maxItems' failed to satisfy constraint: Member must be a number")
    return max(1, min(n, top))


# ---- operations ----------------------------------------------------------------
def op_CreateHostedZone(store, call):
    req = _parse_xml(call.body)
    name = _text(req, "Name")
    caller_ref = _text(req, "CallerReference")
    if not name or not caller_ref:
        raise AwsError("InvalidInput", "Name and CallerReference are required")
    if not re.match(r"^[A-Za-z0-9_\-.*\\]+\.?$", name) or ".." in name:
        raise AwsError("InvalidDomainName", f"Invalid domain name: {name}")
    comment = _text(req, "HostedZoneConfig/Comment")
    private_flag = _text(req, "HostedZoneConfig/PrivateZone") == "true"
    vpcs = []
    vpc = req.find("VPC")
    if vpc is not None:
        vpcs.append({"VPCRegion": _text(vpc, "VPCRegion", store.region),
                     "VPCId": _text(vpc, "VPCId")})
    if private_flag and not vpcs:
        raise AwsError("InvalidInput", "When you're creating a private hosted zone "
                       "(when you specify true for PrivateZone), you must also "
                       "specify values for VPCId and VPCRegion.")
    with store.lock:
        zone, change = create_zone(store, name, private=bool(vpcs), vpcs=vpcs,
                                   comment=comment, caller_ref=caller_ref)
        call.log["zone_id"] = zone["id"]
        call.log["name"] = zone["name"]
        inner = zone_xml(zone) + change_xml(change)
        if zone["private"]:
            inner += raw("VPC", el("VPCRegion", vpcs[0]["VPCRegion"]) + el("VPCId", vpcs[0]["VPCId"]))
        else:
            inner += delegation_xml(zone)
    return _ok("CreateHostedZoneResponse", inner, 201,
               {"Location": f"https://route53.amazonaws.com/2013-04-01/hostedzone/{zone['id']}"})


def op_GetHostedZone(store, call):
    with store.lock:
        zone = get_zone(store, call.args["Id"])
        inner = zone_xml(zone)
        inner += vpcs_xml(zone) if zone["private"] else delegation_xml(zone)
    return _ok("GetHostedZoneResponse", inner)


def op_GetHostedZoneCount(store, call):
    with store.lock:
        n = len(store.data["zones"])
    return _ok("GetHostedZoneCountResponse", el("HostedZoneCount", n))


def op_DeleteHostedZone(store, call):
    with store.lock:
        zone = get_zone(store, call.args["Id"])
        extra = [r for r in zone["rrsets"].values()
                 if not (r["Name"] == zone["name"] and r["Type"] in ("SOA", "NS"))]
        if extra:
            raise AwsError("HostedZoneNotEmpty", "The specified hosted zone contains "
                           "non-required resource record sets and so cannot be deleted.")
        del store.data["zones"][zone["id"]]
        change = _new_change(store, zone["id"], None, time.time())
        store.save()
        return _ok("DeleteHostedZoneResponse", change_xml(change))


def op_ListHostedZones(store, call):
    maxitems = _max_items(call, 100, 100)
    marker = call.q("marker")
    with store.lock:
        zones = sorted(store.data["zones"].values(), key=lambda z: (z["created"], z["id"]))
        if marker:
            ids = [z["id"] for z in zones]
            if marker not in ids:
                raise AwsError("InvalidInput", f"Invalid marker: {marker}")
            zones = zones[ids.index(marker):]
        page, rest = zones[:maxitems], zones[maxitems:]
        inner = raw("HostedZones", "".join(zone_xml(z) for z in page))
        inner += el("Marker", marker) if marker else ""
        inner += el("IsTruncated", bool(rest))
        if rest:
            inner += el("NextMarker", rest[0]["id"])
        inner += el("MaxItems", maxitems)
    return _ok("ListHostedZonesResponse", inner)


def op_ListHostedZonesByName(store, call):
    maxitems = _max_items(call, 100, 100)
    dns_name = call.q("dnsname")
    zone_id = call.q("hostedzoneid")
    if zone_id and not dns_name:
        raise AwsError("InvalidInput", "The DNSName parameter is required when "
                       "HostedZoneId is specified.")
    call.log["dnsname"] = dns_name
    with store.lock:
        zones = sorted(store.data["zones"].values(),
                       key=lambda z: (rev_key(z["name"]), z["id"]))
        if dns_name:
            start = (rev_key(norm_name(dns_name)), zone_path_id(zone_id) if zone_id else "")
            zones = [z for z in zones if (rev_key(z["name"]), z["id"] if zone_id else "") >= start]
        page, rest = zones[:maxitems], zones[maxitems:]
        inner = raw("HostedZones", "".join(zone_xml(z) for z in page))
        if dns_name:
            inner += el("DNSName", dns_name)
        if zone_id:
            inner += el("HostedZoneId", zone_id)
        inner += el("IsTruncated", bool(rest))
        if rest:
            inner += el("NextDNSName", show_name(rest[0]["name"]))
            inner += el("NextHostedZoneId", rest[0]["id"])
        inner += el("MaxItems", maxitems)
    return _ok("ListHostedZonesByNameResponse", inner)


def op_ListResourceRecordSets(store, call):
    maxitems = _max_items(call, 300, 300)
    start_name = call.q("name")
    start_type = call.q("type")
    start_id = call.q("identifier")
    if start_type and not start_name:
        raise AwsError("InvalidInput", "The input is not valid: StartRecordType "
                       "requires StartRecordName")
    if start_type and start_type not in TYPES:
        raise AwsError("InvalidInput", f"Invalid type: {start_type}")
    with store.lock:
        zone = get_zone(store, call.args["Id"])
        call.log["zone_id"] = zone["id"]
        rrs = sorted(zone["rrsets"].values(), key=sort_key)
        if start_name:
            start = (rev_key(norm_name(start_name)), start_type or "", start_id or "")
            rrs = [r for r in rrs if sort_key(r) >= start]
        page, rest = rrs[:maxitems], rrs[maxitems:]
        inner = raw("ResourceRecordSets", "".join(rrset_xml(r) for r in page))
        inner += el("IsTruncated", bool(rest))
        if rest:
            inner += el("NextRecordName", show_name(rest[0]["Name"]))
            inner += el("NextRecordType", rest[0]["Type"])
            inner += el("NextRecordIdentifier", rest[0].get("SetIdentifier"))
        inner += el("MaxItems", maxitems)
    return _ok("ListResourceRecordSetsResponse", inner)


def op_GetChange(store, call):
    tick(store)
    cid = zone_path_id(call.args["Id"])
    with store.lock:
        change = store.data["changes"].get(cid)
        if change is None:
            raise AwsError("NoSuchChange", "A change with the specified change ID "
                           "does not exist.", 404)
        call.log["change_id"] = cid
        call.log["status"] = change["status"]
        return _ok("GetChangeResponse", change_xml(change))


def _rr_label(rr):
    label = f"[name='{show_name(rr['Name'])}', type='{rr['Type']}'"
    if rr.get("SetIdentifier"):
        label += f", set-identifier='{rr['SetIdentifier']}'"
    return label + "]"


def _same(a, b):
    return (a.get("TTL") == b.get("TTL") and sorted(a["Values"]) == sorted(b["Values"])
            and (a.get("AliasTarget") or None) == (b.get("AliasTarget") or None))


def _split_txt(value):
    """The character-strings of a TXT value as Route53 stores it
    ('"a" "b"'); an unquoted value is one string."""
    out, i, n = [], 0, len(value)
    while i < n:
        c = value[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            i += 1
            buf = bytearray()
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    if value[i + 1:i + 4].isdigit() and len(value[i + 1:i + 4]) == 3:
                        buf.append(int(value[i + 1:i + 4], 8) & 0xFF)
                        i += 4
                        continue
                    buf += value[i + 1].encode()
                    i += 2
                    continue
                buf += value[i].encode()
                i += 1
            i += 1
            out.append(bytes(buf))
        else:
            j = i
            while j < n and not value[j].isspace():
                j += 1
            out.append(value[i:j].encode())
            i = j
    return out or [b""]


def _validate_values(rr, errors):
    t = rr["Type"]
    for v in rr["Values"]:
        if t == "A":
            try:
                ipaddress.IPv4Address(v)
            except ValueError:
                errors.append(f"Invalid Resource Record: FATAL problem: "
                              f"ARRDATAIllegalIPv4Address (Value is not a valid IPv4 "
                              f"address) encountered with '{v}'")
        elif t == "AAAA":
            try:
                ipaddress.IPv6Address(v)
            except ValueError:
                errors.append(f"Invalid Resource Record: FATAL problem: "
                              f"AAAARRDATAIllegalIPv6Address (Value is not a valid "
                              f"IPv6 address) encountered with '{v}'")
        elif t in ("TXT", "SPF"):
            if any(len(s) > 255 for s in _split_txt(v)):
                errors.append(f"Invalid Resource Record: FATAL problem: "
                              f"TXTRDATATooLong encountered with '{v}'")
    if t == "CNAME" and len(rr["Values"]) > 1:
        errors.append(f"RRSet of type CNAME with DNS name {show_name(rr['Name'])} "
                      f"is not permitted as it contains more than one value")


def op_ChangeResourceRecordSets(store, call):
    req = _parse_xml(call.body)
    batch = req.find("ChangeBatch")
    if batch is None:
        raise AwsError("InvalidInput", "Invalid request: ChangeBatch is required")
    comment = _text(batch, "Comment")
    changes = []
    for ch in batch.findall("Changes/Change"):
        action = _text(ch, "Action", "")
        rre = ch.find("ResourceRecordSet")
        if action not in ("CREATE", "DELETE", "UPSERT") or rre is None:
            raise AwsError("InvalidInput", f"Invalid request: Invalid XML ; "
                           f"Invalid action {action!r}")
        changes.append((action, parse_rrset(rre)))
    if not changes:
        raise AwsError("InvalidInput", "Invalid request: Expected at least one Change")
    call.log["changes"] = [{"action": a, "name": r["Name"], "type": r["Type"],
                            "ttl": r.get("TTL"), "values": list(r["Values"])}
                           for a, r in changes]
    call.log["comment"] = comment

    # Route53 limits: UPSERT counts twice.
    nrec = sum(len(r["Values"]) * (2 if a == "UPSERT" else 1) for a, r in changes)
    nchar = sum(sum(len(v) for v in r["Values"]) * (2 if a == "UPSERT" else 1)
                for a, r in changes)
    if nrec > MAX_RECORDS:
        raise AwsError("InvalidChangeBatch", f"Number of records limit of "
                       f"{MAX_RECORDS} exceeded.")
    if nchar > MAX_VALUE_CHARS:
        raise AwsError("InvalidChangeBatch", f"Number of characters limit of "
                       f"{MAX_VALUE_CHARS} exceeded.")

    with store.lock:
        tick(store)
        zone = get_zone(store, call.args["Id"])
        call.log["zone_id"] = zone["id"]
        zname = zone["name"]
        working = copy.deepcopy(zone["rrsets"])
        seen = {}
        errors = []
        for action, rr in changes:
            name, rtype = rr["Name"], rr["Type"]
            if rtype not in TYPES:
                raise AwsError("InvalidInput", f"Invalid request: Expected one of "
                               f"{sorted(TYPES)} but found {rtype}")
            has_alias = bool(rr.get("AliasTarget"))
            if not has_alias and ("TTL" not in rr or not rr["Values"]):
                raise AwsError("InvalidInput", f"Invalid request: Expected exactly one "
                               f"of [AliasTarget, all of [TTL, and ResourceRecords], or "
                               f"TrafficPolicyInstanceId], but found none in Change with "
                               f"[Action={action}, Name={show_name(name)}, Type={rtype}, "
                               f"SetIdentifier={rr.get('SetIdentifier') or 'null'}]")
            if not in_zone(name, zname):
                errors.append(f"RRSet with DNS name {show_name(name)} is not permitted "
                              f"in zone {show_name(zname)}")
                continue
            key = rr_key(name, rtype, rr.get("SetIdentifier"))
            prev = seen.get(key)
            if prev is not None and not (prev == "DELETE" and action == "CREATE"):
                errors.append(f"The request contains an invalid set of changes for a "
                              f"resource record set '{rtype} {show_name(name)}'")
                continue
            seen[key] = action
            if action == "DELETE":
                cur = working.get(key)
                if cur is None:
                    errors.append(f"Tried to delete resource record set {_rr_label(rr)} "
                                  f"but it was not found")
                elif not _same(cur, rr):
                    errors.append(f"Tried to delete resource record set {_rr_label(rr)} "
                                  f"but the values provided do not match the current values")
                elif name == zname and rtype == "SOA":
                    errors.append("A HostedZone must contain exactly one SOA record.")
                elif name == zname and rtype == "NS":
                    errors.append("A HostedZone must contain at least one NS record "
                                  "for the zone itself.")
                else:
                    del working[key]
                continue
            # CREATE / UPSERT
            _validate_values(rr, errors)
            if action == "CREATE" and key in working:
                errors.append(f"Tried to create resource record set {_rr_label(rr)} "
                              f"but it already exists")
                continue
            if rtype == "CNAME" and name == zname:
                errors.append(f"RRSet of type CNAME with DNS name {show_name(name)} is "
                              f"not permitted at apex in zone {show_name(zname)}")
                continue
            conflict = None
            for other in working.values():
                if other["Name"] != name or other["Type"] == rtype:
                    continue
                if rtype == "CNAME" or other["Type"] == "CNAME":
                    conflict = other
                    break
            if conflict is not None:
                errors.append(f"RRSet of type {rtype} with DNS name {show_name(name)} "
                              f"is not permitted because a conflicting RRSet of type "
                              f"{conflict['Type']} with the same DNS name already exists "
                              f"in zone {show_name(zname)}")
                continue
            if name == zname and rtype == "SOA" and action == "UPSERT" and len(rr["Values"]) != 1:
                errors.append("A HostedZone must contain exactly one SOA record.")
                continue
            stored = {k: v for k, v in rr.items()}
            working[key] = stored
        if errors:
            raise AwsError("InvalidChangeBatch", "[" + ", ".join(errors) + "]")
        zone["rrsets"] = working
        change = _new_change(store, zone["id"], copy.deepcopy(working), time.time(), comment)
        call.log["change_id"] = change["id"]
        store.save()
        return _ok("ChangeResourceRecordSetsResponse", change_xml(change))


# ---- control-endpoint helpers -----------------------------------------------------
def records_json(zone, published=False):
    src = zone["published"] if published else zone["rrsets"]
    return [copy.deepcopy(r) for r in sorted(src.values(), key=sort_key)]


def seed_records(store, zone_id, records):
    """Write record sets directly (UPSERT semantics), published at once."""
    with store.lock:
        zone = get_zone(store, zone_id)
        for r in records:
            rr = {"Name": norm_name(r["Name"]), "Type": r["Type"],
                  "TTL": int(r.get("TTL", 300)), "Values": list(r.get("Values") or r.get("Records") or [])}
            if not in_zone(rr["Name"], zone["name"]):
                raise ValueError(f"{rr['Name']} is not in zone {zone['name']}")
            key = rr_key(rr["Name"], rr["Type"], r.get("SetIdentifier"))
            zone["rrsets"][key] = rr
            zone["published"][key] = copy.deepcopy(rr)
        store.save()
