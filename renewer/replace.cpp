#include "renewer/replace.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "aws/client.hpp"
#include "core/child_env.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"

namespace renewer {
namespace {

using Clock = std::chrono::steady_clock;

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

core::Error replace_error(const core::Error& error, std::string_view what) { return error.wrap(std::string(what)); }

core::Result<pugi::xml_document> parse_xml(const std::string& text, std::string_view what) {
    pugi::xml_document doc;
    const auto parsed = doc.load_string(text.c_str());
    if (!parsed) {
        return core::make_error(core::ErrorKind::protocol,
                                fmt::format("{}: unparsable XML answer ({})", what, parsed.description()));
    }
    return doc;
}

// First descendant element with this (namespace-free) name.
pugi::xml_node find_element(const pugi::xml_node& root, const char* name) {
    return root.find_node([name](const pugi::xml_node& node) { return std::strcmp(node.name(), name) == 0; });
}

// "2026-11-23T19:00:00.000Z" -> time point; nullopt when unparsable.
std::optional<std::chrono::system_clock::time_point> parse_iso_time(const std::string& text) {
    std::tm tm{};
    int year = 0;
    int month = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &year, &month, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                    &tm.tm_sec) != 6) {
        return std::nullopt;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    const std::time_t seconds = timegm(&tm);
    if (seconds == static_cast<std::time_t>(-1)) {
        return std::nullopt;
    }
    return std::chrono::system_clock::from_time_t(seconds);
}

core::Status need_client(const aws::Client* client, std::string_view what) {
    if (client == nullptr) {
        return core::make_error(core::ErrorKind::internal, fmt::format("{}: no AWS client", what));
    }
    return {};
}

// --- autoscaling ---------------------------------------------------------------

core::Status run_autoscaling(const ReplaceTarget& target, DryRun dry_run, aws::Client* client, ReplaceOutcome& out) {
    // StartInstanceRefresh (Query, AutoScaling API 2011-01-01); Rolling is the
    // only strategy that keeps MinHealthyPercentage of the group in service.
    aws::Params params = {
        {"AutoScalingGroupName", target.group},
        {"Strategy", "Rolling"},
        {"Preferences.MinHealthyPercentage", std::to_string(target.min_healthy_percentage)},
    };
    if (target.instance_warmup) {
        params.emplace_back("Preferences.InstanceWarmup", std::to_string(*target.instance_warmup));
    }
    out.calls.push_back("StartInstanceRefresh");
    const std::string described =
        fmt::format("StartInstanceRefresh group={} min_healthy={}%{}", target.group, target.min_healthy_percentage,
                    target.instance_warmup ? fmt::format(" warmup={}s", *target.instance_warmup) : std::string());
    if (dry_run == DryRun::yes) {
        out.summary = "autoscaling: dry run, would call " + described;
        return {};
    }
    TRY(need_client(client, "autoscaling StartInstanceRefresh"));
    auto answer = client->query(aws::autoscaling, "StartInstanceRefresh", params);
    if (!answer) {
        // A refresh already running (someone else's, or ours from a run that
        // changed certificates moments ago) replaces the instances it has not
        // reached yet, and those boot with the new certificate; the ones it
        // already replaced pick it up on certfetch's timer. Starting another
        // is refused by AWS anyway, so this is a warning, not a failure.
        if (answer.error().code == "InstanceRefreshInProgress") {
            out.already_in_progress = true;
            out.summary = fmt::format(
                "autoscaling: instance refresh already in progress for group {}; not started again (instances it "
                "already replaced get the new certificate from certfetch's timer)",
                target.group);
            return {};
        }
        return replace_error(answer.error(), fmt::format("autoscaling StartInstanceRefresh group {}", target.group));
    }
    TRY_ASSIGN(auto doc, parse_xml(*answer, "autoscaling StartInstanceRefresh"));
    out.refresh_id = find_element(doc, "InstanceRefreshId").text().as_string();
    out.summary = fmt::format("autoscaling: {} -> instance refresh {}", described,
                              out.refresh_id.empty() ? std::string("(no id answered)") : out.refresh_id);
    return {};
}

// --- ec2-tag -----------------------------------------------------------------

struct Instance {
    std::string id;
    std::string launch_time;  // as answered, ISO 8601
};

core::Result<std::vector<Instance>> describe_tagged(const ReplaceTarget& target, aws::Client& client) {
    std::vector<Instance> instances;
    std::string next_token;
    // DescribeInstances pages with NextToken; bounded so a misbehaving
    // endpoint cannot keep us here.
    for (int page = 0; page < 1000; ++page) {
        aws::Params params = {
            {"Filter.1.Name", "tag:" + target.tag_key},
            {"Filter.1.Value.1", target.tag_value},
            {"Filter.2.Name", "instance-state-name"},
            {"Filter.2.Value.1", "running"},
            {"MaxResults", "1000"},
        };
        if (!next_token.empty()) {
            params.emplace_back("NextToken", next_token);
        }
        auto answer = client.query(aws::ec2, "DescribeInstances", params);
        if (!answer) {
            return replace_error(answer.error(), "ec2-tag DescribeInstances");
        }
        TRY_ASSIGN(auto doc, parse_xml(*answer, "ec2-tag DescribeInstances"));
        const auto root = doc.document_element();
        for (const auto reservation : root.child("reservationSet").children("item")) {
            for (const auto item : reservation.child("instancesSet").children("item")) {
                const std::string state = item.child("instanceState").child("name").text().as_string();
                if (!state.empty() && state != "running") {
                    continue;  // the filter already asked for running; be safe
                }
                instances.push_back(
                    {item.child("instanceId").text().as_string(), item.child("launchTime").text().as_string()});
            }
        }
        next_token = root.child("nextToken").text().as_string();
        if (next_token.empty()) {
            return instances;
        }
    }
    return core::make_error(core::ErrorKind::protocol, "ec2-tag DescribeInstances: more than 1000 pages");
}

core::Status run_ec2_tag(const ReplaceTarget& target, const std::vector<ChangedCertificate>& changed, DryRun dry_run,
                         aws::Client* client, ReplaceOutcome& out) {
    const std::string selector = fmt::format("{}={}", target.tag_key, target.tag_value);
    if (dry_run == DryRun::yes) {
        out.calls = {"DescribeInstances", "TerminateInstances"};
        out.summary = fmt::format(
            "ec2-tag: dry run, would call DescribeInstances (tag:{}, running) and TerminateInstances for at most {} "
            "of them",
            selector, target.max_terminate);
        return {};
    }
    TRY(need_client(client, "ec2-tag"));
    out.calls.push_back("DescribeInstances");
    TRY_ASSIGN(auto instances, describe_tagged(target, *client));

    // An instance launched after the new certificate was stored already has it.
    std::optional<std::chrono::system_clock::time_point> stored_at;
    for (const auto& cert : changed) {
        if (cert.stored_at && (!stored_at || *cert.stored_at > *stored_at)) {
            stored_at = cert.stored_at;
        }
    }
    std::vector<Instance> stale;
    std::size_t fresh = 0;
    for (const auto& instance : instances) {
        const auto launched = parse_iso_time(instance.launch_time);
        if (stored_at && launched && *launched >= *stored_at) {
            ++fresh;
            continue;
        }
        stale.push_back(instance);
    }
    // Oldest first: they are the likeliest to serve an old copy.
    std::stable_sort(stale.begin(), stale.end(), [](const Instance& a, const Instance& b) {
        return std::tie(a.launch_time, a.id) < std::tie(b.launch_time, b.id);
    });
    const auto cap = static_cast<std::size_t>(std::max(target.max_terminate, 0));
    std::vector<std::string> chosen;
    for (std::size_t i = 0; i < stale.size(); ++i) {
        (i < cap ? chosen : out.left_for_next_run).push_back(stale[i].id);
    }
    if (chosen.empty()) {
        out.summary = fmt::format("ec2-tag: no running instance tagged {} to replace ({} found, {} already fresh)",
                                  selector, instances.size(), fresh);
        return {};
    }
    aws::Params params;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
        params.emplace_back(fmt::format("InstanceId.{}", i + 1), chosen[i]);
    }
    out.calls.push_back("TerminateInstances");
    auto answer = client->query(aws::ec2, "TerminateInstances", params);
    if (!answer) {
        return replace_error(answer.error(), fmt::format("ec2-tag TerminateInstances {}", join(chosen, " ")));
    }
    TRY_ASSIGN(auto doc, parse_xml(*answer, "ec2-tag TerminateInstances"));
    for (const auto item : doc.document_element().child("instancesSet").children("item")) {
        out.terminated.push_back(item.child("instanceId").text().as_string());
    }
    if (out.terminated.empty()) {
        out.terminated = chosen;  // an answer without the list still means success
    }
    out.summary = fmt::format("ec2-tag: terminated {} of {} running instances tagged {} ({}); the tier respawns them",
                              out.terminated.size(), instances.size(), selector, join(out.terminated, " "));
    if (!out.left_for_next_run.empty()) {
        out.summary += fmt::format("; {} left for the next run over the cap of {} ({})", out.left_for_next_run.size(),
                                   target.max_terminate, join(out.left_for_next_run, " "));
    }
    return {};
}

