#include "aws/config_file.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/env.hpp"
#include "core/text.hpp"

namespace aws::config {
namespace {

// Collapses inner whitespace of a section name: "[ profile   dev ]" -> "profile dev".
std::string normalize_section(std::string_view name) {
    std::string out;
    bool space = false;
    for (const char c : core::trim(name)) {
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space && !out.empty()) {
            out += ' ';
        }
        space = false;
        out += c;
    }
    return out;
}

std::string home_file(const char* relative) {
    std::string home = core::env_or("HOME");
    if (home.empty()) {
        home = ".";
    }
    return home + "/" + relative;
}

std::string expand_home(std::string path) {
    if (path.starts_with("~/")) {
        std::string home = core::env_or("HOME");
        return home + path.substr(1);
    }
    return path;
}

enum class ReadOutcome { ok, missing, failed };

ReadOutcome read_file(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::ifstream(path).good() ? ReadOutcome::failed : ReadOutcome::missing;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    out = buffer.str();
    return ReadOutcome::ok;
}

}  // namespace

core::Result<Sections> parse_ini(std::string_view text, std::string_view file_name) {
    Sections sections;
    Properties* current = nullptr;
    std::string last_key;          // the key that indented lines continue
    bool last_key_nested = false;  // its value was empty: continuation lines are sub-properties
    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view raw = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_number;
        const std::string line(core::trim(raw));
        if (line.empty() || line.front() == '#' || line.front() == ';') {
            continue;
        }
        auto fail = [&](const std::string& why) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    std::string(file_name) + " line " + std::to_string(line_number) + ": " + why);
        };
        const bool indented = raw.front() == ' ' || raw.front() == '\t';
        if (line.front() == '[') {
            const std::size_t close = line.find(']');
            if (close == std::string::npos) {
                return fail("section header without ']'");
            }
            current = &sections[normalize_section(std::string_view(line).substr(1, close - 1))];
            last_key.clear();
            continue;
        }
        if (current == nullptr) {
            return fail("property outside any [section]");
        }
        if (indented && !last_key.empty()) {
            if (last_key_nested) {
                const std::size_t eq = line.find('=');
                if (eq == std::string::npos) {
                    return fail("expected 'key = value' in the nested block of '" + last_key + "'");
                }
                (*current)[last_key + "." + core::ascii_lower(core::trim(std::string_view(line).substr(0, eq)))] =
                    core::trim(std::string_view(line).substr(eq + 1));
            } else {
                (*current)[last_key] += "\n" + line;
            }
            continue;
        }
        const std::size_t eq = line.find('=');
        if (eq == std::string::npos) {
            return fail("expected 'key = value'");
        }
        last_key = core::ascii_lower(core::trim(std::string_view(line).substr(0, eq)));
        if (last_key.empty()) {
            return fail("empty key");
        }
        const std::string value(core::trim(std::string_view(line).substr(eq + 1)));
        last_key_nested = value.empty();
        (*current)[last_key] = value;
    }
    return sections;
}

std::string config_file_path() {
    const std::string path = core::env_or("AWS_CONFIG_FILE");
    return path.empty() ? home_file(".aws/config") : expand_home(path);
}

std::string credentials_file_path() {
    const std::string path = core::env_or("AWS_SHARED_CREDENTIALS_FILE");
    return path.empty() ? home_file(".aws/credentials") : expand_home(path);
}

std::string profile_name() {
    std::string name = core::env_or("AWS_PROFILE");
    if (name.empty()) {
        name = core::env_or("AWS_DEFAULT_PROFILE");
    }
    return name.empty() ? "default" : name;
}

core::Result<SharedConfig> SharedConfig::load() {
    SharedConfig out;
    out.config_path = config_file_path();
    out.credentials_path = credentials_file_path();
    for (const auto& [path, target] :
         {std::pair{out.config_path, &out.config}, std::pair{out.credentials_path, &out.credentials}}) {
        std::string text;
        switch (read_file(path, text)) {
            case ReadOutcome::missing: continue;
            case ReadOutcome::failed: return core::make_error(core::ErrorKind::io, "cannot read " + path);
            case ReadOutcome::ok: break;
        }
        TRY_ASSIGN(Sections parsed, parse_ini(text, path));
        *target = std::move(parsed);
    }
    return out;
}

SharedConfig SharedConfig::from_text(std::string_view config_text, std::string_view credentials_text) {
    SharedConfig out;
    if (auto parsed = parse_ini(config_text)) {
        out.config = std::move(parsed).value();
    }
    if (auto parsed = parse_ini(credentials_text, "credentials")) {
        out.credentials = std::move(parsed).value();
    }
    return out;
}

std::optional<Properties> SharedConfig::profile(std::string_view name) const {
    std::optional<Properties> out;
    const std::string profile_section = "profile " + std::string(name);
    // The config file names profiles "[profile x]"; "[default]" is also
    // accepted for the default profile (and wins over "[profile default]"
    // as in botocore when both exist).
    auto it = config.find(profile_section);
    if (name == "default") {
        if (auto def = config.find("default"); def != config.end()) {
            it = def;
        }
    }
    if (it != config.end()) {
        out = it->second;
    }
    if (auto cred = credentials.find(std::string(name)); cred != credentials.end()) {
        if (!out) {
            out.emplace();
        }
        for (const auto& [key, value] : cred->second) {
            (*out)[key] = value;
        }
    }
    return out;
}

std::optional<Properties> SharedConfig::services(std::string_view name) const {
    auto it = config.find("services " + std::string(name));
    if (it == config.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::string profile_value(std::string_view key) {
    auto shared = SharedConfig::load();
    if (!shared) {
        return {};
    }
    auto profile = shared->profile(profile_name());
    if (!profile) {
        return {};
    }
    auto it = profile->find(std::string(key));
    return it == profile->end() ? std::string() : it->second;
}

}  // namespace aws::config
