#include "secrets/store.hpp"

#include <array>
#include <filesystem>
#include <map>

#include <sys/types.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/process.hpp"
#include "secrets/lease.hpp"

namespace secrets {
namespace {

using Factory = core::Result<StoreWithLocker> (*)(const std::string&, const StoreConfig&);

struct Scheme {
    std::string_view name;
    Factory factory;
};

// The name-to-factory table (docs/architecture.md#layers): a new store is one file and one row.
constexpr std::array<Scheme, 4> k_schemes = {{
    {"aws-sm", &make_secretsmanager_store_with_locker},
    {"secretsmanager", &make_secretsmanager_store_with_locker},
    {"dir", &make_dir_store_with_locker},
    {"dynamodb", &make_dynamodb_store_with_locker},
}};

}  // namespace

const char* to_string(Stage stage) {
    switch (stage) {
        case Stage::current: return "AWSCURRENT";
        case Stage::previous: return "AWSPREVIOUS";
    }
    return "unknown";
}

core::Result<std::vector<Listing>> Store::list(std::string_view /*prefix*/) {
    return core::make_error(core::ErrorKind::invalid_input, describe() + ": this store cannot list its certificates");
}

core::Result<std::unique_ptr<Store>> Store::open(std::string_view /*name*/) {
    return core::make_error(core::ErrorKind::invalid_input, describe() + ": this store cannot list its certificates");
}

void Store::read_family_ahead(std::span<const ReadAhead> /*family*/, const core::Deadline& /*deadline*/) {}

void read_ahead(std::span<const ReadAhead> requests, const core::Deadline& deadline) {
    std::map<std::string, std::vector<ReadAhead>> families;
    for (const auto& request : requests) {
        if (request.store != nullptr) {
            if (auto family = request.store->batch_family(); !family.empty()) {
                families[family].push_back(request);
            }
        }
    }
    for (const auto& [family, members] : families) {
        members.front().store->read_family_ahead(members, deadline);
    }
}

core::Result<std::unique_ptr<Store>> make_store(std::string_view spec, const StoreConfig& config) {
    TRY_ASSIGN(auto both, make_store_with_locker(spec, config));
    return std::move(both.store);
}

core::Result<StoreWithLocker> make_store_with_locker(std::string_view spec, const StoreConfig& config) {
    std::string known;
    for (const auto& scheme : k_schemes) {
        known += (known.empty() ? "" : ", ") + std::string(scheme.name) + ":...";
    }
    const auto colon = spec.find(':');
    if (colon == std::string_view::npos) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "store \"" + std::string(spec) + "\": expected scheme:target (" + known + ")");
    }
    const auto name = spec.substr(0, colon);
    const auto rest = std::string(spec.substr(colon + 1));
    for (const auto& scheme : k_schemes) {
        if (scheme.name == name) {
            if (rest.empty()) {
                return core::make_error(core::ErrorKind::invalid_input,
                                        "store \"" + std::string(spec) + "\": the target after ':' is empty");
            }
            return scheme.factory(rest, config);
        }
    }
    return core::make_error(core::ErrorKind::invalid_input, "store \"" + std::string(spec) + "\": unknown scheme \"" +
                                                                std::string(name) + "\" (known: " + known + ")");
}

std::string default_lock_owner() { return detail::hostname() + ":" + std::to_string(::getpid()); }

namespace detail {

std::string hostname() { return core::host_name(); }

core::Status make_dirs(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
        return core::make_error(core::ErrorKind::io, "cannot create " + path + ": " + ec.message());
    }
    return {};
}

std::string uuid_v4() {
    auto bytes = core::random_bytes(16);
    bytes[6] = static_cast<char>((static_cast<unsigned char>(bytes[6]) & 0x0FU) | 0x40U);  // version 4
    bytes[8] = static_cast<char>((static_cast<unsigned char>(bytes[8]) & 0x3FU) | 0x80U);  // variant 10
    const auto hex = core::hex_encode(bytes);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

LeaseRecord new_lease(const std::string& owner, std::chrono::seconds ttl) {
    LeaseRecord record;
    record.owner = owner.empty() ? default_lock_owner() : owner;
    record.token = core::hex_encode(core::random_bytes(16));
    record.holder = core::self_identity();
    record.expires_at = expiry_after(ttl);
    return record;
}

core::SystemTime expiry_after(std::chrono::seconds ttl) {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() + ttl);
}

core::Error lease_lost(const std::optional<LeaseRecord>& holder, const std::string& where) {
    std::string message = where + ": our lock expired";
    if (holder && !holder->token.empty()) {
        message += " and " + holder->owner + " holds it now";
    }
    auto error = core::make_error(core::ErrorKind::conflict, message);
    error.code = "LockLost";
    return error;
}

std::string lease_to_json(const LeaseRecord& record) {
    nlohmann::ordered_json j;
    j["owner"] = record.owner;
    j["token"] = record.token;
    j["host"] = record.holder.host;
    j["boot_id"] = record.holder.boot_id;
    j["pid_ns"] = record.holder.pid_ns;
    j["pid"] = record.holder.pid;
    j["start"] = record.holder.start;
    j["expires_at"] = core::format_time(record.expires_at);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<LeaseRecord> lease_from_json(std::string_view text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return std::nullopt;
    }
    LeaseRecord record;
    record.owner = j.value("owner", std::string());
    record.token = j.value("token", std::string());
    record.holder.host = j.value("host", std::string());
    record.holder.boot_id = j.value("boot_id", std::string());
    record.holder.pid_ns = j.value("pid_ns", std::string());
    if (const auto it = j.find("pid"); it != j.end() && it->is_number_integer()) {
        record.holder.pid = it->get<long>();
    }
    if (const auto it = j.find("start"); it != j.end() && it->is_number_unsigned()) {
        record.holder.start = it->get<std::uint64_t>();
    }
    auto expires = core::parse_time(j.value("expires_at", std::string()));
    if (!expires.ok()) {
        return std::nullopt;
    }
    record.expires_at = *expires;
    return record;
}

bool lease_is_free(const LeaseRecord& record, core::SystemTime now) {
    if (record.token.empty() || now >= record.expires_at) {
        return true;
    }
    return core::identity_is_dead(record.holder);
}

core::Error lease_conflict(const LeaseRecord& holder, const std::string& where) {
    auto error = core::make_error(core::ErrorKind::conflict, where + ": locked by " + holder.owner + " until " +
                                                                 core::format_time(holder.expires_at));
    error.code = "LockHeld";
    return error;
}

Lease to_lease(const LeaseRecord& record) { return Lease{record.owner, record.token, record.expires_at}; }

}  // namespace detail
}  // namespace secrets