// --- ecs ---------------------------------------------------------------------

core::Status run_ecs(const ReplaceTarget& target, DryRun dry_run, aws::Client* client, ReplaceOutcome& out) {
    out.calls.push_back("UpdateService");
    const std::string described =
        fmt::format("UpdateService cluster={} service={} forceNewDeployment=true", target.cluster, target.service);
    if (dry_run == DryRun::yes) {
        out.summary = "ecs: dry run, would call " + described;
        return {};
    }
    TRY(need_client(client, "ecs UpdateService"));
    // UpdateService (ECS JSON 1.1): forceNewDeployment starts new tasks with
    // the same task definition; they fetch the new certificate when they start.
    const nlohmann::json body = {
        {"cluster", target.cluster}, {"service", target.service}, {"forceNewDeployment", true}};
    auto answer = client->json(aws::ecs, "UpdateService", body);
    if (!answer) {
        return replace_error(answer.error(),
                             fmt::format("ecs UpdateService cluster {} service {}", target.cluster, target.service));
    }
    const auto& service = *answer;
    if (service.contains("service") && service["service"].contains("deployments") &&
        service["service"]["deployments"].is_array()) {
        for (const auto& deployment : service["service"]["deployments"]) {
            if (deployment.value("status", "") == "PRIMARY" && deployment.contains("id") &&
                deployment["id"].is_string()) {
                out.deployment_id = deployment["id"].get<std::string>();
            }
        }
    }
    out.summary = fmt::format("ecs: {}{}", described,
                              out.deployment_id.empty() ? std::string() : " -> deployment " + out.deployment_id);
    return {};
}

