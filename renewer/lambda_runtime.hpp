// Lambda mode (docs/deployment.md): when AWS_LAMBDA_RUNTIME_API is set, `renewer run`
// is its own Lambda runtime (no runtime interface client needed), so one
// container image serves Lambda (EventBridge Scheduler -> Lambda) and ECS
// (EventBridge Scheduler -> RunTask).
//
// The loop (AWS Lambda "Custom runtime API", version 2018-06-01):
//   GET  /2018-06-01/runtime/invocation/next           long poll for an event
//   POST /2018-06-01/runtime/invocation/{id}/response  exit code 0: the report
//   POST /2018-06-01/runtime/invocation/{id}/error     otherwise (errorType header)
//   POST /2018-06-01/runtime/init/error                configuration rejected at start
// One run per invocation, bounded by the invocation's deadline
// (Lambda-Runtime-Deadline-Ms) less k_deadline_margin (run.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.hpp"
#include "core/result.hpp"
#include "renewer/run.hpp"

namespace renewer {

// "host:port" of the runtime API; its presence selects Lambda mode.
inline constexpr const char* k_lambda_runtime_api_env = "AWS_LAMBDA_RUNTIME_API";

// errorType values this runtime reports.
inline constexpr const char* k_lambda_error_certificate_failed = "Renewer.CertificateFailed";  // run exit code 1
inline constexpr const char* k_lambda_error_invalid_event = "Renewer.InvalidEvent";            // no run was made
inline constexpr const char* k_lambda_error_config = "Renewer.ConfigError";                    // init error, exit 2

// What an invocation's event asks for. Every key is optional; absent keys
// leave the command line's setting alone.
struct LambdaEvent {
    std::optional<bool> force;          // renew even when not due
    std::optional<bool> dry_run;        // plan and report; order, store and replace nothing
    std::vector<std::string> warnings;  // what was ignored, one line each
};

// Parses an event: {"force": bool, "dry_run": bool}. An empty body, a JSON
// value that is not an object (EventBridge Scheduler sends whatever the
// schedule's Input is) and unknown keys are ignored with a warning; a body
// that is not JSON, or a known key of the wrong type, is an error (the
// operator asked for something we would otherwise silently not do).
core::Result<LambdaEvent> parse_lambda_event(std::string_view body);

// The runtime API's error document: {"errorMessage": ..., "errorType": ...}.
std::string lambda_error_body(std::string_view type, std::string_view message);

// One line for errorMessage when a run failed: "N of M certificate(s) failed:
// ID: REASON; ...", replacement errors appended; at most `limit` bytes.
std::string failure_summary(const RunReport& report, std::size_t limit = 4096);

// One invocation as /next hands it out.
struct LambdaInvocation {
    std::string request_id;                   // Lambda-Runtime-Aws-Request-Id
    std::optional<std::int64_t> deadline_ms;  // Lambda-Runtime-Deadline-Ms, Unix epoch ms
    std::string trace_id;                     // Lambda-Runtime-Trace-Id
    std::string event;                        // the body
};

// The runtime API client over core::http (plain HTTP on the sandbox's
// loopback). /next waits as long as Lambda keeps the sandbox frozen (no total
// timeout, a connect timeout; SIGTERM interrupts it); every other call is
// bounded.
class LambdaRuntimeApi {
public:
    explicit LambdaRuntimeApi(std::string host_port);

    core::Result<LambdaInvocation> next();
    core::Status respond(const std::string& request_id, const std::string& body);
    core::Status fail(const std::string& request_id, std::string_view type, std::string_view message);
    core::Status init_error(std::string_view type, std::string_view message);

private:
    core::Status post(const std::string& path, const std::string& body, core::http::Headers headers);

    std::string base_;  // http://host:port/2018-06-01
    core::http::Client client_;
};

// Serves invocations until SIGTERM (returns 0 when idle, the run's exit code
// when it came during an invocation, after reporting it) or until /next fails
// three times in a row (returns 1). `settings` is parsed once; each
// invocation sets force/dry_run from its event and the deadline from its
// header (and, when `budget` is given (--deadline), no later than that long
// after the invocation arrived), then restores them.
int run_lambda(const std::string& host_port, RunSettings& settings, std::optional<std::chrono::seconds> budget);

// Start-up failed (bad configuration or flags): tells Lambda through
// /runtime/init/error, logs it, and returns exit code 2.
int lambda_init_failed(const std::string& host_port, std::string_view message);

}  // namespace renewer
