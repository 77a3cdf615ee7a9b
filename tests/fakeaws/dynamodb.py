"""DynamoDB (JSON 1.0, X-Amz-Target "DynamoDB_20120810").

Table: {"name", "arn", "id", "created", "key": [hash, range or None],
        "attrs": {name: "S"|"N"|"B"}, "billing", "sse": {...} or None,
        "items": {key text: item}}   item = {attr: AttributeValue}

What it does, with AWS's answers (API reference, "Errors" of each action):
  * GetItem, PutItem, UpdateItem, DeleteItem with ConditionExpression,
    ReturnValues and ReturnValuesOnConditionCheckFailure;
  * Query and Scan with Limit / ExclusiveStartKey / LastEvaluatedKey,
    FilterExpression, ProjectionExpression, Select=COUNT;
  * BatchGetItem (100 keys at most; keys the "unprocessed" fault picks come
    back in UnprocessedKeys, as DynamoDB does when a partition throttles);
  * CreateTable, DescribeTable, DeleteTable, ListTables;
  * the 400 KB item size limit, unused or undefined expression names and
    values, reserved words (an excerpt of the list) used bare.
Expressions: a recursive descent parser below (comparators, BETWEEN, IN,
AND/OR/NOT, attribute_exists, attribute_not_exists, attribute_type,
begins_with, contains, size; SET with + - if_not_exists list_append, REMOVE,
ADD, DELETE).
"""

import base64
import json
import re
import time
from decimal import Decimal, InvalidOperation

import faults
from protocols import AwsError
from state import ACCOUNT, new_uuid

TARGET = "DynamoDB_20120810"
MAX_ITEM = 400 * 1024
MAX_PAGE = 1024 * 1024
MAX_BATCH_GET = 100
NOT_FOUND = "Requested resource not found"
CCF = "The conditional request failed"

# Excerpt of "Reserved words in DynamoDB" (developer guide): the ones a
# certificate store is likely to reach for.
RESERVED = set("""ABORT ACTION ADD ALL AND ANY AS ASC ATTRIBUTE BETWEEN BY CASE COMMENT
COUNT CURRENT DATA DATE DELETE DESC DOMAIN END EXISTS EXPIRES FROM GROUP HASH HOST IN
INDEX IS KEY KEYS LIMIT LOCK NAME NOT NULL OF ON OR ORDER OWNER PATH PREVIOUS RANGE
ROLE SET SIZE SOURCE STATUS TABLE TIME TIMESTAMP TO TOKEN TTL TYPE UPDATE USER VALUE
VALUES VERSION WHERE YEAR ZONE""".split())

ERROR_PREFIX = {"ValidationException": "com.amazon.coral.validate#"}


def error_type(code):
    """The __type DynamoDB puts in an error body."""
    if code in ("UnrecognizedClientException", "InvalidSignatureException",
                "MissingAuthenticationTokenException", "ExpiredTokenException",
                "AccessDeniedException", "IncompleteSignatureException"):
        return "com.amazon.coral.service#" + code
    return ERROR_PREFIX.get(code, "com.amazonaws.dynamodb.v20120810#") + code


def validation(message):
    return AwsError("ValidationException", message)


# ---- attribute values ----------------------------------------------------
TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")


def _num(text):
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        raise validation("The parameter cannot be converted to a numeric value: " + str(text))


def check_value(v, where="item"):
    if not isinstance(v, dict) or len(v) != 1 or next(iter(v)) not in TYPES:
        raise validation(f"Supplied AttributeValue has more than one datatypes set, must "
                         f"contain exactly one of the supported datatypes ({where})")
    (t, x), = v.items()
    if t == "N":
        _num(x)
    elif t in ("SS", "NS", "BS"):
        if not x:
            raise validation("One or more parameter values were invalid: An number set  may "
                             "not be empty" if t == "NS" else
                             "One or more parameter values were invalid: An string set  may "
                             "not be empty")
        if len(set(x)) != len(x):
            raise validation("One or more parameter values were invalid: Input collection "
                             f"{x} contains duplicates.")
    elif t == "M":
        for k, e in x.items():
            check_value(e, where)
    elif t == "L":
        for e in x:
            check_value(e, where)


def value_size(v):
    """DynamoDB's item size accounting ("Item sizes and formats")."""
    (t, x), = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        digits = len(str(_num(x)).replace("-", "").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if t == "B":
        return len(base64.b64decode(x))
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(s.encode()) for s in x)
    if t == "NS":
        return sum(value_size({"N": n}) for n in x)
    if t == "BS":
        return sum(len(base64.b64decode(b)) for b in x)
    if t == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in x.items())
    return 3 + sum(value_size(e) + 1 for e in x)


