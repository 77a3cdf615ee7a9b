// Customer DNS readiness (docs/customer-domains.md): a customer's name is
// validated through a CNAME the customer makes once,
//   _acme-challenge.shop.example.com. CNAME shop.example.com.<our zone>.
// (the CNAME delegation of docs/dns-providers.md). Until that record exists
// an order could only fail validation and spend the CA's limit of failed
// validations per name (Let's Encrypt: 5 per hour), so no order is placed:
// the certificate is reported "waiting for customer DNS", which is not a
// failure (the exit status is unaffected).
#pragma once

#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/retry.hpp"
#include "dns/resolver.hpp"

namespace renewer {

struct Job;
struct RunSettings;

// Why `name` is not ready yet ("" when it is): `_acme-challenge.<name>` is
// no CNAME, or its chain ends outside `zone` (empty `zone`: any CNAME will
// do). Errors only when the look-up itself fails (our resolver unreachable).
core::Result<std::string> customer_dns_problem(dns::Resolver& resolver, const std::string& name,
                                               const std::string& zone, const core::Deadline& deadline);

// Every due job whose certificate has customer_dns set and a name that is not
// ready becomes Outcome::waiting_customer_dns (not due, nothing ordered). A
// failed look-up fails that job with the resolver's error.
void hold_unready_customers(const RunSettings& settings, std::vector<Job>& jobs, const core::Deadline& deadline);

}  // namespace renewer
