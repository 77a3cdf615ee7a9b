#include "dns/exec.hpp"

#include <array>
#include <deque>

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

class ExecProvider final : public Provider {
public:
    explicit ExecProvider(ExecSettings settings) : settings_(std::move(settings)) {}

    using Provider::present;
    core::Status present(const std::vector<TxtRecord>& records, PresentLog& log) override {
        for (const auto& r : records) {
            // Whatever the command does before it fails may stay: every value
            // it was given counts as sent.
            TRY(log.sending({r}));
            TRY(run("present", r));
        }
        return {};
    }
    core::Result<std::size_t> cleanup(const std::vector<TxtRecord>& records) override {
        // Try every record even when one fails; report the first failure.
        core::Status first;
        std::size_t removed = 0;
        for (const auto& r : records) {
            auto status = run("cleanup", r);
            if (!status && first.ok()) {
                first = status;
            }
            removed += status.ok() ? 1 : 0;
        }
        if (!first) {
            return first.error();
        }
        return removed;
    }
    std::string name() const override { return "exec"; }

private:
    core::Status run(const char* verb, const TxtRecord& record) {
        const std::string what = std::string("exec: '") + settings_.path + " " + verb + " " + record.fqdn + "'";
        std::deque<std::string> tail;
        core::SubprocessOptions options;
        options.argv = {settings_.path, verb, record.fqdn, record.value};
        // Our environment without our secrets: the hook gets names and values, never keys.
        options.env = core::child_environment();
        options.timeout = settings_.timeout;
        options.on_line = [&](std::string_view line) {
            core::log::info("exec: " + std::string(line),
                            {{"command", settings_.path}, {"step", verb}, {"fqdn", record.fqdn}});
            tail.emplace_back(line);
            if (tail.size() > k_tail_lines) {
                tail.pop_front();
            }
        };
        auto ran = core::run_subprocess(options);
        if (!ran) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": " + ran.error().message);
        }
        using End = core::SubprocessResult::End;
        switch (ran->end) {
            case End::cancelled: return core::make_error(core::ErrorKind::cancelled, what + ": cancelled");
            case End::timed_out:
                return core::make_error(core::ErrorKind::timeout, what + ": killed after " +
                                                                      std::to_string(settings_.timeout.count()) +
                                                                      "ms (EXEC_TIMEOUT)" + last_lines(tail));
            case End::signalled:
                return core::make_error(core::ErrorKind::internal,
                                        what + " killed by signal " + std::to_string(ran->signal) + last_lines(tail));
            case End::exited: break;
        }
        if (ran->exit_code == 127 && tail.empty()) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": command not found");
        }
        if (ran->exit_code != 0) {
            return core::make_error(core::ErrorKind::internal,
                                    what + " exited with code " + std::to_string(ran->exit_code) + last_lines(tail));
        }
        return {};
    }

    ExecSettings settings_;
};

}  // namespace

namespace {

using core::settings::Setting;
using core::settings::Type;

const std::array<Setting, 2> k_exec_settings{{
    {.key = "exec_path",
     .flag = "exec-path",
     .env = "EXEC_PATH",
     .help = "program called as: PROG present|cleanup FQDN VALUE"},
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
