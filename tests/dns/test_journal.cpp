// The presentation journal (docs/architecture.md#the-dns-journal): entries are written before a provider
// change, removed after a successful clean-up, and listed as orphans only
// when the run that wrote them is over.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/process.hpp"
#include "dns/journal.hpp"
#include "dns/solver.hpp"

namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "journal-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string path() const { return path_; }
    std::string sub(const std::string& name) const { return (fs::path(path_) / name).string(); }

private:
    std::string path_;
};

std::vector<std::string> files(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        out.push_back(e.path().filename().string());
    }
    return out;
}

void write_entry(const std::string& dir, const std::string& name, const nlohmann::json& j) {
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / name) << j.dump();
}

std::string this_host() {
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST(Journal, EntryLivesFromPresentUntilRemovedAndIsNotAnOrphanWhileWeRun) {
    TempDir tmp;
    dns::Journal journal(tmp.sub("journal"));
    auto none = journal.orphans(seconds(3600));
    ASSERT_TRUE(none.ok());  // absent folder: empty
    EXPECT_TRUE(none->empty());

    auto id = journal.add("route53|x", {{"_acme-challenge.a.example.", "v1"}, {"_acme-challenge.a.example.", "v2"}});
    ASSERT_TRUE(id.ok()) << id.error().message;
    ASSERT_EQ(files(journal.dir()), std::vector<std::string>{*id});
    struct stat st {};
    ASSERT_EQ(::stat((fs::path(journal.dir()) / *id).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto orphans = journal.orphans(seconds(0));
    ASSERT_TRUE(orphans.ok());
    EXPECT_TRUE(orphans->empty()) << "our own live entry is not an orphan";

    ASSERT_TRUE(journal.remove(*id).ok());
    EXPECT_TRUE(files(journal.dir()).empty());
    EXPECT_TRUE(journal.remove(*id).ok()) << "removing twice is fine";
}

TEST(Journal, EntryOfADeadProcessIsAnOrphanWithItsRecords) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        dns::Journal journal(dir);
        const bool ok = journal.add("route53|x", {{"_acme-challenge.b.example.", "value-b"}}).ok();
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: the pid is gone
    ASSERT_EQ(WEXITSTATUS(status), 0);
    dns::Journal journal(dir);
    auto orphans = journal.orphans(seconds(3600));
    ASSERT_TRUE(orphans.ok());
    ASSERT_EQ(orphans->size(), 1u);
    const auto& e = orphans->front();
    EXPECT_EQ(e.provider, "route53|x");
    EXPECT_EQ(e.writer.pid, static_cast<long>(child));
    ASSERT_EQ(e.records.size(), 1u);
    EXPECT_EQ(e.records[0].fqdn, "_acme-challenge.b.example.");
    EXPECT_EQ(e.records[0].value, "value-b");
    ASSERT_TRUE(journal.remove(e.id).ok());
    EXPECT_TRUE(journal.orphans(seconds(3600))->empty());
}

TEST(Journal, AReusedPidIsOverOtherHostsAndPidNamespacesByAgeJunkIsSkipped) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    const nlohmann::json records = nlohmann::json::array({{{"fqdn", "_acme-challenge.c.example."}, {"value", "v"}}});
    // pid 1 in a container: our pid in our pid namespace, started at another
    // time, another run id -> over.
    const auto& self = core::self_identity();
    write_entry(dir, "1-same-pid.json",
                {{"provider", "p"},
                 {"host", self.host},
                 {"boot_id", self.boot_id},
                 {"pid_ns", self.pid_ns},
                 {"pid", self.pid},
                 {"start", self.start + 1000},
                 {"run", "an-earlier-run"},
                 {"written_at", now_ms()},
                 {"records", records}});
    // Another container with host networking: our host name and boot id,
    // its own pid namespace, a pid that is free in ours -> alive until max_age.
    write_entry(dir, "5-other-pid-ns.json",
                {{"provider", "p"},
                 {"host", self.host},
                 {"boot_id", self.boot_id},
                 {"pid_ns", "pid:[1]"},
                 {"pid", 999999},
                 {"run", "r"},
                 {"written_at", now_ms()},
                 {"records", records}});
    // Written before the identity had boot id and pid namespace: by age only.
    write_entry(dir, "6-legacy-same-host.json",
                {{"provider", "p"},
                 {"host", this_host()},
                 {"pid", static_cast<long>(::getpid())},
                 {"run", "an-earlier-run"},
                 {"written_at", now_ms()},
                 {"records", records}});
    // Another host (shared volume): only once older than max_age.
    write_entry(dir, "2-young-foreign.json",
                {{"provider", "p"},
                 {"host", "elsewhere"},
                 {"pid", 1},
                 {"run", "r"},
                 {"written_at", now_ms()},
                 {"records", records}});
    write_entry(dir, "3-old-foreign.json",
                {{"provider", "p"},
                 {"host", "elsewhere"},
                 {"pid", 1},
                 {"run", "r"},
                 {"written_at", now_ms() - 7200 * 1000},
                 {"records", records}});
    write_entry(dir, "4-junk.json", "not an object");
    std::ofstream(fs::path(dir) / ".tmp-partial") << "{";

    dns::Journal journal(dir);
    auto orphans = journal.orphans(seconds(3600));
    ASSERT_TRUE(orphans.ok());
    std::vector<std::string> ids;
    for (const auto& e : *orphans) {
        ids.push_back(e.id);
    }
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"1-same-pid.json", "3-old-foreign.json"}));
}