// --- hook --------------------------------------------------------------------

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int value) : fd(value) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

// Our own secrets never reach the hook (issue 8: exec hooks get paths, not
// keys): core::child_environment drops them, and the variables the
// configuration names as secret sources (target.hidden_env).
std::vector<std::string> hook_env_block(const ReplaceTarget& target, const std::vector<ChangedCertificate>& changed) {
    std::vector<std::string> block;
    for (auto& entry : core::child_environment(target.hidden_env)) {
        if (entry.starts_with("RENEWED_")) {
            continue;
        }
        block.push_back(std::move(entry));
    }
    for (const auto& [name, value] : hook_environment(changed)) {
        block.push_back(name + "=" + value);
    }
    return block;
}

void log_hook_output(std::string& pending, bool flush_all, std::size_t& logged) {
    constexpr std::size_t k_max_logged = 64 * 1024;
    std::size_t start = 0;
    while (true) {
        const auto newline = pending.find('\n', start);
        if (newline == std::string::npos) {
            break;
        }
        if (logged < k_max_logged) {
            core::log::info("hook output", {{"line", pending.substr(start, newline - start)}});
        }
        logged += newline - start + 1;
        start = newline + 1;
    }
    pending.erase(0, start);
    if ((flush_all || pending.size() > 4096) && !pending.empty()) {
        if (logged < k_max_logged) {
            core::log::info("hook output", {{"line", pending}});
        }
        logged += pending.size();
        pending.clear();
    }
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) {
        return fmt::format("exited with status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("killed by signal {}", WTERMSIG(status));
    }
    return "ended";
}

