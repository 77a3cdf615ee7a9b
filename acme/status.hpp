// The status of an ACME order, authorization or challenge (RFC 8555 §7.1.6),
// read from the server's JSON once and compared as an enum from then on.
#pragma once

#include <string_view>

#include "core/result.hpp"

namespace acme {

// Every value RFC 8555 §7.1.6 defines; which ones a resource may take:
// order: pending, ready, processing, valid, invalid;
// authorization: pending, valid, invalid, deactivated, expired, revoked;
// challenge: pending, processing, valid, invalid.
enum class ResourceStatus { pending, ready, processing, valid, invalid, deactivated, expired, revoked };

// The wire name ("pending", ...).
const char* to_string(ResourceStatus status);

// The wire name -> the status. ErrorKind::protocol naming the value (and
// `what`, e.g. "order") when it is none of RFC 8555's, or empty.
core::Result<ResourceStatus> parse_status(std::string_view text, std::string_view what);

}  // namespace acme
