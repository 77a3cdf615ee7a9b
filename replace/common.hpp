// Helpers the replacement targets share (internal to replace/): the
// constructors the factory table calls, and small text and XML helpers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "core/result.hpp"
#include "replace/replacer.hpp"

namespace replace {

// One per file; `client` is used unless the run is a dry run (AWS targets).
std::unique_ptr<Replacer> make_autoscaling(const ReplaceTarget& target, aws::Client* client);
std::unique_ptr<Replacer> make_ec2_tag(const ReplaceTarget& target, aws::Client* client);
std::unique_ptr<Replacer> make_ecs(const ReplaceTarget& target, aws::Client* client);
std::unique_ptr<Replacer> make_hook(const ReplaceTarget& target, aws::Client* client);

std::string join(const std::vector<std::string>& items, std::string_view separator);

// The certificate ids, comma-separated (for logs and summaries).
std::string names_of(const std::vector<ChangedCertificate>& changed);

// An error unless `client` is set; `what` names the call that needs it.
core::Status need_client(const aws::Client* client, std::string_view what);

// Parses an AWS Query (XML) answer; a protocol error naming `what` when it is not XML.
core::Result<pugi::xml_document> parse_xml(const std::string& text, std::string_view what);

// First descendant element with this (namespace-free) name.
pugi::xml_node find_element(const pugi::xml_node& root, const char* name);

}  // namespace replace