def item_size(item):
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def _plain(v):
    """A comparable Python value."""
    (t, x), = v.items()
    if t == "N":
        return Decimal(x)
    if t == "B":
        return base64.b64decode(x)
    if t == "NS":
        return frozenset(Decimal(n) for n in x)
    if t in ("SS", "BS"):
        return frozenset(x)
    if t == "M":
        return {k: _plain(e) for k, e in x.items()}
    if t == "L":
        return [_plain(e) for e in x]
    return x


def _same(a, b):
    return a is not None and b is not None and next(iter(a)) == next(iter(b)) and \
        _plain(a) == _plain(b)


# ---- expressions -----------------------------------------------------------
TOKEN = re.compile(r"\s*(?:(?P<op><>|<=|>=|[=<>(),.\[\]+-])|(?P<name>#[A-Za-z0-9_]+)|"
                   r"(?P<value>:[A-Za-z0-9_]+)|(?P<num>\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")
FUNCS = {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
         "contains", "size"}
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")


class Expr:
    """Tokens of one expression plus the names/values it may use."""

    def __init__(self, text, kind, names, values, used):
        self.text, self.kind = text, kind
        self.names, self.values, self.used = names, values, used
        self.toks = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = TOKEN.match(text, pos)
            if not m or m.end() == pos:
                bad = text[pos:].strip()[:1]
                raise self.error(f'Syntax error; token: "{bad}", near: "{text[max(0, pos - 3):pos + 3].strip()}"')
            pos = m.end()
            self.toks.append((m.lastgroup, m.group(m.lastgroup)))
        self.i = 0

    def error(self, message):
        return validation(f"Invalid {self.kind}: {message}")

    def peek(self, k=0):
        return self.toks[self.i + k] if self.i + k < len(self.toks) else (None, None)

    def take(self, want=None):
        tok = self.peek()
        if tok[0] is None or (want is not None and tok[1].upper() != want.upper()):
            near = tok[1] if tok[1] is not None else "<EOF>"
            raise self.error(f'Syntax error; token: "{near}", near: "{self.text[-12:]}"')
        self.i += 1
        return tok

    def at(self, *words):
        kind, text = self.peek()
        return text is not None and kind in ("op", "word") and text.upper() in words

    def done(self):
        if self.i != len(self.toks):
            raise self.error(f'Syntax error; token: "{self.peek()[1]}", near: "{self.text}"')

    # paths and operands
    def path(self):
        parts = [self.path_name()]
        while self.at(".", "["):
            if self.take()[1] == ".":
                parts.append(self.path_name())
            else:
                parts.append(int(self.take()[1]))
                self.take("]")
        return ("path", parts)

    def path_name(self):
        kind, text = self.take()
        if kind == "name":
            if text not in self.names:
                raise self.error("An expression attribute name used in the document path is "
                                 f"not defined; attribute name: {text}")
            self.used.add(text)
            return self.names[text]
        if kind != "word":
            raise self.error(f'Syntax error; token: "{text}", near: "{self.text}"')
        if text.upper() in RESERVED:
            raise self.error(f"Attribute name is a reserved keyword; reserved keyword: {text}")
        return text

    def operand(self):
        kind, text = self.peek()
        if kind == "value":
            self.i += 1
            if text not in self.values:
                raise self.error("An expression attribute value used in expression is not "
                                 f"defined; attribute value: {text}")
            self.used.add(text)
            return ("value", self.values[text])
        if kind == "word" and text.lower() == "size" and self.peek(1)[1] == "(":
            self.i += 2
            p = self.path()
            self.take(")")
            return ("size", p)
        return self.path()

    # conditions
    def condition(self):
        left = self.conjunction()
        while self.at("OR"):
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self):
        left = self.negation()
        while self.at("AND"):
            self.take()
            left = ("and", left, self.negation())
        return left

    def negation(self):
        if self.at("NOT"):
            self.take()
            return ("not", self.negation())
        return self.primary()

    def primary(self):
        if self.at("("):
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        kind, text = self.peek()
        if kind == "word" and text.lower() in FUNCS - {"size"} and self.peek(1)[1] == "(":
            self.i += 2
            args = [self.operand()]
            while self.at(","):
                self.take()
                args.append(self.operand())
            self.take(")")
            return ("fn", text.lower(), args)
        left = self.operand()
        if self.at(*COMPARATORS):
            return ("cmp", self.take()[1], left, self.operand())
        if self.at("BETWEEN"):
            self.take()
            low = self.operand()
            self.take("AND")
            return ("between", left, low, self.operand())
        if self.at("IN"):
            self.take()
            self.take("(")
            options = [self.operand()]
            while self.at(","):
                self.take()
                options.append(self.operand())
            self.take(")")
            return ("in", left, options)
        raise self.error(f'Syntax error; token: "{self.peek()[1] or "<EOF>"}", near: "{self.text}"')