core::Status run_hook(const ReplaceTarget& target, const std::vector<ChangedCertificate>& changed, DryRun dry_run,
                      ReplaceOutcome& out) {
    out.calls.push_back("hook");
    const auto env = hook_environment(changed);
    std::vector<std::string> shown;
    for (const auto& [name, value] : env) {
        shown.push_back(fmt::format("{}=\"{}\"", name, value));
    }
    if (dry_run == DryRun::yes) {
        out.summary = fmt::format("hook: dry run, would run /bin/sh -c '{}' with {}", target.command, join(shown, " "));
        return {};
    }

    std::vector<std::string> env_block = hook_env_block(target, changed);
    std::vector<char*> envp;
    for (auto& entry : env_block) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);
    std::string sh = "/bin/sh";
    std::string dash_c = "-c";
    std::string command = target.command;
    std::vector<char*> argv = {sh.data(), dash_c.data(), command.data(), nullptr};

    int pipe_fds[2] = {-1, -1};
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return core::make_error(core::ErrorKind::io, fmt::format("hook: pipe: {}", std::strerror(errno)));
    }
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.fd, 1);
    posix_spawn_file_actions_adddup2(&actions, write_end.fd, 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group, so a timeout stops everything the command started.
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t no_signals;
    sigemptyset(&no_signals);
    posix_spawnattr_setsigmask(&attributes, &no_signals);
    sigset_t default_signals;
    sigemptyset(&default_signals);
    sigaddset(&default_signals, SIGTERM);
    sigaddset(&default_signals, SIGINT);
    sigaddset(&default_signals, SIGPIPE);
    posix_spawnattr_setsigdefault(&attributes, &default_signals);

    pid_t pid = -1;
    const auto started = Clock::now();
    const int spawned = posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0) {
        return core::make_error(core::ErrorKind::io,
                                fmt::format("hook: cannot start /bin/sh: {}", std::strerror(spawned)));
    }
    ::close(write_end.fd);
    write_end.fd = -1;
    core::log::info("running deploy hook", {{"command", target.command}, {"certificates", names_of(changed)}});

    // pidfd_open(2) through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C".
    Fd process(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (process.fd < 0) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return core::make_error(core::ErrorKind::io, fmt::format("hook: pidfd_open: {}", std::strerror(errno)));
    }

    const auto deadline = started + target.timeout;
    std::string pending;
    std::size_t logged = 0;
    bool pipe_open = true;
    bool exited = false;
    enum class Stop { none, timeout, cancelled } stop = Stop::none;
    while (!exited) {
        if (core::cancelled()) {
            stop = Stop::cancelled;
            break;
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            stop = Stop::timeout;
            break;
        }
        // Wake at least every 200 ms to notice cancel() (SIGTERM).
        const auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                                   std::chrono::milliseconds(200));
        pollfd fds[2] = {{process.fd, POLLIN, 0}, {pipe_open ? read_end.fd : -1, POLLIN, 0}};
        const int ready = ::poll(fds, 2, static_cast<int>(wait.count()) + 1);
        if (ready < 0 && errno != EINTR) {
            break;
        }
        if (pipe_open && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
            char buffer[4096];
            const ssize_t n = ::read(read_end.fd, buffer, sizeof buffer);
            if (n > 0) {
                pending.append(buffer, static_cast<std::size_t>(n));
                log_hook_output(pending, false, logged);
            } else if (n == 0) {
                pipe_open = false;
            }
        }
        if ((fds[0].revents & POLLIN) != 0) {
            exited = true;
        }
    }
    if (!exited) {
        // SIGTERM to the group, then SIGKILL after a short grace period.
        ::kill(-pid, SIGTERM);
        pollfd fd = {process.fd, POLLIN, 0};
        if (::poll(&fd, 1, 5000) <= 0) {
            ::kill(-pid, SIGKILL);
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // Whatever the shell wrote before it ended; a background child that keeps
    // the pipe open does not keep us waiting.
    if (pipe_open) {
        ::fcntl(read_end.fd, F_SETFL, O_NONBLOCK);
        char buffer[4096];
        ssize_t n = 0;
        while ((n = ::read(read_end.fd, buffer, sizeof buffer)) > 0 && pending.size() < 1024 * 1024) {
            pending.append(buffer, static_cast<std::size_t>(n));
        }
    }
    log_hook_output(pending, true, logged);
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

    if (stop == Stop::timeout) {
        return core::make_error(core::ErrorKind::timeout, fmt::format("hook: '{}' did not finish within {} s; stopped",
                                                                      target.command, target.timeout.count()));
    }
    if (stop == Stop::cancelled) {
        return core::make_error(core::ErrorKind::cancelled,
                                fmt::format("hook: '{}' stopped: run cancelled", target.command));
    }
    out.hook_exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        core::Error error = core::make_error(core::ErrorKind::internal,
                                             fmt::format("hook: '{}' {}", target.command, describe_status(status)));
        error.code = "hook_failed";
        return error;
    }
    out.summary = fmt::format("hook: '{}' exited 0 after {:.1f} s for {}", target.command, seconds, names_of(changed));
    return {};
}

}  // namespace

