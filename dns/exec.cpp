#include "dns/exec.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <string_view>
#include <vector>

#include "core/child_env.hpp"
#include "core/log.hpp"
#include "core/subprocess.hpp"

namespace dns {
namespace {

constexpr std::size_t k_tail_lines = 10;

// The last few lines of the command's output, " | "-joined, for the error.
std::string last_lines(const std::deque<std::string>& tail) {
    std::string last;
    for (const auto& line : tail) {
        last += (last.empty() ? "" : " | ") + line;
    }
    return last.empty() ? "" : "; last output: " + last;
}

// The calls `records` take: at most `batch` pairs and
// k_exec_max_argument_bytes of arguments (the command and the verb included)
// each, in order.
std::vector<std::vector<TxtRecord>> exec_calls(const std::vector<TxtRecord>& records, const ExecSettings& settings) {
    const std::size_t fixed = settings.path.size() + 1 + std::string_view("cleanup").size() + 1;
    std::vector<std::vector<TxtRecord>> calls;
    std::size_t used = 0;
    for (const auto& r : records) {
        const std::size_t size = r.fqdn.size() + 1 + r.value.size() + 1;
        if (calls.empty() || calls.back().size() >= std::max<std::size_t>(settings.batch, 1) ||
            used + size > k_exec_max_argument_bytes) {
            calls.emplace_back();
            used = fixed;
        }
        calls.back().push_back(r);
        used += size;
    }
    return calls;
}

class ExecProvider final : public Provider {
public:
    explicit ExecProvider(ExecSettings settings) : settings_(std::move(settings)) {}

    using Provider::present;
    // Stops at the first call that fails: the solver then removes every
    // value sent and presents each certificate on its own (dns/solver.hpp).
    core::Status present(const std::vector<TxtRecord>& records, PresentLog& log) override {
        for (const auto& call : exec_calls(records, settings_)) {
            // Whatever the command does before it fails may stay: every value
            // it was given counts as sent.
            TRY(log.sending(call));
            TRY(run("present", call));
        }
        return {};
    }
    core::Result<std::size_t> cleanup(const std::vector<TxtRecord>& records) override {
        // Try every call even when one fails; report the first failure.
        core::Status first;
        std::size_t removed = 0;
        for (const auto& call : exec_calls(records, settings_)) {
            auto status = cleanup_call(call, removed);
            if (!status && first.ok()) {
                first = status;
            }
        }
        if (!first) {
            return first.error();
        }
        return removed;
    }
    std::string name() const override { return "exec"; }

private:
    // One clean-up call; when a call of several values exits non-zero (one
    // name the hook cannot remove refuses the whole call), each value is
    // tried on its own, so every value a per-value hook would remove is
    // removed. A call that timed out is not retried: its values wait for the
    // next run (docs/architecture.md#the-dns-journal).
    core::Status cleanup_call(const std::vector<TxtRecord>& call, std::size_t& removed) {
        auto status = run("cleanup", call);
        if (status.ok()) {
            removed += call.size();
            return status;
        }
        if (call.size() == 1 || status.error().kind != core::ErrorKind::internal) {
            return status;
        }
        core::log::warn("exec: a batched cleanup failed; removing its values one call each",
                        {{"command", settings_.path}, {"error", status.error().message}});
        core::Status first;
        for (const auto& r : call) {
            auto one = run("cleanup", {r});
            removed += one.ok() ? 1 : 0;
            if (!one && first.ok()) {
                first = one;
            }
        }
        return first;
    }

