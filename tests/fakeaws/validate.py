"""Request checks against the botocore service models: unknown parameters and
missing required ones, for the Query, EC2 and JSON protocols.

A client that misspells a parameter must fail here as it would against AWS,
not pass silently: unknown parameters are answered with EC2's
UnknownParameter and, for the other protocols, recorded in the call log
(`unknown_params`) -- AWS itself ignores or rejects them depending on the
service.  Missing required members get the protocol's validation error."""

import functools

import botocore.session

from protocols import AwsError

_SERVICE_NAMES = {"ec2": "ec2", "autoscaling": "autoscaling", "sts": "sts",
                  "secretsmanager": "secretsmanager", "ecs": "ecs", "dynamodb": "dynamodb"}


@functools.lru_cache(maxsize=None)
def _model(service):
    return botocore.session.get_session().get_service_model(_SERVICE_NAMES[service])


def _input_shape(service, action):
    model = _model(service)
    try:
        return model.operation_model(action).input_shape
    except Exception:
        return None


def _member_key(name, shape, ec2):
    ser = shape.serialization
    if ec2:
        if ser.get("queryName"):
            return ser["queryName"]
        if ser.get("name"):
            return ser["name"][:1].upper() + ser["name"][1:]
        return name
    return ser.get("name", name)


def _walk(tokens, shape, ec2):
    """True when the flattened key `tokens` names a place in `shape`."""
    if not tokens:
        return True
    t = shape.type_name
    if t == "structure":
        for name, member in shape.members.items():
            if _member_key(name, member, ec2) == tokens[0]:
                return _walk(tokens[1:], member, ec2)
        return False
    if t == "list":
        if ec2 or shape.serialization.get("flattened"):
            return tokens[0].isdigit() and _walk(tokens[1:], shape.member, ec2)
        inner = shape.member.serialization.get("name", "member")
        return (len(tokens) >= 2 and tokens[0] == inner and tokens[1].isdigit()
                and _walk(tokens[2:], shape.member, ec2))
    if t == "map":
        if not shape.serialization.get("flattened"):
            if not tokens or tokens[0] != "entry":
                return False
            tokens = tokens[1:]
        if len(tokens) < 2 or not tokens[0].isdigit():
            return False
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        if tokens[1] == key_name:
            return len(tokens) == 2
        if tokens[1] == value_name:
            return _walk(tokens[2:], shape.value, ec2)
        return False
    return not tokens


def _camel(name):
    return name[:1].lower() + name[1:]


def check_query(service, action, params):
    """Unknown parameter names (list); raises AwsError for EC2 unknowns and
    for missing required members."""
    shape = _input_shape(service, action)
    if shape is None:
        return []
    ec2 = service == "ec2"
    unknown = [k for k in params if k not in ("Action", "Version")
               and not _walk(k.split("."), shape, ec2)]
    if ec2 and unknown:
        raise AwsError("UnknownParameter", f"The parameter {unknown[0]} is not recognized")
    for name in shape.required_members:
        key = _member_key(name, shape.members[name], ec2)
        if not any(k == key or k.startswith(key + ".") for k in params):
            if ec2:
                raise AwsError("MissingParameter",
                               f"The request must contain the parameter {key}")
            raise AwsError("ValidationError", f"1 validation error detected: Value null at "
                           f"'{_camel(name)}' failed to satisfy constraint: Member must "
                           f"not be null")
    return unknown


def _json_unknown(value, shape, path, out):
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k not in shape.members:
                out.append(path + k)
            else:
                _json_unknown(v, shape.members[k], path + k + ".", out)
    elif t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _json_unknown(v, shape.member, f"{path[:-1]}[{i}].", out)
    elif t == "map" and isinstance(value, dict):
        for k, v in value.items():
            _json_unknown(v, shape.value, path + k + ".", out)


def check_json(service, action, body):
    shape = _input_shape(service, action)
    if shape is None:
        return []
    unknown = []
    _json_unknown(body, shape, "", unknown)
    for name in shape.required_members:
        if body.get(name) is None:
            raise AwsError("ValidationException" if service in ("secretsmanager", "dynamodb")
                           else "InvalidParameterException",
                           f"1 validation error detected: Value null at '{_camel(name)}' "
                           f"failed to satisfy constraint: Member must not be null")
    return unknown
