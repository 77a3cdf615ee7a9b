#include "renewer/owed.hpp"

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "secrets/store.hpp"

namespace renewer {

std::string owed_to_json(const OwedReplacement& owed) {
    if (owed.serial.empty()) {
        return nlohmann::json{{"serial", ""}}.dump();
    }
    return nlohmann::json{
        {"serial", owed.serial}, {"target", owed.target}, {"since", owed.since}, {"error", owed.error}}
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<OwedReplacement> owed_from_json(std::string_view text, std::string& problem) {
    const auto json = nlohmann::json::parse(text, nullptr, false);
    if (!json.is_object() || !json.contains("serial") || !json["serial"].is_string()) {
        problem = "not a JSON object with a string \"serial\"";
        return std::nullopt;
    }
    OwedReplacement owed;
    owed.serial = json["serial"].get<std::string>();
    if (owed.serial.empty()) {
        return std::nullopt;
    }
    const auto text_of = [&json](const char* key) {
        return json.contains(key) && json[key].is_string() ? json[key].get<std::string>() : std::string();
    };
    owed.target = text_of("target");
    owed.since = text_of("since");
    owed.error = text_of("error");
    return owed;
}

std::optional<OwedReplacement> read_owed(secrets::Store& store, const std::string& certificate) {
    auto text = store.get_note(k_owed_note);
    if (!text) {
        core::log::warn("cannot read whether a replacement is owed; it is retried once the note can be read",
                        {{"certificate", certificate}, {"error", text.error().message}});
        return std::nullopt;
    }
    if (!*text) {
        return std::nullopt;
    }
    std::string problem;
    auto owed = owed_from_json(**text, problem);
    if (!problem.empty()) {
        core::log::warn("the replacement-owed note does not parse; ignored",
                        {{"certificate", certificate}, {"store", store.describe()}, {"error", problem}});
    }
    return owed;
}

bool write_owed(secrets::Store& store, const std::string& certificate, const OwedReplacement& owed) {
    if (auto put = store.put_note(k_owed_note, owed_to_json(owed)); !put) {
        core::log::error("cannot record the replacement owed",
                         {{"certificate", certificate}, {"serial", owed.serial}, {"error", put.error().message}});
        return false;
    }
    return true;
}

}  // namespace renewer
