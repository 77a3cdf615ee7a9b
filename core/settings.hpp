// One settings schema for the three places a setting can come from: the
// command line, the environment and the configuration file
// (docs/configuration.md). Each setting is one row of a table that names its
// JSON key, its flag, its environment variable, its type, its range and its
// help text; the flags (renewer/cli_options.cpp), the environment look-up and
// the JSON parsing are all derived from the rows, so a range or a spelling is
// written down once.
//
// Values from every source are held as JSON with their origin ("--rfc2136-ttl",
// "RFC2136_TTL", "certificates[0].dns.ttl"), so an error names what the user
// wrote. Precedence: command-line flags > environment > file > defaults
// (overlay()).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace core::settings {

enum class Type { text, integer, number, boolean, list };

// Extra validation of one text value (or of each item of a list): an error
// message without the origin, e.g. "\"x:99999\" is not host:port (...)".
using Check = std::optional<std::string> (*)(std::string_view text);

struct Setting {
    std::string_view key;   // key in its JSON block; the setting's name
    std::string_view flag;  // command-line flag without "--"; "" = none
    std::string_view env;   // environment variable; "" = none
    Type type = Type::text;
    double min = 0;  // integer/number range, inclusive (min == max == 0: any)
    double max = 0;
    bool min_exclusive = false;  // number: min itself not allowed
    bool max_exclusive = false;  // number: max itself not allowed
    std::string_view help;       // one line: --help and docs
    std::string_view choices;    // text: "a|b|c", the allowed values
    std::string_view noun;       // for "unknown NOUN \"x\" (a, b or c)"; default: the key
    // Settings sharing a group are alternatives (a secret from a variable or
    // from a file): a source that gives one replaces every member that a
    // lower source gave, and one source may give only one.
    std::string_view group;
    bool in_file = true;        // may be written in the configuration file
    bool text_in_file = false;  // list: the file may also give "a,b" as one string
    Check check = nullptr;
};

// A value and where it came from.
struct Value {
    nlohmann::json value;
    std::string origin;
};
using Values = std::map<std::string, Value, std::less<>>;

// A block of settings, some of which apply only to one variant chosen by a
// selector key: the DNS block ("provider": route53 | rfc2136 | exec), the
// replacement block ("type"). A block without variants is flat.
struct Variant {
    std::string_view name;
    std::span<const Setting> settings;
};
struct Block {
    std::span<const Setting> common;  // includes the selector's own row
    std::string_view selector;        // "" = a flat block
    std::string_view selector_noun;   // "provider", "replace type"
    std::string_view default_variant;
    std::span<const Variant> variants;
};

// Looks a variable up; nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup process_env();

// A value given as text (flag, environment variable), converted to the
// setting's type and checked.
core::Result<nlohmann::json> from_text(const Setting& setting, std::string_view text, const std::string& origin);
// A value from the file, checked against the setting's type and range.
core::Result<nlohmann::json> from_json(const Setting& setting, const nlohmann::json& value, const std::string& origin);

// The setting `key` of `block` in any variant; null when there is none.
const Setting* find(const Block& block, std::string_view key);
// Every row of the block: common ones first, then each variant's (a key may
// repeat across variants).
std::vector<const Setting*> all_settings(const Block& block);

// The settings of a JSON object of the file at `path` ("certificates[0].dns").
// Unknown keys are errors with a did-you-mean hint; a key that would put a
// secret into the file is refused with what to use instead. Keys in
// `structure` (objects and lists the caller reads itself) are skipped, and
// offered in the hint.
core::Result<Values> read_object(const Block& block, const nlohmann::json& object, const std::string& path,
                                 std::span<const std::string_view> structure = {});
// The block's settings from the environment (every variant's).
core::Result<Values> read_env(const Block& block, const EnvLookup& env);

// The variant `values` select (the block's default when the selector is absent).
std::string selected_variant(const Block& block, const Values& values);

// How a source treats a setting of another variant than the selected one.
enum class Foreign {
    error,   // the file and flags: "not used by provider route53"
    ignore,  // the environment: variables of other providers are ambient
};

// Lays `upper` over `lower` (upper wins; groups replace whole). When `upper`
// selects another variant, `lower`'s settings of the old variant are dropped.
// Settings of `upper` that the resulting variant does not use are an error or
// dropped, per `foreign`.
core::Result<Values> overlay(const Block& block, Values lower, const Values& upper, Foreign foreign);

// Checks that every value belongs to the selected variant (used for one
// file block on its own, before any overlay).
core::Status check_variant(const Block& block, const Values& values);

// Typed reads of checked values; the fallback when the setting is absent.
std::string text(const Values& values, std::string_view key, std::string fallback = {});
long long integer(const Values& values, std::string_view key, long long fallback);
double number(const Values& values, std::string_view key, double fallback);
bool boolean(const Values& values, std::string_view key, bool fallback);
std::vector<std::string> list(const Values& values, std::string_view key);
// Where the value came from ("" when absent), for messages.
std::string origin(const Values& values, std::string_view key);

// How a required setting that no source gave is named in the error: the file
// key beside `block_origin` when the block came from the file
// ("certificates[0].dns" -> "certificates[0].dns.server"), else the flag and
// the variable ("--rfc2136-server (or RFC2136_NAMESERVER)").
std::string missing_origin(const Setting& setting, const std::string& block_origin);
// The environment's or the file's view of a block's rows, for read_env()
// callers that have only one variant's rows.
Block flat_block(std::span<const Setting> rows);

// A secret given as a value (`direct`, from the environment), through a
// variable the values name (`via_env`) or through a file (`via_file`): read,
// trimmed of trailing white space and registered for log redaction. "" when
// none of them is given; an error names the setting that pointed at nothing.
core::Result<std::string> read_secret(const Values& values, std::string_view direct, std::string_view via_env,
                                      std::string_view via_file);

// Which kind of source an origin names: "--flag", "ENV_NAME" or a file path.
enum class Source { file, flag, env };
Source source_of(std::string_view origin);

// "a, b or c" from "a|b|c".
std::string choices_text(std::string_view choices);
// The error type of every settings problem: invalid_input, "ORIGIN: message".
core::Error settings_error(const std::string& origin, const std::string& message);

}  // namespace core::settings