// A writer SIGKILLed between write and rename leaves core::write_file_atomic's
// temp file: its change was never made, so the next run sweeps it (the crash
// matrix found one blocking the journal from ever being empty again).
TEST(Journal, TempFileOfADeadWriterIsSweptALiveOneIsKept) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::_exit(0);
    }
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is gone
    const std::string dead = "." + std::to_string(now_ms()) + "-abc.json.tmp." + std::to_string(child) + ".Xy12Zq";
    const std::string live =
        "." + std::to_string(now_ms()) + "-abc.json.tmp." + std::to_string(::getppid()) + ".Ab34Cd";
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / dead) << "{";
    std::ofstream(fs::path(dir) / live) << "{";

    dns::Journal journal(dir);
    auto orphans = journal.orphans(seconds(3600));
    ASSERT_TRUE(orphans.ok());
    EXPECT_TRUE(orphans->empty());
    EXPECT_EQ(files(dir), (std::vector<std::string>{live}));
}

// A provider that records calls; cleanup can be told to fail.
class RecordingProvider : public dns::Provider {
public:
    explicit RecordingProvider(std::string journal_dir) : journal_dir_(std::move(journal_dir)) {}
    using dns::Provider::present;
    core::Status present(const std::vector<dns::TxtRecord>& records, dns::PresentLog& log) override {
        if (fail_before_sending) {
            return core::make_error(core::ErrorKind::not_found, "no zone");
        }
        if (auto status = log.sending(records); !status) {
            return status;
        }
        journal_files_at_present = files(journal_dir_).size();
        if (refuse_present) {
            log.refused(records);
            return core::make_error(core::ErrorKind::auth, "BADSIG");
        }
        presented += records.size();
        return {};
    }
    core::Result<std::size_t> cleanup(const std::vector<dns::TxtRecord>& records) override {
        cleaned += records.size();
        if (fail_cleanup) {
            return core::make_error(core::ErrorKind::network, "cleanup refused");
        }
        return records.size();
    }
    std::string name() const override { return "recording"; }

    std::size_t journal_files_at_present = 0;
    std::size_t presented = 0;
    std::size_t cleaned = 0;
    bool fail_cleanup = false;
    bool fail_before_sending = false;
    bool refuse_present = false;

private:
    std::string journal_dir_;
};

dns::SolverOptions quick_options() {
    dns::SolverOptions o;
    o.cname = dns::CnameMode::ignore;
    o.propagation_mode = dns::PropagationMode::skip;
    return o;
}

TEST(Journal, SolverJournalsBeforeTheChangeAndForgetsAfterCleanup) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    auto provider = std::make_shared<RecordingProvider>(dir);
    dns::Solver solver(provider, quick_options());
    solver.set_journal(std::make_shared<dns::Journal>(dir), "key-1");
    {
        auto p = solver.present({{"d.example", "v1"}, {"*.d.example", "v2"}});
        ASSERT_TRUE(p.ok()) << p.error().message;
        EXPECT_EQ(provider->journal_files_at_present, 1u) << "the entry must exist before the provider changes DNS";
        ASSERT_TRUE(p->cleanup().ok());
        EXPECT_TRUE(files(dir).empty());
    }
    // A failed clean-up keeps the entry for the next run.
    provider->fail_cleanup = true;
    {
        auto p = solver.present({{"e.example", "v3"}});
        ASSERT_TRUE(p.ok());
        EXPECT_FALSE(p->cleanup().ok());
    }
    ASSERT_EQ(files(dir).size(), 1u);
    // Solver::remove() routes records to their provider (the replay path).
    provider->fail_cleanup = false;
    const auto before = provider->cleaned;
    ASSERT_TRUE(solver.remove({{"_acme-challenge.e.example.", "v3"}}).ok());
    EXPECT_EQ(provider->cleaned, before + 1);
}

}  // namespace