    core::Status run(const char* verb, const std::vector<TxtRecord>& call) {
        const std::string& fqdn = call.front().fqdn;
        const std::string more = call.size() > 1 ? " ... (" + std::to_string(call.size()) + " values)" : "";
        const std::string what = std::string("exec: '") + settings_.path + " " + verb + " " + fqdn + more + "'";
        std::deque<std::string> tail;
        core::SubprocessOptions options;
        options.argv = {settings_.path, verb};
        for (const auto& r : call) {
            options.argv.push_back(r.fqdn);
            options.argv.push_back(r.value);
        }
        // Our environment without our secrets: the hook gets names and values, never keys.
        options.env = core::child_environment();
        options.timeout = settings_.timeout;
        options.on_line = [&](std::string_view line) {
            core::log::info(
                "exec: " + std::string(line),
                {{"command", settings_.path}, {"step", verb}, {"fqdn", fqdn}, {"values", std::to_string(call.size())}});
            tail.emplace_back(line);
            if (tail.size() > k_tail_lines) {
                tail.pop_front();
            }
        };
        auto ran = core::run_subprocess(options);
        if (!ran) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": " + ran.error().message);
        }
        return outcome(what, *ran, tail);
    }

    core::Status outcome(const std::string& what, const core::SubprocessResult& ran,
                         const std::deque<std::string>& tail) const {
        using End = core::SubprocessResult::End;
        switch (ran.end) {
            case End::cancelled: return core::make_error(core::ErrorKind::cancelled, what + ": cancelled");
            case End::timed_out:
                return core::make_error(core::ErrorKind::timeout, what + ": killed after " +
                                                                      std::to_string(settings_.timeout.count()) +
                                                                      "ms (EXEC_TIMEOUT)" + last_lines(tail));
            case End::signalled:
                return core::make_error(core::ErrorKind::internal,
                                        what + " killed by signal " + std::to_string(ran.signal) + last_lines(tail));
            case End::exited: break;
        }
        if (ran.exit_code == 127 && tail.empty()) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": command not found");
        }
        if (ran.exit_code != 0) {
            return core::make_error(core::ErrorKind::internal,
                                    what + " exited with code " + std::to_string(ran.exit_code) + last_lines(tail));
        }
        return {};
    }

    ExecSettings settings_;
};

}  // namespace

namespace {

using core::settings::Setting;
using core::settings::Type;

const std::array<Setting, 3> k_exec_settings{{
    {.key = "exec_path",
     .flag = "exec-path",
     .env = "EXEC_PATH",
     .help = "program called as: PROG present|cleanup FQDN VALUE"},
    {.key = "exec_batch",
     .flag = "exec-batch",
     .env = "EXEC_BATCH",
     .type = Type::integer,
     .min = 1,
     .max = 10000,
     .help = "FQDN VALUE pairs per call: N > 1 runs PROG present|cleanup FQDN VALUE [FQDN VALUE ...] "
             "(at most 64 KiB of arguments; default 1: one call per value)"},
    {.key = "exec_timeout",
     .env = "EXEC_TIMEOUT",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "seconds one call may take (default 120)"},
}};

}  // namespace

std::span<const core::settings::Setting> ExecSettings::schema() { return k_exec_settings; }

core::Result<ExecSettings> ExecSettings::from_values(const core::settings::Values& values,
                                                     const std::string& block_origin) {
    namespace settings = core::settings;
    ExecSettings s;
    s.path = settings::text(values, "exec_path");
    if (s.path.empty()) {
        return settings::settings_error(settings::missing_origin(k_exec_settings[0], block_origin),
                                        "required by provider exec");
    }
    s.timeout = std::chrono::seconds(settings::integer(values, "exec_timeout", 120));
    s.batch = static_cast<std::size_t>(settings::integer(values, "exec_batch", 1));
    return s;
}

core::Result<ExecSettings> ExecSettings::from_env(const Env& env) {
    TRY_ASSIGN(const auto values, core::settings::read_env(core::settings::flat_block(schema()), env));
    return from_values(values, "");
}

core::Result<std::unique_ptr<Provider>> make_exec(ExecSettings settings) {
    if (settings.path.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "exec: EXEC_PATH is not set");
    }
    return std::unique_ptr<Provider>(std::make_unique<ExecProvider>(std::move(settings)));
}

}  // namespace dns