def resolve(item, path):
    cur = {"M": item}
    for part in path[1]:
        (t, x), = cur.items()
        if isinstance(part, int):
            if t != "L" or part >= len(x):
                return None
            cur = x[part]
        else:
            if t != "M" or part not in x:
                return None
            cur = x[part]
    return cur


def evaluate_operand(item, node):
    if node[0] == "value":
        return node[1]
    if node[0] == "size":
        v = resolve(item, node[1])
        if v is None:
            return None
        (t, x), = v.items()
        if t == "S":
            return {"N": str(len(x.encode()))}
        if t == "B":
            return {"N": str(len(base64.b64decode(x)))}
        if t in ("SS", "NS", "BS", "L", "M"):
            return {"N": str(len(x))}
        return None
    return resolve(item, node)


def _compare(op, a, b):
    if a is None or b is None:
        return op == "<>" and not (a is None and b is None)
    ta, tb = next(iter(a)), next(iter(b))
    if op in ("=", "<>"):
        same = _same(a, b)
        return same if op == "=" else not same
    if ta != tb or ta not in ("S", "N", "B"):
        return False
    x, y = _plain(a), _plain(b)
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def evaluate(item, node):
    kind = node[0]
    if kind == "or":
        return evaluate(item, node[1]) or evaluate(item, node[2])
    if kind == "and":
        return evaluate(item, node[1]) and evaluate(item, node[2])
    if kind == "not":
        return not evaluate(item, node[1])
    if kind == "cmp":
        return _compare(node[1], evaluate_operand(item, node[2]), evaluate_operand(item, node[3]))
    if kind == "between":
        v = evaluate_operand(item, node[1])
        return _compare(">=", v, evaluate_operand(item, node[2])) and \
            _compare("<=", v, evaluate_operand(item, node[3]))
    if kind == "in":
        v = evaluate_operand(item, node[1])
        return any(_compare("=", v, evaluate_operand(item, o)) for o in node[2])
    name, args = node[1], node[2]
    first = evaluate_operand(item, args[0])
    if name == "attribute_exists":
        return first is not None
    if name == "attribute_not_exists":
        return first is None
    second = evaluate_operand(item, args[1]) if len(args) > 1 else None
    if first is None or second is None:
        return False
    if name == "attribute_type":
        return next(iter(first)) == second.get("S")
    if name == "begins_with":
        t = next(iter(first))
        return t == next(iter(second)) and t in ("S", "B") and \
            _plain(first)[:len(_plain(second))] == _plain(second)
    (t, x), = first.items()
    if t == "S":
        return "S" in second and second["S"] in x
    if t in ("SS", "NS", "BS", "L"):
        return any(_same(e if isinstance(e, dict) else {t[0]: e}, second) for e in x)
    return False


class Exprs:
    """The names and values of one request, and which of them were used."""

    def __init__(self, body):
        self.names = body.get("ExpressionAttributeNames") or {}
        self.values = body.get("ExpressionAttributeValues") or {}
        for v in self.values.values():
            check_value(v, "ExpressionAttributeValues")
        self.used = set()

    def parse(self, text, kind):
        if text is None:
            return None
        if not text.strip():
            raise validation(f"Invalid {kind}: The expression can not be empty;")
        e = Expr(text, kind, self.names, self.values, self.used)
        return e

    def condition(self, text, kind="ConditionExpression"):
        e = self.parse(text, kind)
        if e is None:
            return None
        node = e.condition()
        e.done()
        return node

    def projection(self, text):
        e = self.parse(text, "ProjectionExpression")
        if e is None:
            return None
        paths = [e.path()]
        while e.at(","):
            e.take()
            paths.append(e.path())
        e.done()
        return paths

    def check_unused(self):
        unused_v = sorted(set(self.values) - self.used)
        if unused_v:
            raise validation("Value provided in ExpressionAttributeValues unused in "
                             f"expressions: keys: {{{', '.join(unused_v)}}}")
        unused_n = sorted(set(self.names) - self.used)
        if unused_n:
            raise validation("Value provided in ExpressionAttributeNames unused in "
                             f"expressions: keys: {{{', '.join(unused_n)}}}")


