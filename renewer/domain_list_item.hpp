// One item of the domain list table (docs/customer-domains.md#the-domain-list)
// in the shape of a "certificates" entry of the configuration file, so that
// renewer/config.cpp applies the file's rules to it (add_listed_certificates).
//
// Item layout (DynamoDB AttributeValues; other attributes are ignored, so
// the table may also hold what the customer-facing application keeps):
//   id            S, the table's partition key: the certificate id (the file's "name")
//   domains       SS or L of S: the names; with L the first is the certificate's
//                 subject, with SS (a set, unordered) the order DynamoDB returns
//   key_type      S, optional: ec256 | ec384 | rsa2048 | rsa3072 | rsa4096
//   store         S, optional: the store spec; default the configuration's
//                 "defaults.store" (or --store, --out) with "{name}" = id
//   profile       S, optional: ACME profile
//   customer_dns  BOOL, optional: wait for the customer's CNAME (customer_dns_zone)
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "renewer/config.hpp"

namespace renewer {

// The item as a ListedItem: its key, and either the certificate entry or the
// problem (no id, an attribute of the wrong type) that refuses it. `index`
// names an item without a usable id ("item 7 of the scan").
ListedItem listed_item_of(const nlohmann::json& item, std::size_t index);

}  // namespace renewer
