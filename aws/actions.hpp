// Every AWS API action the binaries can call, with who calls it and when.
//
// This is the one table the IAM policies are checked against:
// tests/deploy/test_policy.py reads it, proves it equals the set of actions
// found at the call sites (aws/, dns/, secrets/, renewer/), and checks that
// deploy/cloudformation.yaml and deploy/iam/*.json grant each action to the
// role that needs it, on limited resources, with no wildcard action.
// Adding a call site without a row here fails that test.
//
// The IAM action is "<service>:<action>" (the IAM prefixes of these services
// are their SigV4 signing names). One row per line, kept in this shape: the
// test parses it.
#pragma once

#include <array>
#include <string_view>

namespace aws {

struct ActionUse {
    std::string_view service;  // IAM prefix = Service::signing_name
    std::string_view action;   // API action = IAM action name
    // Who needs the permission:
    //   "renewer"             the job, always (DNS-01 over Route53, the certificate store)
    //   "renewer:autoscaling" the job, when it replaces with an instance refresh
    //   "renewer:ec2-tag"     the job, when it terminates instances by tag
    //   "renewer:ecs"         the job, when it forces an ECS deployment
    //   "renewer:assume-role" the job, only with --route53-assume-role-arn (the role's ARN)
    //   "renewer:dynamodb"    the job, with a dynamodb: store or --lease-table (the table's ARN)
    //   "renewer:domain-list" the job, with --certificates-from dynamodb:TABLE (the table's ARN;
    //                         docs/customer-domains.md#the-domain-list)
    //   "certfetch"           the web host's instance profile
    //   "certfetch:all"       the web host's instance profile, with certfetch --all
    //                         (docs/customer-domains.md)
    //   "certfetch:dynamodb"  the web host, when it reads a dynamodb: store (the table's ARN)
    //   "certfetch:dynamodb-all" the web host, with certfetch --all over a dynamodb: table
    //                         (docs/stores.md#listing-a-table)
    //   "renewer:domain-list-dynamodb" the job, with --certificates-from and a dynamodb:
    //                         default store: removed items' certificates (the table's ARN)
    //   "none"                no IAM permission: authorized by the role's trust policy
    std::string_view caller;
    std::string_view why;
};

inline constexpr std::array k_action_uses = {
    ActionUse{"route53", "ListHostedZonesByName", "renewer", "find the zone of a name (no resource-level permissions)"},
    ActionUse{"route53", "ListResourceRecordSets", "renewer", "read the TXT set before changing it"},
    ActionUse{"route53", "ChangeResourceRecordSets", "renewer", "present and clean up _acme-challenge TXT values"},
    ActionUse{"route53", "GetChange", "renewer", "wait until a change is INSYNC"},
    ActionUse{"secretsmanager", "GetSecretValue", "renewer", "read the bundle, the account and the lease"},
    ActionUse{"secretsmanager", "PutSecretValue", "renewer", "store a new bundle version, the account, the lease"},
    ActionUse{"secretsmanager", "CreateSecret", "renewer", "create a missing secret (the <name>-lock lease)"},
    ActionUse{"secretsmanager", "GetSecretValue", "certfetch", "read AWSCURRENT and AWSPREVIOUS"},
    ActionUse{"secretsmanager", "ListSecrets", "certfetch:all", "certfetch --all: the names under a prefix"},
    ActionUse{"dynamodb", "GetItem", "renewer:dynamodb", "read the bundle, account, note and lease items"},
    ActionUse{"dynamodb", "BatchGetItem", "renewer:dynamodb", "read every certificate's bundle item ahead of a run"},
    ActionUse{"dynamodb", "PutItem", "renewer:dynamodb", "create the bundle item, the account, notes; take the lease"},
    ActionUse{"dynamodb", "UpdateItem", "renewer:dynamodb", "store a new bundle version (the old one to previous)"},
    ActionUse{"dynamodb", "DeleteItem", "renewer:dynamodb", "release the lease (conditioned on our token)"},
    ActionUse{"dynamodb", "GetItem", "certfetch:dynamodb", "read the bundle item (bundle and previous)"},
    ActionUse{"dynamodb", "Scan", "renewer:domain-list", "read the domain list, every page (consistent reads)"},
    ActionUse{"dynamodb", "UpdateItem", "renewer:domain-list", "write each item's renewer_* state attributes"},
    ActionUse{"secretsmanager", "ListSecrets", "renewer:domain-list", "find removed items' certificates"},
    ActionUse{"dynamodb", "Scan", "renewer:domain-list-dynamodb", "find removed items' certificates in the table"},
    ActionUse{"dynamodb", "Scan", "certfetch:dynamodb-all", "certfetch --all: the bundle items under a prefix"},
    ActionUse{"dynamodb", "GetItem", "certfetch:dynamodb-all", "certfetch --all: read each listed bundle item"},
    ActionUse{"autoscaling", "StartInstanceRefresh", "renewer:autoscaling", "replace --replace autoscaling:GROUP"},
    ActionUse{"ec2", "DescribeInstances", "renewer:ec2-tag", "find running instances with the tag"},
    ActionUse{"ec2", "TerminateInstances", "renewer:ec2-tag", "terminate at most --max-terminate of them"},
    ActionUse{"ecs", "UpdateService", "renewer:ecs", "forceNewDeployment of --replace ecs:CLUSTER/SERVICE"},
    ActionUse{"sts", "AssumeRole", "renewer:assume-role", "Route53 in another account"},
    ActionUse{"sts", "AssumeRoleWithWebIdentity", "none",
              "web identity credentials (EKS, AWS_WEB_IDENTITY_TOKEN_FILE)"},
};

}  // namespace aws
