"""Just enough CloudFormation and IAM to check deploy/ offline.

- `load(path)`: the template as plain data; short-form tags (!Ref, !Sub, !If,
  ...) become their long forms ({"Ref": ..}, {"Fn::Sub": ..}).
- `evaluate(template, parameters)`: the template with parameters, conditions
  and intrinsic functions resolved for one set of parameter values, resources
  whose Condition is false dropped; a resource's Ref / GetAtt give an ARN of
  the shape AWS gives (secrets get a 6-character suffix), so policies can be
  evaluated against realistic ARNs.
- `allowed(statements, action, resource, context)`: a small IAM evaluator for
  identity policies (Allow, and Deny that wins over it; Action/Resource globs with * and
  ?; the condition operators the templates use). Unknown operators raise, so a
  policy the checker cannot judge fails instead of passing.
"""

import re

import yaml

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "111122223333",
    "AWS::StackName": "stack",
    "AWS::URLSuffix": "amazonaws.com",
}
SECRET_SUFFIX = "AbC123"  # what Secrets Manager appends to a name in an ARN
NO_VALUE = object()  # Ref AWS::NoValue: the element or key disappears

_TAGS = ["Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Split", "Select", "Contains",
         "FindInMap", "Base64", "Cidr", "GetAZs", "ImportValue", "Condition", "Transform"]


class _Loader(yaml.SafeLoader):
    pass


def _tag_constructor(tag):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {"Fn::" + tag: value}
    return construct


for _tag in _TAGS:
    _Loader.add_constructor("!" + _tag, _tag_constructor(_tag))


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def _resource_name(logical, resource, resolve):
    props = resource.get("Properties", {})
    for key in ("Name", "FunctionName", "LogGroupName", "Family", "RoleName", "TableName"):
        if key in props:
            return resolve(props[key])
    return logical


def _ref_of(logical, resource, resolve):
    region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
    kind = resource["Type"]
    name = _resource_name(logical, resource, resolve)
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{SECRET_SUFFIX}"
    if kind == "AWS::IAM::ManagedPolicy":
        return f"arn:aws:iam::{account}:policy/{logical}"
    if kind == "AWS::ECS::TaskDefinition":
        return f"arn:aws:ecs:{region}:{account}:task-definition/{name}:1"
    return name  # functions, roles, log groups, profiles: their name


def _getatt(logical, resource, attribute, resolve, pseudo=None):
    pseudo = pseudo or PSEUDO
    region, account = pseudo["AWS::Region"], pseudo["AWS::AccountId"]
    kind = resource["Type"]
    name = _resource_name(logical, resource, resolve)
    if attribute != "Arn":
        return f"{logical}.{attribute}"
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{account}:role/{name}"
    if kind == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{region}:{account}:function:{name}"
    if kind == "AWS::Logs::LogGroup":
        return f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    raise ValueError(f"GetAtt {logical}.Arn of {kind}: not modelled")