const char* to_string(ReplaceType type) {
    switch (type) {
        case ReplaceType::none: return "none";
        case ReplaceType::autoscaling: return "autoscaling";
        case ReplaceType::ec2_tag: return "ec2-tag";
        case ReplaceType::ecs: return "ecs";
        case ReplaceType::hook: return "hook";
    }
    return "none";
}

std::optional<ReplaceType> parse_replace_type(std::string_view name) {
    for (const auto type :
         {ReplaceType::none, ReplaceType::autoscaling, ReplaceType::ec2_tag, ReplaceType::ecs, ReplaceType::hook}) {
        if (name == to_string(type)) {
            return type;
        }
    }
    return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> hook_environment(const std::vector<ChangedCertificate>& changed) {
    std::vector<std::string> ids;
    std::vector<std::string> domains;
    std::vector<std::string> paths;
    std::vector<std::string> locations;
    std::vector<std::string> serials;
    for (const auto& cert : changed) {
        ids.push_back(cert.name);
        for (const auto& domain : cert.domains) {
            if (std::find(domains.begin(), domains.end(), domain) == domains.end()) {
                domains.push_back(domain);
            }
        }
        if (cert.location.rfind("dir:", 0) == 0) {
            paths.push_back(cert.location.substr(4));
        }
        locations.push_back(cert.location);
        serials.push_back(cert.serial);
    }
    std::vector<std::pair<std::string, std::string>> env = {
        {"RENEWED_CERTIFICATES", join(ids, " ")},
        {"RENEWED_DOMAINS", join(domains, " ")},
    };
    if (!paths.empty()) {
        env.emplace_back("RENEWED_LINEAGE", paths.front());
        env.emplace_back("RENEWED_PATHS", join(paths, " "));
    }
    env.emplace_back("RENEWED_LOCATIONS", join(locations, " "));
    env.emplace_back("RENEWED_SERIALS", join(serials, " "));
    return env;
}

core::Result<ReplaceOutcome> run_replacement(const ReplaceTarget& target,
                                             const std::vector<ChangedCertificate>& changed, DryRun dry_run,
                                             aws::Client* client) {
    ReplaceOutcome out;
    out.type = target.type;
    out.dry_run = dry_run;
    if (changed.empty()) {
        out.summary = fmt::format("{}: no certificate changed, nothing to replace", to_string(target.type));
        return out;
    }
    core::Status status;
    switch (target.type) {
        case ReplaceType::none: out.summary = "none: no replacement configured"; break;
        case ReplaceType::autoscaling: status = run_autoscaling(target, dry_run, client, out); break;
        case ReplaceType::ec2_tag: status = run_ec2_tag(target, changed, dry_run, client, out); break;
        case ReplaceType::ecs: status = run_ecs(target, dry_run, client, out); break;
        case ReplaceType::hook: status = run_hook(target, changed, dry_run, out); break;
    }
    if (!status) {
        core::log::error("replacement failed", {{"replace", to_string(target.type)},
                                                {"certificates", names_of(changed)},
                                                {"error", status.error().message}});
        return status.error();
    }
    const core::log::Fields fields = {{"replace", to_string(target.type)}, {"certificates", names_of(changed)}};
    if (out.already_in_progress) {
        core::log::warn(out.summary, fields);
    } else {
        core::log::info(out.summary, fields);
    }
    return out;
}

}  // namespace renewer
