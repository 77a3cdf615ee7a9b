// The renewer's settings schema (docs/configuration.md): the rows of the
// run-wide settings, of the "eab" and "renew" objects, of a certificate, and
// of its "replace" block. The DNS block's rows belong to dns/ (dns_block()).
// renewer/cli_options.cpp turns the rows into flags; renewer/config.cpp reads
// the file and the environment through them.
#pragma once

#include "core/result.hpp"
#include "core/settings.hpp"
#include "replace/replacer.hpp"

namespace renewer {

// server, ca_bundle, email, agree_tos, account_store, spool_dir, allow,
// concurrency, jitter_seconds, and the run's flag-only settings (timeout,
// deadline, account key, trust root, ...; in_file = false).
const core::settings::Block& global_block();
const core::settings::Block& eab_block();
const core::settings::Block& renew_block();
// key_type, store, profile: in "defaults" and in each certificate.
const core::settings::Block& certificate_block();
// "type" selects autoscaling, ec2-tag, ecs, hook or none.
const core::settings::Block& replace_block();

// The typed replacement target from checked values; a required setting that
// no source gave is named after `block_origin`.
core::Result<replace::ReplaceTarget> make_replace_target(const core::settings::Values& values,
                                                         const std::string& block_origin);

// Checks for the rows, shared with the command line.
std::optional<std::string> store_spec_problem(std::string_view text);
std::optional<std::string> https_url_problem(std::string_view text);

}  // namespace renewer