namespace {

// An entry of a process that is gone, written `age` ago.
dns::JournalEntry dead_entry(const std::string& dir, std::chrono::hours age) {
    const pid_t child = ::fork();
    if (child == 0) {
        ::_exit(0);
    }
    ::waitpid(child, nullptr, 0);
    write_entry(dir, "1-dead.json",
                {{"provider", "p"},
                 {"host", this_host()},
                 {"pid", static_cast<long>(child)},
                 {"run", "r"},
                 {"written_at", now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(age).count()},
                 {"records", nlohmann::json::array({{{"fqdn", "_acme-challenge.x.example."}, {"value", "v"}}})}});
    auto orphans = dns::Journal(dir).orphans(seconds(3600));
    EXPECT_TRUE(orphans.ok());
    EXPECT_EQ(orphans->size(), 1u);
    return orphans->front();
}

}  // namespace

// An entry no run can clear (its DNS settings are gone, the zone is gone)
// expires after k_journal_max_attempts failed runs, once a day old; until
// then each failure is counted in the entry.
TEST(Journal, EntryThatCannotBeClearedExpires) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    dns::Journal journal(dir);
    auto entry = dead_entry(dir, std::chrono::hours(48));
    for (int i = 1; i < dns::k_journal_max_attempts; ++i) {
        auto expired = journal.failed(entry);
        ASSERT_TRUE(expired.ok());
        EXPECT_FALSE(*expired) << "attempt " << i;
        entry = journal.orphans(seconds(3600))->front();
        EXPECT_EQ(entry.failed_attempts, i);
        EXPECT_EQ(entry.records.size(), 1u);
    }
    auto expired = journal.failed(entry);
    ASSERT_TRUE(expired.ok());
    EXPECT_TRUE(*expired);
    EXPECT_TRUE(files(dir).empty());

    // A young entry is kept however often it failed: a provider outage of a few runs is not a reason to give up.
    auto young = dead_entry(dir, std::chrono::hours(1));
    young.failed_attempts = dns::k_journal_max_attempts + 3;
    ASSERT_FALSE(*journal.failed(young));
    EXPECT_EQ(files(dir).size(), 1u);
}

// Nothing is journalled for a present that sent nothing (no zone) or whose
// change was refused as a whole (BADSIG): later runs have nothing to remove.
TEST(Journal, SolverJournalsOnlyWhatWasSent) {
    TempDir tmp;
    const std::string dir = tmp.sub("journal");
    auto provider = std::make_shared<RecordingProvider>(dir);
    dns::Solver solver(provider, quick_options());
    solver.set_journal(std::make_shared<dns::Journal>(dir), "key-1");
    provider->fail_cleanup = true;  // a clean-up would fail too (no zone, BADSIG again)

    provider->fail_before_sending = true;
    EXPECT_FALSE(solver.present({{"d.example", "v1"}}).ok());
    EXPECT_TRUE(files(dir).empty());
    EXPECT_EQ(provider->cleaned, 0u) << "nothing was sent, nothing to clean";

    provider->fail_before_sending = false;
    provider->refuse_present = true;
    EXPECT_FALSE(solver.present({{"d.example", "v1"}, {"*.d.example", "v2"}}).ok());
    EXPECT_EQ(provider->journal_files_at_present, 1u) << "journalled before sending";
    EXPECT_TRUE(files(dir).empty()) << "a refused change stays journalled";
    EXPECT_EQ(provider->cleaned, 0u);
}

// The count a removal reports is what the provider found and deleted.
TEST(Journal, RemoveReportsWhatTheProviderDeleted) {
    TempDir tmp;
    auto provider = std::make_shared<RecordingProvider>(tmp.sub("journal"));
    dns::Solver solver(provider, quick_options());
    auto removed = solver.remove({{"_acme-challenge.e.example.", "a"}, {"_acme-challenge.e.example.", "b"}});
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(*removed, 2u);
}