def project(item, paths):
    if paths is None:
        return item
    out = {}
    for p in paths:
        top = p[1][0]
        if len(p[1]) == 1 and top in item:
            out[top] = item[top]
        elif top in item:
            v = resolve(item, p)
            if v is not None:
                out[top] = item[top]
    return out


# ---- update expressions ------------------------------------------------------
def parse_update(exprs, text):
    e = exprs.parse(text, "UpdateExpression")
    actions = []
    seen = set()
    while e.peek()[0] is not None:
        clause = e.take()[1].upper()
        if clause not in ("SET", "REMOVE", "ADD", "DELETE") or clause in seen:
            raise e.error(f'Syntax error; token: "{clause}", near: "{text}"')
        seen.add(clause)
        while True:
            target = e.path()
            if clause == "SET":
                e.take("=")
                actions.append(("set", target, _set_value(e)))
            elif clause == "REMOVE":
                actions.append(("remove", target))
            else:
                actions.append((clause.lower(), target, e.operand()))
            if not e.at(","):
                break
            e.take()
    if not actions:
        raise e.error("The expression can not be empty;")
    return actions


def _set_value(e):
    left = _set_operand(e)
    if e.at("+", "-"):
        op = e.take()[1]
        return ("arith", op, left, _set_operand(e))
    return left


def _set_operand(e):
    kind, text = e.peek()
    if kind == "word" and text in ("if_not_exists", "list_append") and e.peek(1)[1] == "(":
        e.i += 2
        a = e.operand()
        e.take(",")
        b = e.operand()
        e.take(")")
        return (text, a, b)
    return e.operand()


def _set_eval(item, node, kind):
    if node[0] == "if_not_exists":
        v = evaluate_operand(item, node[1])
        return v if v is not None else _set_eval(item, node[2], kind)
    if node[0] == "list_append":
        a, b = _set_eval(item, node[1], kind), _set_eval(item, node[2], kind)
        if a is None or b is None or "L" not in a or "L" not in b:
            raise validation("Invalid UpdateExpression: Incorrect operand type for operator or "
                             "function; operator or function: list_append")
        return {"L": a["L"] + b["L"]}
    if node[0] == "arith":
        a, b = _set_eval(item, node[2], kind), _set_eval(item, node[3], kind)
        if a is None or b is None:
            raise validation("The provided expression refers to an attribute that does not "
                             "exist in the item")
        if "N" not in a or "N" not in b:
            raise validation("An operand in the update expression has an incorrect data type")
        r = _num(a["N"]) + _num(b["N"]) if node[1] == "+" else _num(a["N"]) - _num(b["N"])
        return {"N": _fmt_num(r)}
    v = evaluate_operand(item, node)
    if v is None:
        raise validation("The provided expression refers to an attribute that does not exist "
                         "in the item")
    return v


def _fmt_num(d):
    text = format(d.normalize(), "f")
    return text


def _assign(item, path, value):
    parts = path[1]
    cur = item
    for part in parts[:-1]:
        nxt = cur.get(part) if isinstance(cur, dict) else None
        if isinstance(part, int):
            nxt = cur[part] if part < len(cur) else None
        if nxt is None:
            raise validation("The document path provided in the update expression is invalid "
                             "for update")
        cur = nxt.get("M") if "M" in nxt else nxt.get("L")
        if cur is None:
            raise validation("The document path provided in the update expression is invalid "
                             "for update")
    last = parts[-1]
    if value is None:
        if isinstance(cur, dict):
            cur.pop(last, None)
        elif isinstance(last, int) and last < len(cur):
            del cur[last]
    elif isinstance(last, int):
        if last < len(cur):
            cur[last] = value
        else:
            cur.append(value)
    else:
        cur[last] = value


def apply_update(item, actions):
    old = json.loads(json.dumps(item))
    new = json.loads(json.dumps(item))
    changed = set()
    for action in actions:
        kind, target = action[0], action[1]
        changed.add(target[1][0])
        if kind == "set":
            _assign(new, target, _set_eval(old, action[2], "SET"))
        elif kind == "remove":
            _assign(new, target, None)
        else:
            operand = evaluate_operand(old, action[2])
            current = resolve(old, target)
            _assign(new, target, _add_delete(kind, current, operand))
    return new, changed


