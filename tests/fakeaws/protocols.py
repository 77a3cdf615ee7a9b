"""Wire shapes shared by the services: errors, XML building, Query parsing.

AWS has three protocols here:
  * Query (EC2, AutoScaling, STS): form-encoded request, XML response;
  * JSON 1.1 (Secrets Manager, ECS): X-Amz-Target + JSON body;
  * REST-XML (Route53): path + XML body.
"""

import datetime
import json
from xml.sax.saxutils import escape

ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
AUTOSCALING_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# service -> protocol
PROTOCOL = {
    "route53": "rest-xml",
    "secretsmanager": "json",
    "ecs": "json",
    "dynamodb": "json",
    "ec2": "ec2",
    "autoscaling": "query",
    "sts": "query",
}
QUERY_NS = {"ec2": EC2_NS, "autoscaling": AUTOSCALING_NS, "sts": STS_NS}
QUERY_VERSION = {"2016-11-15": "ec2", "2011-01-01": "autoscaling",
                 "2011-06-15": "sts"}


class AwsError(Exception):
    """An error answer in the protocol's own shape."""

    def __init__(self, code, message, status=400, sender=True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


class DropConnection(Exception):
    """Close the socket without answering (fault injection)."""


def iso8601(ts):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def iso8601_seconds(ts):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- XML building ------------------------------------------------------
def el(tag, content=None):
    """<tag>content</tag>; content may be str/int/bool (escaped), a list of
    already-built XML fragments (joined), or None (element omitted)."""
    if content is None:
        return ""
    if isinstance(content, bool):
        text = "true" if content else "false"
    elif isinstance(content, (list, tuple)):
        text = "".join(content)
    elif isinstance(content, (int, float)):
        text = str(content)
    else:
        text = escape(str(content))
    return f"<{tag}>{text}</{tag}>"


def raw(tag, inner):
    """<tag>inner</tag> where inner is already XML."""
    return f"<{tag}>{inner}</{tag}>"


def members(tag, items, item_tag="member"):
    """A list element whose children are already-built fragments."""
    return raw(tag, "".join(raw(item_tag, i) for i in items))


def query_response(service, action, result_xml, request_id):
    ns = QUERY_NS[service]
    if service == "ec2":
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<{action}Response xmlns="{ns}"><requestId>{request_id}</requestId>'
                f'{result_xml}</{action}Response>')
    return (f'<{action}Response xmlns="{ns}"><{action}Result>{result_xml}'
            f'</{action}Result><ResponseMetadata><RequestId>{request_id}'
            f'</RequestId></ResponseMetadata></{action}Response>')


def route53_response(root, inner):
    return (f'<?xml version="1.0"?>\n<{root} xmlns="{ROUTE53_NS}">{inner}</{root}>')


# ---- errors ------------------------------------------------------------
def render_error(protocol, err, request_id, service=None):
    """(status, headers, body bytes) for an AwsError."""
    status = err.status
    if protocol == "json":
        doc = {"__type": err.code, "message": err.message}
        if service == "dynamodb":
            # DynamoDB names the error with its namespace and may add the item
            # (ReturnValuesOnConditionCheckFailure=ALL_OLD).
            import dynamodb
            doc = {"__type": dynamodb.error_type(err.code), "message": err.message}
            doc.update(getattr(err, "extra", None) or {})
        body = json.dumps(doc).encode()
        return status, json_headers(service, request_id, body), body
    typ = "Sender" if err.sender else "Receiver"
    if protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f'{el("Code", err.code)}{el("Message", err.message)}</Error></Errors>'
                f'<RequestID>{request_id}</RequestID></Response>')
    elif protocol == "rest-xml":
        body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{ROUTE53_NS}"><Error>'
                f'<Type>{typ}</Type>{el("Code", err.code)}{el("Message", err.message)}'
                f'</Error><RequestId>{request_id}</RequestId></ErrorResponse>')
    else:
        ns = f' xmlns="{QUERY_NS[service]}"' if service in QUERY_NS else ""
        body = (f'<ErrorResponse{ns}><Error><Type>{typ}</Type>'
                f'{el("Code", err.code)}{el("Message", err.message)}</Error>'
                f'<RequestId>{request_id}</RequestId></ErrorResponse>')
    return status, {"Content-Type": "text/xml",
                    "x-amzn-RequestId": request_id}, body.encode()


def json_headers(service, request_id, body):
    """DynamoDB speaks JSON 1.0 and adds the body's CRC32, which SDKs check."""
    if service == "dynamodb":
        import zlib
        return {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id,
                "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF)}
    return {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}


# ---- per-protocol codes for the generic errors ---------------------------
def code_for(protocol, service, what):
    """Error code + status AWS uses for a generic condition per protocol."""
    table = {
        "unknown_key": {
            "json": ("UnrecognizedClientException", 400),
            "ec2": ("AuthFailure", 401),
            "*": ("InvalidClientTokenId", 403)},
        "bad_signature": {
            "json": ("InvalidSignatureException", 400),
            "ec2": ("AuthFailure", 401),
            "*": ("SignatureDoesNotMatch", 403)},
        "skew": {
            "json": ("InvalidSignatureException", 400),
            "ec2": ("RequestExpired", 400),
            "*": ("SignatureDoesNotMatch", 403)},
        "missing_auth": {
            "json": ("MissingAuthenticationTokenException", 400),
            "ec2": ("AuthFailure", 401),
            "*": ("MissingAuthenticationToken", 403)},
        "expired_token": {
            "json": ("ExpiredTokenException", 400),
            "ec2": ("AuthFailure", 401),
            "*": ("ExpiredToken", 403)},
        "access_denied": {
            "json": ("AccessDeniedException", 400),
            "ec2": ("UnauthorizedOperation", 403),
            "*": ("AccessDenied", 403)},
        "throttle": {
            "json": ("ThrottlingException", 400),
            "ec2": ("RequestLimitExceeded", 503),
            "*": ("Throttling", 400)},
        "internal": {
            "json": ({"secretsmanager": "InternalServiceError",
                      "dynamodb": "InternalServerError"}.get(service, "ServerException"), 500),
            "ec2": ("InternalError", 500),
            "*": ("InternalFailure", 500)},
    }[what]
    return table.get(protocol, table["*"])


# ---- Query parameter helpers --------------------------------------------
def q_list(params, prefix):
    """Collect Prefix.1, Prefix.2 ... (or Prefix.member.N) scalar values."""
    out = {}
    for k, v in params.items():
        for p in (prefix + ".member.", prefix + "."):
            if k.startswith(p):
                rest = k[len(p):]
                if rest.isdigit():
                    out[int(rest)] = v
                break
    return [out[i] for i in sorted(out)]


def q_structs(params, prefix):
    """Collect Prefix.N.Field... into a list of dicts {Field...: value}."""
    groups = {}
    for k, v in params.items():
        for p in (prefix + ".member.", prefix + "."):
            if k.startswith(p):
                rest = k[len(p):]
                idx, _, field = rest.partition(".")
                if idx.isdigit() and field:
                    groups.setdefault(int(idx), {})[field] = v
                break
    return [groups[i] for i in sorted(groups)]


def sub_list(struct, prefix):
    """Within one struct dict from q_structs, collect Prefix.N values."""
    return q_list(struct, prefix)
