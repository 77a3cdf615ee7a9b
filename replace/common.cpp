#include "replace/common.hpp"

#include <cstring>

#include <fmt/format.h>

namespace replace {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
}

std::string names_of(const std::vector<ChangedCertificate>& changed) {
    std::vector<std::string> names;
    for (const auto& cert : changed) {
        names.push_back(cert.name);
    }
    return join(names, ",");
}

core::Status need_client(const aws::Client* client, std::string_view what) {
    if (client == nullptr) {
        return core::make_error(core::ErrorKind::internal, fmt::format("{}: no AWS client", what));
    }
    return {};
}

core::Result<pugi::xml_document> parse_xml(const std::string& text, std::string_view what) {
    pugi::xml_document doc;
    const auto parsed = doc.load_string(text.c_str());
    if (!parsed) {
        return core::make_error(core::ErrorKind::protocol,
                                fmt::format("{}: unparsable XML answer ({})", what, parsed.description()));
    }
    return doc;
}

pugi::xml_node find_element(const pugi::xml_node& root, const char* name) {
    return root.find_node([name](const pugi::xml_node& node) { return std::strcmp(node.name(), name) == 0; });
}

}  // namespace replace