def _add_delete(kind, current, operand):
    t = next(iter(operand))
    if kind == "add" and t == "N":
        base = _num(current["N"]) if current and "N" in current else Decimal(0)
        return {"N": _fmt_num(base + _num(operand["N"]))}
    if t not in ("SS", "NS", "BS"):
        raise validation(f"Invalid UpdateExpression: Incorrect operand type for operator or "
                         f"function; operator: {kind.upper()}, operand type: {t}")
    have = list(current[t]) if current and t in current else []
    if kind == "add":
        return {t: have + [x for x in operand[t] if x not in have]}
    left = [x for x in have if x not in operand[t]]
    return {t: left} if left else None


# ---- tables -------------------------------------------------------------------
def tables(store):
    return store.data.setdefault("dynamodb", {})


def find_table(store, name):
    if not name:
        raise validation("1 validation error detected: Value null at 'tableName' failed to "
                         "satisfy constraint: Member must not be null")
    t = tables(store).get(name)
    if t is None:
        raise AwsError("ResourceNotFoundException", NOT_FOUND)
    return t


def key_of(table, key, what="key"):
    """The item key text, after checking `key` against the schema."""
    names = [k for k in table["key"] if k]
    if not isinstance(key, dict) or set(key) != set(names):
        raise validation("The provided key element does not match the schema")
    parts = []
    for n in names:
        v = key[n]
        check_value(v, what)
        if next(iter(v)) != table["attrs"][n]:
            raise validation("The provided key element does not match the schema")
        (t, x), = v.items()
        if t in ("S", "B") and not x:
            raise validation("One or more parameter values are not valid. The AttributeValue "
                             f"for a key attribute cannot contain an empty string value. Key: {n}")
        parts.append([t, x])
    return json.dumps(parts)


def _sort_key(table, item):
    out = []
    for n in table["key"]:
        if n:
            v = item[n]
            out.append(_plain(v))
    return tuple(out)


def item_key(table, item):
    return {n: item[n] for n in table["key"] if n}


def describe(table):
    hash_key, range_key = table["key"]
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    items = table["items"].values()
    out = {"TableName": table["name"], "TableArn": table["arn"], "TableId": table["id"],
           "TableStatus": "ACTIVE", "CreationDateTime": table["created"],
           "KeySchema": schema,
           "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t}
                                    for n, t in table["attrs"].items()],
           "ItemCount": len(table["items"]),
           "TableSizeBytes": sum(item_size(i) for i in items),
           "ProvisionedThroughput": {"NumberOfDecreasesToday": 0,
                                     "ReadCapacityUnits": table["rcu"],
                                     "WriteCapacityUnits": table["wcu"]}}
    if table["billing"] == "PAY_PER_REQUEST":
        out["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST",
                                     "LastUpdateToPayPerRequestDateTime": table["created"]}
    if table.get("sse"):
        out["SSEDescription"] = table["sse"]
    return out


def handle(store, call):
    fn = globals().get("op_" + call.action)
    if fn is None:
        raise AwsError("UnknownOperationException", "")
    return fn(store, call, call.json)