def evaluate(template, parameters, refs=None, pseudo=None):
    """The template resolved for `parameters` (missing ones take Default).
    `refs` overrides what Ref of a resource gives ({logical id: value}, e.g.
    the ARN of a secret that exists in a test service); `pseudo` overrides
    pseudo parameters (AWS::AccountId, AWS::Region)."""
    refs = refs or {}
    pseudo_values = dict(PSEUDO, **(pseudo or {}))
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        value = parameters.get(name, spec.get("Default"))
        if value is None:
            raise ValueError(f"parameter {name} has no value and no default")
        if spec.get("Type", "").startswith("CommaDelimitedList") or spec.get("Type", "").startswith("List<"):
            if isinstance(value, str):
                value = value.split(",") if value else [""]
        elif not isinstance(value, str):
            value = str(value)
        params[name] = value
    unknown = set(parameters) - set(params)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    resources = template.get("Resources", {})
    conditions = {}

    def condition(name):
        if name not in conditions:
            conditions[name] = bool(resolve(template["Conditions"][name]))
        return conditions[name]

    def substitute(text, variables):
        def one(match):
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return variables[key]
            if key in params:
                value = params[key]
                if isinstance(value, list):
                    raise ValueError(f"Fn::Sub of list parameter {key}")
                return value
            if key in pseudo_values:
                return pseudo_values[key]
            if "." in key:
                logical, attribute = key.split(".", 1)
                return _getatt(logical, resources[logical], attribute, resolve, pseudo_values)
            if key in refs:
                return refs[key]
            if key in resources:
                return _ref_of(key, resources[key], resolve)
            raise ValueError(f"Fn::Sub: unknown ${{{key}}}")
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(node):
        if isinstance(node, list):
            out = [resolve(v) for v in node]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in params:
                    return params[arg]
                if arg in pseudo_values:
                    return pseudo_values[arg]
                if arg in refs:
                    return refs[arg]
                if arg in resources:
                    return _ref_of(arg, resources[arg], resolve)
                raise ValueError(f"Ref to unknown {arg}")
            if key == "Fn::If":
                name, yes, no = arg
                return resolve(yes if condition(name) else no)
            if key == "Condition":
                return condition(arg)
            if key == "Fn::Equals":
                a, b = (resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not resolve(arg[0])
            if key == "Fn::And":
                return all(resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(resolve(v) for v in arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return substitute(arg, {})
                text, variables = arg
                return substitute(text, {k: resolve(v) for k, v in variables.items()})
            if key == "Fn::Contains":  # Rules only: whether the list holds the string
                values, text = arg
                return str(resolve(text)) in [str(v) for v in resolve(values)]
            if key == "Fn::Join":
                delimiter, values = arg
                if not isinstance(delimiter, str):
                    raise ValueError("Fn::Join: the delimiter must be a literal string")
                values = resolve(values)
                return delimiter.join(str(v) for v in values)
            if key == "Fn::Split":
                delimiter, text = arg
                return resolve(text).split(delimiter)
            if key == "Fn::Select":
                index, values = arg
                return resolve(values)[int(resolve(index))]
            if key == "Fn::GetAtt":
                logical, attribute = arg
                return _getatt(logical, resources[logical], attribute, resolve, pseudo_values)
            if key.startswith("Fn::"):
                raise ValueError(f"{key}: not modelled")
        out = {}
        for k, v in node.items():
            r = resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    result = {"Resources": {}, "Outputs": {}, "Conditions": {}, "RuleFailures": []}
    # Rules (checked by CloudFormation before anything is created): the
    # AssertDescription of each assertion that fails where its rule applies.
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not resolve(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions", []):
            if not resolve(assertion["Assert"]):
                result["RuleFailures"].append(assertion.get("AssertDescription", "a rule failed"))
    for name in template.get("Conditions", {}):
        result["Conditions"][name] = condition(name)
    for logical, resource in resources.items():
        if "Condition" in resource and not condition(resource["Condition"]):
            continue
        result["Resources"][logical] = resolve(resource)
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not condition(output["Condition"]):
            continue
        result["Outputs"][name] = resolve(output)
    return result


# --- IAM ---------------------------------------------------------------------

def as_list(value):
    return value if isinstance(value, list) else [value]


def statements_of(document):
    return as_list(document.get("Statement", []))


def _glob(pattern, value, case_insensitive=False):
    if case_insensitive:
        pattern, value = pattern.lower(), value.lower()
    # IAM globs: * any run, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def _condition_holds(condition, context):
    for operator, tests in condition.items():
        set_op, _, op = operator.rpartition(":") if ":" in operator else ("", "", operator)
        # ...IfExists: holds where the request has no such key, else as the operator.
        if_exists = op.endswith("IfExists")
        if if_exists:
            op = op[:-len("IfExists")]
            if set_op:
                raise ValueError(f"condition operator {operator}: not modelled")
            tests = {k: v for k, v in tests.items() if k in context}
        if op in ("StringEquals", "ArnEquals", "StringNotEquals"):
            match = lambda p, v: p == v  # noqa: E731
        elif op in ("StringLike", "ArnLike"):
            match = lambda p, v: _glob(p, v)  # noqa: E731
        else:
            raise ValueError(f"condition operator {operator}: not modelled")
        negated = op == "StringNotEquals"

        def holds(value, patterns, match=match, negated=negated):
            # A negated operator holds for a value matching none of the patterns.
            if negated:
                return not any(match(p, value) for p in patterns)
            return any(match(p, value) for p in patterns)

        for key, patterns in tests.items():
            patterns = as_list(patterns)
            values = context.get(key)
            if set_op == "ForAllValues":
                if values is None:
                    continue  # vacuously true, as in IAM
                if not all(holds(v, patterns) for v in as_list(values)):
                    return False
            elif set_op == "ForAnyValue":
                if values is None or not any(holds(v, patterns) for v in as_list(values)):
                    return False
            elif set_op == "":
                if values is None or isinstance(values, list):
                    if values is None:
                        return False
                    raise ValueError(f"{key} is multivalued: use ForAllValues/ForAnyValue")
                if not holds(values, patterns):
                    return False
            else:
                raise ValueError(f"condition set operator {set_op}: not modelled")
    return True


def _applies(s, action, resource, context):
    if "NotAction" in s or "NotResource" in s:
        raise ValueError("NotAction/NotResource: not allowed in our policies")
    if not any(_glob(a, action, case_insensitive=True) for a in as_list(s.get("Action", []))):
        return False
    if not any(_glob(r, resource) for r in as_list(s.get("Resource", []))):
        return False
    return _condition_holds(s.get("Condition", {}), context)


def allowed(statements, action, resource, context=None):
    """Whether an identity policy allows `action` ("svc:Name") on `resource`:
    an Allow applies and no Deny does (an explicit Deny wins, as in IAM)."""
    context = context or {}
    effects = {s.get("Effect") for s in statements}
    if effects - {"Allow", "Deny"}:
        raise ValueError(f"statement effects {sorted(effects)}: only Allow and Deny")
    if any(_applies(s, action, resource, context) for s in statements if s.get("Effect") == "Deny"):
        return False
    return any(_applies(s, action, resource, context) for s in statements if s.get("Effect") == "Allow")


def actions_of(statements):
    out = []
    for s in statements:
        out.extend(as_list(s.get("Action", [])))
        out.extend(as_list(s.get("NotAction", [])))
    return out
