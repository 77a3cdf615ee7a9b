#include "renewer/lambda_runtime.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/env.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "renewer/domain_list.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/metrics.hpp"

namespace renewer {
namespace {

using std::chrono::milliseconds;

// Runtime API calls other than /next answer at once (the API is on the
// sandbox's loopback); these bound them anyway.
constexpr milliseconds k_connect_timeout{2'000};
constexpr milliseconds k_call_timeout{10'000};
// Consecutive /next failures after which the runtime gives up (Lambda then
// starts a fresh sandbox), as the AWS runtimes do.
constexpr int k_max_next_failures = 3;
// After SIGTERM the report of the invocation in flight is still posted.
constexpr milliseconds k_report_after_cancel{5'000};
// Where issued but unstored certificates wait in Lambda, where /tmp is the
// only writable place (kept while the sandbox stays warm).
constexpr const char* k_lambda_spool_dir = "/tmp/renewer/spool";

std::string dump(const nlohmann::json& json) {
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Restores the per-invocation fields of the settings, whatever happens.
class InvocationScope {
public:
    explicit InvocationScope(RunSettings& settings)
        : settings_(settings), force_(settings.force), dry_run_(settings.dry_run), deadline_(settings.deadline) {}
    ~InvocationScope() {
        settings_.force = force_;
        settings_.dry_run = dry_run_;
        settings_.deadline = deadline_;
    }
    InvocationScope(const InvocationScope&) = delete;
    InvocationScope& operator=(const InvocationScope&) = delete;

private:
    RunSettings& settings_;
    Force force_;
    DryRun dry_run_;
    std::optional<core::Deadline> deadline_;
};

// The steady-clock point of an epoch-milliseconds deadline.
core::Clock::time_point steady_from_epoch_ms(std::int64_t epoch_ms) {
    const auto now_ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return core::Clock::now() + (milliseconds(epoch_ms) - now_ms);
}

// One invocation: event -> run -> /response or /error. Returns the run's
// exit code (2 when the event was refused).
int handle(LambdaRuntimeApi& api, const LambdaInvocation& invocation, RunSettings& settings,
           std::optional<std::chrono::seconds> budget) {
    const auto arrived = core::Clock::now();
    // X-Ray: the SDKs read the trace header of the current invocation here.
    if (invocation.trace_id.empty()) {
        ::unsetenv("_X_AMZN_TRACE_ID");
    } else {
        ::setenv("_X_AMZN_TRACE_ID", invocation.trace_id.c_str(), 1);
    }
    InvocationScope scope(settings);

    auto event = parse_lambda_event(invocation.event);
    if (!event) {
        core::log::error("lambda: event refused",
                         {{"request_id", invocation.request_id}, {"error", event.error().message}});
        if (auto sent = api.fail(invocation.request_id, k_lambda_error_invalid_event, event.error().message); !sent) {
            core::log::error("lambda: could not report the error", {{"error", sent.error().message}});
        }
        return k_exit_bad_config;
    }
    for (const auto& warning : event->warnings) {
        core::log::warn("lambda: " + warning, {{"request_id", invocation.request_id}});
    }
    if (event->force) {
        settings.force = *event->force ? Force::yes : Force::no;
    }
    if (event->dry_run) {
        settings.dry_run = *event->dry_run ? DryRun::yes : DryRun::no;
    }
    auto hard_end = core::Clock::time_point::max();
    if (invocation.deadline_ms) {
        hard_end = steady_from_epoch_ms(*invocation.deadline_ms);
    }
    settings.deadline_name = "the Lambda invocation's deadline";
    if (budget && arrived + *budget < hard_end) {
        hard_end = arrived + *budget;
        settings.deadline_name = "--deadline " + std::to_string(budget->count()) + " s";
    }
    settings.deadline = std::nullopt;
    if (hard_end != core::Clock::time_point::max()) {
        settings.deadline = deadline_before(hard_end);
    }
    core::log::info("lambda: invocation",
                    {{"request_id", invocation.request_id},
                     {"force", settings.force == Force::yes ? "true" : "false"},
                     {"dry_run", settings.dry_run == DryRun::yes ? "true" : "false"},
                     {"time_left_ms", hard_end == core::Clock::time_point::max()
                                          ? std::string("unbounded")
                                          : std::to_string(core::Deadline(hard_end).remaining().count())}});

    const RunReport report = run_over_domain_list(settings, execute_run);
    print_report_json(report, metrics::namespace_of(settings));  // CloudWatch keeps stdout too
    const int code = report.exit_code();

    // After SIGTERM the HTTP client refuses new transfers; the report of this
    // invocation is still owed to Lambda, briefly.
    const core::CancelShield shield(k_report_after_cancel);
    core::Status sent =
        code == k_exit_ok ? api.respond(invocation.request_id, dump(report_to_json(report)))
                          : api.fail(invocation.request_id, k_lambda_error_certificate_failed, failure_summary(report));
    if (!sent) {
        core::log::error("lambda: could not report the invocation's result",
                         {{"request_id", invocation.request_id}, {"error", sent.error().message}});
    }
    return code;
}

}  // namespace

core::Result<LambdaEvent> parse_lambda_event(std::string_view body) {
    LambdaEvent event;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return event;
    }
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded()) {
        return core::make_error(core::ErrorKind::invalid_input, "event: not valid JSON");
    }
    if (!json.is_object()) {
        event.warnings.push_back(fmt::format("event: a JSON {}, not an object; ignored", json.type_name()));
        return event;
    }
    for (const auto& [key, value] : json.items()) {
        std::optional<bool>* target = key == "force" ? &event.force : key == "dry_run" ? &event.dry_run : nullptr;
        if (target == nullptr) {
            event.warnings.push_back(
                fmt::format("event: unknown key \"{}\" ignored (known: force, dry_run)", key.substr(0, 64)));
            continue;
        }
        if (!value.is_boolean()) {
            return core::make_error(
                core::ErrorKind::invalid_input,
                fmt::format("event: \"{}\" must be true or false, not a JSON {}", key, value.type_name()));
        }
        *target = value.get<bool>();
    }
    return event;
}

std::string lambda_error_body(std::string_view type, std::string_view message) {
    return dump(nlohmann::json{{"errorMessage", std::string(message)}, {"errorType", std::string(type)}});
}

std::string failure_summary(const RunReport& report, std::size_t limit) {
    std::size_t failed = 0;
    std::size_t refused = 0;  // deferred: the CA answered rateLimited (exit 3)
    std::string details;
    const auto add = [&details](const std::string& part) {
        details += details.empty() ? "" : "; ";
        details += part;
    };
    for (const auto& r : report.certificates) {
        if (r.outcome == Outcome::deferred && r.rate_limited) {
            ++refused;
            add(r.id + ": " + r.reason);
            continue;
        }
        if (r.outcome != Outcome::failed) {
            continue;
        }
        ++failed;
        // Most reasons already start with the certificate's name.
        add(r.reason.rfind(r.id, 0) == 0 ? r.reason : r.id + ": " + r.reason);
    }
    for (const auto& e : report.replacement_errors) {
        add("replacement failed: " + e);
    }
    std::string text = fmt::format("{} of {} certificate(s) failed", failed, report.certificates.size());
    if (refused > 0) {
        text += fmt::format(", {} deferred (the CA answered rateLimited)", refused);
    }
    if (!details.empty()) {
        text += ": " + details;
    }
    if (text.size() > limit) {
        text.resize(limit >= 3 ? limit - 3 : 0);
        text += "...";
    }
    return text;
}

LambdaRuntimeApi::LambdaRuntimeApi(std::string host_port)
    : base_("http://" + std::move(host_port) + "/2018-06-01"),
      client_(core::http::ClientOptions{k_connect_timeout, k_call_timeout, "", ""}) {}

core::Result<LambdaInvocation> LambdaRuntimeApi::next() {
    core::http::Request request;
    request.url = base_ + "/runtime/invocation/next";
    // Long poll: Lambda answers when there is an event and freezes the
    // sandbox meanwhile, so no total timeout (0 = none); connecting is bounded.
    request.timeout = milliseconds{0};
    auto response = client_.send(request);
    if (!response) {
        return response.error().wrap("lambda runtime API /next");
    }
    if (response->status != 200) {
        return core::make_error(core::ErrorKind::http, fmt::format("lambda runtime API /next: HTTP {}: {}",
                                                                   response->status, response->body.substr(0, 300)));
    }
    LambdaInvocation invocation;
    invocation.request_id = response->header("Lambda-Runtime-Aws-Request-Id");
    if (invocation.request_id.empty()) {
        return core::make_error(core::ErrorKind::protocol,
                                "lambda runtime API /next: no Lambda-Runtime-Aws-Request-Id header");
    }
    if (const auto deadline = response->header("Lambda-Runtime-Deadline-Ms"); !deadline.empty()) {
        char* end = nullptr;
        const long long value = std::strtoll(deadline.c_str(), &end, 10);
        if (end != nullptr && *end == '\0' && value > 0) {
            invocation.deadline_ms = value;
        } else {
            core::log::warn("lambda: unreadable Lambda-Runtime-Deadline-Ms; no deadline for this invocation",
                            {{"value", deadline}});
        }
    }
    invocation.trace_id = response->header("Lambda-Runtime-Trace-Id");
    invocation.event = std::move(response->body);
    return invocation;
}

core::Status LambdaRuntimeApi::respond(const std::string& request_id, const std::string& body) {
    return post("/runtime/invocation/" + core::http::url_encode(request_id) + "/response", body,
                {{"Content-Type", "application/json"}});
}

core::Status LambdaRuntimeApi::fail(const std::string& request_id, std::string_view type, std::string_view message) {
    return post("/runtime/invocation/" + core::http::url_encode(request_id) + "/error",
                lambda_error_body(type, message),
                {{"Content-Type", "application/json"}, {"Lambda-Runtime-Function-Error-Type", std::string(type)}});
}

core::Status LambdaRuntimeApi::init_error(std::string_view type, std::string_view message) {
    return post("/runtime/init/error", lambda_error_body(type, message),
                {{"Content-Type", "application/json"}, {"Lambda-Runtime-Function-Error-Type", std::string(type)}});
}

core::Status LambdaRuntimeApi::post(const std::string& path, const std::string& body, core::http::Headers headers) {
    core::http::Request request;
    request.method = "POST";
    request.url = base_ + path;
    request.headers = std::move(headers);
    request.body = body;
    auto response = client_.send(request);
    if (!response) {
        return response.error().wrap("lambda runtime API " + path);
    }
    // 202 Accepted; 400/403/413 (e.g. invalid request id, body too large) are errors.
    if (response->status / 100 != 2) {
        return core::make_error(core::ErrorKind::http, fmt::format("lambda runtime API {}: HTTP {}: {}", path,
                                                                   response->status, response->body.substr(0, 300)));
    }
    return core::Status{};
}

int run_lambda(const std::string& host_port, RunSettings& settings, std::optional<std::chrono::seconds> budget) {
    if (settings.config.spool_dir.empty() && core::env_or("RENEWER_SPOOL_DIR").empty()) {
        settings.config.spool_dir = k_lambda_spool_dir;
    }
    LambdaRuntimeApi api(host_port);
    core::log::info("lambda: runtime ready", {{"runtime_api", host_port}});
    const core::RetryPolicy policy;
    int failures = 0;
    for (;;) {
        if (core::cancelled()) {
            core::log::info("lambda: SIGTERM while idle; exiting");
            return k_exit_ok;
        }
        auto invocation = api.next();
        if (!invocation) {
            if (core::cancelled()) {
                core::log::info("lambda: SIGTERM while waiting for an invocation; exiting");
                return k_exit_ok;
            }
            ++failures;
            core::log::error("lambda: waiting for the next invocation failed",
                             {{"error", invocation.error().message}, {"attempt", std::to_string(failures)}});
            if (failures >= k_max_next_failures) {
                return k_exit_failed;
            }
            (void)core::sleep_for(core::backoff_delay(policy, failures - 1));
            continue;
        }
        failures = 0;
        const int code = handle(api, *invocation, settings, budget);
        if (core::cancelled()) {
            core::log::info("lambda: SIGTERM during the invocation; reported, exiting",
                            {{"request_id", invocation->request_id}});
            return code;
        }
    }
}

int lambda_init_failed(const std::string& host_port, std::string_view message) {
    core::log::error("lambda: start-up failed", {{"error", std::string(message)}});
    LambdaRuntimeApi api(host_port);
    if (auto sent = api.init_error(k_lambda_error_config, message); !sent) {
        core::log::error("lambda: could not report the start-up failure", {{"error", sent.error().message}});
    }
    return k_exit_bad_config;
}

}  // namespace renewer