def op_CreateTable(store, call, b):
    name = b.get("TableName")
    call.log["table"] = name
    attrs = {a["AttributeName"]: a["AttributeType"] for a in b.get("AttributeDefinitions") or []}
    schema = b.get("KeySchema") or []
    hash_key = [k["AttributeName"] for k in schema if k.get("KeyType") == "HASH"]
    range_key = [k["AttributeName"] for k in schema if k.get("KeyType") == "RANGE"]
    if len(hash_key) != 1 or len(range_key) > 1 or len(schema) != len(hash_key) + len(range_key):
        raise validation("1 validation error detected: Invalid KeySchema: Some index key "
                         "schema element is not valid")
    keys = [hash_key[0], range_key[0] if range_key else None]
    if set(attrs) != {k for k in keys if k}:
        raise validation("One or more parameter values were invalid: Number of attributes in "
                         "KeySchema does not exactly match number of attributes defined in "
                         "AttributeDefinitions")
    if any(t not in ("S", "N", "B") for t in attrs.values()):
        raise validation("1 validation error detected: Value at 'attributeDefinitions' failed "
                         "to satisfy constraint: Member must satisfy enum value set: [B, N, S]")
    billing = b.get("BillingMode") or "PROVISIONED"
    pt = b.get("ProvisionedThroughput")
    if billing == "PROVISIONED" and not pt:
        raise validation("One or more parameter values were invalid: ReadCapacityUnits and "
                         "WriteCapacityUnits must both be specified when BillingMode is "
                         "PROVISIONED")
    if billing == "PAY_PER_REQUEST" and pt:
        raise validation("One or more parameter values were invalid: Neither "
                         "ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                         "BillingMode is PAY_PER_REQUEST")
    sse = b.get("SSESpecification") or {}
    with store.lock:
        if name in tables(store):
            raise AwsError("ResourceInUseException", f"Table already exists: {name}")
        table = {"name": name, "id": new_uuid(), "created": time.time(), "key": keys,
                 "arn": f"arn:aws:dynamodb:{store.region}:{ACCOUNT}:table/{name}",
                 "attrs": attrs, "billing": billing,
                 "rcu": (pt or {}).get("ReadCapacityUnits", 0),
                 "wcu": (pt or {}).get("WriteCapacityUnits", 0),
                 "sse": ({"Status": "ENABLED", "SSEType": "KMS",
                          "KMSMasterKeyArn": sse.get("KMSMasterKeyId") or
                          f"arn:aws:kms:{store.region}:{ACCOUNT}:key/aws-dynamodb"}
                         if sse.get("Enabled") else None),
                 "items": {}}
        tables(store)[name] = table
        store.save()
        out = describe(table)
        out["TableStatus"] = "CREATING"
        return {"TableDescription": out}


def op_DescribeTable(store, call, b):
    name = b.get("TableName")
    call.log["table"] = name
    with store.lock:
        t = tables(store).get(name)
        if t is None:
            raise AwsError("ResourceNotFoundException",
                           f"Requested resource not found: Table: {name} not found")
        return {"Table": describe(t)}


def op_DeleteTable(store, call, b):
    with store.lock:
        t = find_table(store, b.get("TableName"))
        del tables(store)[t["name"]]
        store.save()
        out = describe(t)
        out["TableStatus"] = "DELETING"
        return {"TableDescription": out}


def op_ListTables(store, call, b):
    with store.lock:
        names = sorted(tables(store))
    start = b.get("ExclusiveStartTableName")
    if start:
        names = [n for n in names if n > start]
    limit = b.get("Limit") or 100
    out = {"TableNames": names[:limit]}
    if len(names) > limit:
        out["LastEvaluatedTableName"] = names[limit - 1]
    return out


def _capacity(b, table, units):
    if b.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        return {"ConsumedCapacity": {"TableName": table["name"], "CapacityUnits": units}}
    return {}


def _read_units(size, consistent):
    units = max(1, -(-size // 4096))
    return float(units if consistent else units / 2)


def _write_units(size):
    return float(max(1, -(-size // 1024)))


def _check_condition(b, exprs, item):
    node = exprs.condition(b.get("ConditionExpression"))
    exprs.check_unused()
    if node is not None and not evaluate(item or {}, node):
        err = AwsError("ConditionalCheckFailedException", CCF)
        if b.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and item:
            err.extra = {"Item": item}
        raise err


def op_GetItem(store, call, b):
    exprs = Exprs(b)
    paths = exprs.projection(b.get("ProjectionExpression"))
    exprs.check_unused()
    with store.lock:
        t = find_table(store, b.get("TableName"))
        k = key_of(t, b.get("Key"))
        call.log["table"], call.log["key"] = t["name"], k
        item = t["items"].get(k)
        out = {}
        if item is not None:
            out["Item"] = project(item, paths)
        out.update(_capacity(b, t, _read_units(item_size(item) if item else 0,
                                               b.get("ConsistentRead"))))
        return out


def _too_big(item, update=False):
    if item_size(item) > MAX_ITEM:
        raise validation("Item size to update has exceeded the maximum allowed size" if update
                         else "Item size has exceeded the maximum allowed size")


def op_PutItem(store, call, b):
    item = b.get("Item")
    if not isinstance(item, dict):
        raise validation("1 validation error detected: Value null at 'item' failed to "
                         "satisfy constraint: Member must not be null")
    for v in item.values():
        check_value(v)
    exprs = Exprs(b)
    _too_big(item)
    with store.lock:
        t = find_table(store, b.get("TableName"))
        for n in t["key"]:
            if n and n not in item:
                raise validation("One or more parameter values were invalid: Missing the key "
                                 f"{n} in the item")
        k = key_of(t, item_key(t, item))
        call.log["table"], call.log["key"] = t["name"], k
        old = t["items"].get(k)
        _check_condition(b, exprs, old)
        t["items"][k] = item
        store.save()
        out = {"Attributes": old} if old and b.get("ReturnValues") == "ALL_OLD" else {}
        out.update(_capacity(b, t, _write_units(max(item_size(item), item_size(old or {})))))
        return out


def op_DeleteItem(store, call, b):
    exprs = Exprs(b)
    with store.lock:
        t = find_table(store, b.get("TableName"))
        k = key_of(t, b.get("Key"))
        call.log["table"], call.log["key"] = t["name"], k
        old = t["items"].get(k)
        _check_condition(b, exprs, old)
        if old is not None:
            del t["items"][k]
            store.save()
        out = {"Attributes": old} if old and b.get("ReturnValues") == "ALL_OLD" else {}
        out.update(_capacity(b, t, _write_units(item_size(old or {}))))
        return out


def op_UpdateItem(store, call, b):
    exprs = Exprs(b)
    text = b.get("UpdateExpression")
    with store.lock:
        t = find_table(store, b.get("TableName"))
        key = b.get("Key")
        k = key_of(t, key)
        call.log["table"], call.log["key"] = t["name"], k
        old = t["items"].get(k)
        actions = parse_update(exprs, text) if text else []
        _check_condition(b, exprs, old)
        base = dict(old) if old else dict(key)
        new, changed = apply_update(base, actions)
        if any(n in changed for n in t["key"] if n):
            raise validation("One or more parameter values were invalid: Cannot update "
                             "attribute " + next(n for n in t["key"] if n in changed) +
                             ". This attribute is part of the key")
        _too_big(new, update=True)
        t["items"][k] = new
        store.save()
        rv = b.get("ReturnValues") or "NONE"
        out = {}
        if rv == "ALL_NEW":
            out["Attributes"] = new
        elif rv == "ALL_OLD" and old:
            out["Attributes"] = old
        elif rv == "UPDATED_NEW":
            out["Attributes"] = {n: new[n] for n in changed if n in new}
        elif rv == "UPDATED_OLD" and old:
            out["Attributes"] = {n: old[n] for n in changed if n in old}
        out.update(_capacity(b, t, _write_units(max(item_size(new), item_size(old or {})))))
        return out


def _page(b, t, candidates, exprs, filter_node, paths):
    """Limit / ExclusiveStartKey / LastEvaluatedKey and the 1 MB page."""
    start = b.get("ExclusiveStartKey")
    if start is not None:
        try:
            start_k = key_of(t, start)
        except AwsError:
            raise validation("The provided starting key is invalid: The provided key element "
                             "does not match the schema")
        keys = [k for k, _ in candidates]
        if start_k in keys:
            candidates = candidates[keys.index(start_k) + 1:]
        else:
            sk = _sort_key(t, start)
            candidates = [(k, i) for k, i in candidates if _sort_key(t, i) > sk]
    limit = b.get("Limit")
    if limit is not None and limit < 1:
        raise validation(f"1 validation error detected: Value '{limit}' at 'limit' failed to "
                         "satisfy constraint: Member must have value greater than or equal to 1")
    items, scanned, size, last = [], 0, 0, None
    for n, (k, item) in enumerate(candidates):
        if limit is not None and scanned >= limit or size >= MAX_PAGE:
            break
        scanned += 1
        size += item_size(item)
        last = item
        if filter_node is None or evaluate(item, filter_node):
            items.append(project(item, paths))
    out = {"Count": len(items), "ScannedCount": scanned}
    if b.get("Select") != "COUNT":
        out["Items"] = items
    if last is not None and scanned < len(candidates):
        out["LastEvaluatedKey"] = item_key(t, last)
    out.update(_capacity(b, t, _read_units(size, b.get("ConsistentRead"))))
    return out


def op_Scan(store, call, b):
    exprs = Exprs(b)
    filter_node = exprs.condition(b.get("FilterExpression"), "FilterExpression")
    paths = exprs.projection(b.get("ProjectionExpression"))
    exprs.check_unused()
    with store.lock:
        t = find_table(store, b.get("TableName"))
        call.log["table"] = t["name"]
        candidates = sorted(t["items"].items(), key=lambda kv: _sort_key(t, kv[1]))
        return _page(b, t, candidates, exprs, filter_node, paths)


def _key_condition(t, node, kind="KeyConditionExpression"):
    """(hash value, range predicate node or None) of a KeyConditionExpression."""
    def bad(msg):
        return validation(f"Query condition missed key schema element: {msg}")
    parts = []

    def flatten(n):
        if n[0] == "and":
            flatten(n[1])
            flatten(n[2])
        elif n[0] in ("or", "not", "in") or (n[0] == "cmp" and n[1] == "<>"):
            raise validation(f"Invalid operator used in KeyConditionExpression: "
                             f"{n[0].upper() if n[0] != 'cmp' else n[1]}")
        else:
            parts.append(n)
    flatten(node)
    hash_key, range_key = t["key"]
    hv, rng = None, None
    for p in parts:
        path = p[2] if p[0] == "cmp" else (p[1] if p[0] == "between" else p[2][0])
        attr = path[1][0] if path[0] == "path" else None
        if attr == hash_key and p[0] == "cmp" and p[1] == "=":
            hv = evaluate_operand({}, p[3])
        elif attr == range_key and range_key:
            rng = p
        else:
            raise validation("Query key condition not supported")
    if hv is None:
        raise bad(hash_key)
    return hv, rng


def op_Query(store, call, b):
    exprs = Exprs(b)
    text = b.get("KeyConditionExpression")
    if not text:
        raise validation("Either the KeyConditions or KeyConditionExpression parameter must be "
                         "specified in the request.")
    key_node = exprs.condition(text, "KeyConditionExpression")
    filter_node = exprs.condition(b.get("FilterExpression"), "FilterExpression")
    paths = exprs.projection(b.get("ProjectionExpression"))
    exprs.check_unused()
    with store.lock:
        t = find_table(store, b.get("TableName"))
        call.log["table"] = t["name"]
        hv, rng = _key_condition(t, key_node)
        hash_key = t["key"][0]
        candidates = [(k, i) for k, i in t["items"].items() if _same(i[hash_key], hv) and
                      (rng is None or evaluate(i, rng))]
        candidates.sort(key=lambda kv: _sort_key(t, kv[1]),
                        reverse=b.get("ScanIndexForward") is False)
        return _page(b, t, candidates, exprs, filter_node, paths)


def op_BatchGetItem(store, call, b):
    requests = b.get("RequestItems") or {}
    total = sum(len(r.get("Keys") or []) for r in requests.values())
    if total > MAX_BATCH_GET:
        raise validation("Too many items requested for the BatchGetItem call")
    if total == 0:
        raise validation("1 validation error detected: Value at 'requestItems' failed to "
                         "satisfy constraint: Member must have length greater than or equal to 1")
    # Keys the "unprocessed" fault leaves for the caller's next call, as a
    # throttled partition does; all of them unprocessed is a throttling error.
    share = faults.take_unprocessed(store, "dynamodb", "BatchGetItem")
    responses, unprocessed, capacity = {}, {}, []
    with store.lock:
        for name, req in requests.items():
            t = find_table(store, name)
            exprs = Exprs(req)
            paths = exprs.projection(req.get("ProjectionExpression"))
            exprs.check_unused()
            keys = req.get("Keys") or []
            seen = set()
            for key in keys:
                k = key_of(t, key)
                if k in seen:
                    raise validation("Provided list of item keys contains duplicates")
                seen.add(k)
            cut = len(keys) - int(len(keys) * share) if share else len(keys)
            if share and cut == len(keys) and keys:
                cut -= 1
            found, size = [], 0
            for key in keys[:cut]:
                item = t["items"].get(key_of(t, key))
                if item is not None:
                    found.append(project(item, paths))
                    size += item_size(item)
            responses[name] = found
            if keys[cut:]:
                rest = {k: v for k, v in req.items()}
                rest["Keys"] = keys[cut:]
                unprocessed[name] = rest
            if b.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
                capacity.append({"TableName": name,
                                 "CapacityUnits": _read_units(size, req.get("ConsistentRead"))})
    left = sum(len(v["Keys"]) for v in unprocessed.values())
    if left == total:
        raise AwsError("ProvisionedThroughputExceededException", THROTTLED)
    call.log["unprocessed"] = left
    out = {"Responses": responses, "UnprocessedKeys": unprocessed}
    if capacity:
        out["ConsumedCapacity"] = capacity
    return out


THROTTLED = ("The level of configured provisioned throughput for the table was exceeded. "
             "Consider increasing your provisioning level with the UpdateTable API.")
CONTROL_PLANE = ("CreateTable", "DescribeTable", "DeleteTable", "ListTables")


def throttle_code(action):
    """Data-plane calls of a throttled table answer
    ProvisionedThroughputExceededException, control-plane calls
    ThrottlingException (API reference, "Common Errors")."""
    if action in CONTROL_PLANE:
        return "ThrottlingException", "Rate of requests exceeds the allowed throughput."
    return "ProvisionedThroughputExceededException", THROTTLED
