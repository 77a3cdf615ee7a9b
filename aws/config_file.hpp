// The shared AWS config and credentials files (SDKs and Tools Reference
// Guide, "Shared config and credentials files"): INI parsing, profile lookup
// and the environment names that locate them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace aws::config {

// key -> value; nested sub-properties ("route_53 =\n  endpoint_url = ...")
// are stored as "route_53.endpoint_url".
using Properties = std::map<std::string, std::string>;
// Section header as written, without brackets and surrounding spaces:
// "default", "profile dev", "services local", "dev" (credentials file).
using Sections = std::map<std::string, Properties>;

// Parses the INI dialect of the AWS files: '#'/';' comment lines, "[section]",
// "key = value" (keys lower-cased, values trimmed), indented continuation
// lines holding nested "key = value" pairs. Later duplicates win. Lines
// outside any section and malformed lines are errors naming the line.
core::Result<Sections> parse_ini(std::string_view text, std::string_view file_name = "config");

// AWS_CONFIG_FILE, else ~/.aws/config.
std::string config_file_path();
// AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.
std::string credentials_file_path();
// AWS_PROFILE (then AWS_DEFAULT_PROFILE), else "default".
std::string profile_name();

// Both files, parsed once; a missing file is empty, an unreadable or
// malformed one is an error.
class SharedConfig {
public:
    static core::Result<SharedConfig> load();
    static SharedConfig from_text(std::string_view config_text, std::string_view credentials_text);

    // The profile as the SDKs see it: "[profile name]" (or "[default]") of the
    // config file, overlaid by "[name]" of the credentials file.
    // nullopt when neither file has it.
    std::optional<Properties> profile(std::string_view name) const;
    // A "[services name]" section of the config file.
    std::optional<Properties> services(std::string_view name) const;

    std::string config_path;
    std::string credentials_path;
    Sections config;
    Sections credentials;
};

// A value of the current profile (profile_name()), or empty.
std::string profile_value(std::string_view key);

}  // namespace aws::config
