// The exec provider's batches (docs/dns-providers.md#exec): one call per value
// by default (lego's convention), up to exec_batch FQDN VALUE pairs per call
// otherwise, split below the argument bound; a failing call fails its own
// values only. Against a real hook script that records every call.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/exec.hpp"
#include "dns/solver.hpp"
#include "test_util.hpp"

namespace {

// A hook that appends one line per call to calls.log ("VERB PAIRS BYTES",
// BYTES: its arguments with their NULs, argv[0] included), keeps the values
// it holds in live.txt ("FQDN VALUE" lines), and exits 1 without touching
// anything when it is given a name containing "no-VERB" (a name it may not
// change that way). Presents may run side by side (the solver isolates a
// failed batch with several calls at once): each call has its own pairs
// file and appends to live.txt in one write.
const char* const k_batch_hook = R"(#!/bin/sh
dir=$(dirname "$0")
bytes=0
for a in "$0" "$@"; do bytes=$((bytes + ${#a} + 1)); done
verb=$1; shift
echo "$verb $(($# / 2)) $bytes" >> "$dir/calls.log"
case " $* " in *"no-$verb"*) echo "refusing: no $verb for one of these names" >&2; exit 1;; esac
pairs="$dir/pairs.$$"
touch "$dir/live.txt"
: > "$pairs"
while [ $# -ge 2 ]; do echo "$1 $2" >> "$pairs"; shift 2; done
if [ "$verb" = present ]; then
  cat "$pairs" >> "$dir/live.txt"
else
  grep -v -x -F -f "$pairs" "$dir/live.txt" > "$dir/live.new" || true
  mv "$dir/live.new" "$dir/live.txt"
fi
rm -f "$pairs"
)";

struct ExecBatchHook {
    dns_test::TempDir dir;
    ExecBatchHook() { dir.write("hook.sh", k_batch_hook, 0755); }

    std::shared_ptr<dns::Provider> provider(std::size_t batch) const {
        dns::ExecSettings settings{dir.file("hook.sh"), std::chrono::seconds(20), batch};
        auto made = dns::make_exec(settings);
        EXPECT_TRUE(made.ok()) << made.error().message;
        return std::shared_ptr<dns::Provider>(std::move(*made));
    }
    // "VERB PAIRS BYTES" per call, in order.
    std::vector<std::string> calls() const { return lines("calls.log"); }
    std::vector<std::string> live() const { return lines("live.txt"); }

private:
    std::vector<std::string> lines(const std::string& name) const {
        std::vector<std::string> out;
        const std::string text = dns_test::read_text(dir.file(name));
        for (std::size_t start = 0; start < text.size();) {
            const auto end = text.find('\n', start);
            out.push_back(text.substr(start, end - start));
            start = end == std::string::npos ? text.size() : end + 1;
        }
        return out;
    }
};

std::vector<dns::TxtRecord> exec_batch_records(std::size_t count, const std::string& label = "name") {
    std::vector<dns::TxtRecord> records;
    for (std::size_t i = 0; i < count; ++i) {
        records.push_back({"_acme-challenge." + label + std::to_string(i) + ".example.com.",
                           "value-" + std::to_string(i) + std::string(37, 'x')});
    }
    return records;
}

std::vector<std::string> verbs_and_pairs(const std::vector<std::string>& calls) {
    std::vector<std::string> out;
    for (const auto& c : calls) {
        out.push_back(c.substr(0, c.rfind(' ')));
    }
    return out;
}

}  // namespace

TEST(DnsExecBatch, ThirtyValuesTakeOneCallEachWayInBatchMode) {
    ExecBatchHook hook;
    auto provider = hook.provider(100);
    const auto records = exec_batch_records(30);
    ASSERT_TRUE(provider->present(records).ok());
    EXPECT_EQ(verbs_and_pairs(hook.calls()), (std::vector<std::string>{"present 30"}));
    ASSERT_EQ(hook.live().size(), 30U);
    EXPECT_EQ(hook.live().front(), records.front().fqdn + " " + records.front().value);
    EXPECT_EQ(hook.live().back(), records.back().fqdn + " " + records.back().value);
    auto removed = provider->cleanup(records);
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(*removed, 30U);
    EXPECT_EQ(verbs_and_pairs(hook.calls()), (std::vector<std::string>{"present 30", "cleanup 30"}));
    EXPECT_TRUE(hook.live().empty());
}

TEST(DnsExecBatch, ThirtyValuesTakeThirtyCallsEachWayByDefault) {
    ExecBatchHook hook;
    auto provider = hook.provider(dns::ExecSettings{}.batch);
    const auto records = exec_batch_records(30);
    ASSERT_TRUE(provider->present(records).ok());
    ASSERT_TRUE(provider->cleanup(records).ok());
    std::vector<std::string> expected(30, "present 1");
    expected.insert(expected.end(), 30, "cleanup 1");
    EXPECT_EQ(verbs_and_pairs(hook.calls()), expected);
    EXPECT_TRUE(hook.live().empty());
}

TEST(DnsExecBatch, BatchSizeBoundsThePairsPerCall) {
    ExecBatchHook hook;
    auto provider = hook.provider(8);
    const auto records = exec_batch_records(30);
    ASSERT_TRUE(provider->present(records).ok());
    ASSERT_TRUE(provider->cleanup(records).ok());
    EXPECT_EQ(verbs_and_pairs(hook.calls()),
              (std::vector<std::string>{"present 8", "present 8", "present 8", "present 6", "cleanup 8", "cleanup 8",
                                        "cleanup 8", "cleanup 6"}));
    EXPECT_TRUE(hook.live().empty());
}

// 400 names of about 200 bytes are about 100 KB of arguments: more than one
// call may carry, whatever exec_batch allows.
TEST(DnsExecBatch, ArgumentBytesSplitABatchBelowTheBound) {
    ExecBatchHook hook;
    auto provider = hook.provider(10000);
    std::vector<dns::TxtRecord> records;
    const std::string labels = std::string(50, 'n') + "." + std::string(50, 'n') + "." + std::string(48, 'n');
    for (const auto& r : exec_batch_records(400, labels)) {
        records.push_back(r);
    }
    ASSERT_TRUE(provider->present(records).ok());
    const auto calls = hook.calls();
    ASSERT_EQ(calls.size(), 2U);
    std::size_t pairs = 0;
    for (const auto& c : calls) {
        const auto first = c.find(' ');
        const auto second = c.rfind(' ');
        pairs += std::stoul(c.substr(first + 1, second - first - 1));
        EXPECT_LE(std::stoul(c.substr(second + 1)), dns::k_exec_max_argument_bytes) << c;
    }
    EXPECT_EQ(pairs, 400U);
    EXPECT_EQ(hook.live().size(), 400U);
    ASSERT_TRUE(provider->cleanup(records).ok());
    EXPECT_TRUE(hook.live().empty());
}

// The error names the call (its first name and how many values it carried)
// and quotes the hook; the calls after it are not made.
TEST(DnsExecBatch, FailingCallFailsThePresentAndNamesItsValues) {
    ExecBatchHook hook;
    auto provider = hook.provider(10);
    auto records = exec_batch_records(30);
    records[12].fqdn = "_acme-challenge.no-present.example.com.";
    auto status = provider->present(records);
    ASSERT_FALSE(status.ok());
    const std::string& m = status.error().message;
    EXPECT_NE(m.find("present " + records[10].fqdn + " ... (10 values)' exited with code 1"), std::string::npos) << m;
    EXPECT_NE(m.find("refusing: no present"), std::string::npos) << m;
    EXPECT_EQ(verbs_and_pairs(hook.calls()), (std::vector<std::string>{"present 10", "present 10"}));
}

// A clean-up tries every call; a call the hook refuses as a whole is tried
// one value per call, so the only value left is the one the hook cannot
// remove, and the error names it.
TEST(DnsExecBatch, FailingCleanupCallLeavesOnlyTheValueTheHookRefuses) {
    ExecBatchHook hook;
    auto provider = hook.provider(10);
    auto records = exec_batch_records(30);
    records[15].fqdn = "_acme-challenge.no-cleanup.example.com.";
    ASSERT_TRUE(provider->present(records).ok());
    auto removed = provider->cleanup(records);
    ASSERT_FALSE(removed.ok());
    EXPECT_NE(removed.error().message.find("cleanup " + records[15].fqdn + "' exited with code 1"), std::string::npos)
        << removed.error().message;
    std::vector<std::string> expected(3, "present 10");
    expected.insert(expected.end(), 2, "cleanup 10");
    expected.insert(expected.end(), 10, "cleanup 1");
    expected.emplace_back("cleanup 10");
    EXPECT_EQ(verbs_and_pairs(hook.calls()), expected);
    EXPECT_EQ(hook.live(), std::vector<std::string>{records[15].fqdn + " " + records[15].value});
}

// The pipelined run (dns::Solver::present_sets): ten certificates in one
// call; one of them has a name the hook refuses, so the combined call fails,
// the solver removes what it sent and presents each certificate on its own:
// only that certificate fails, and one clean-up call removes every value.
TEST(DnsExecBatch, SolverFailsOnlyTheCertificateTheHookRefuses) {
    ExecBatchHook hook;
    dns::SolverOptions options;
    options.cname = dns::CnameMode::ignore;
    options.propagation_mode = dns::PropagationMode::skip;
    dns::Solver solver(hook.provider(100), options);
    std::vector<std::vector<dns::Challenge>> sets;
    for (int i = 0; i < 10; ++i) {
        sets.push_back({{(i == 4 ? "no-present" : "c") + std::to_string(i) + ".example.com", "v" + std::to_string(i)}});
    }
    auto presented = solver.present_sets(sets);
    ASSERT_EQ(presented.outcomes.size(), 10U);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(presented.outcomes[i].ok(), i != 4) << i;
    }
    EXPECT_NE(presented.outcomes[4].error().message.find("no-present4.example.com"), std::string::npos)
        << presented.outcomes[4].error().message;
    EXPECT_EQ(hook.live().size(), 9U);
    ASSERT_TRUE(presented.presentation.cleanup().ok());
    EXPECT_TRUE(hook.live().empty());
    EXPECT_EQ(hook.calls().back().substr(0, 11), "cleanup 10 ");
}

TEST(DnsExecBatch, SettingFromTheEnvironmentAndItsRange) {
    const auto env = [](std::string value) {
        return [value](std::string_view name) -> std::optional<std::string> {
            if (name == "EXEC_PATH") {
                return "/bin/true";
            }
            return name == "EXEC_BATCH" ? std::optional<std::string>(value) : std::nullopt;
        };
    };
    auto fifty = dns::ExecSettings::from_env(env("50"));
    ASSERT_TRUE(fifty.ok()) << fifty.error().message;
    EXPECT_EQ(fifty->batch, 50U);
    auto zero = dns::ExecSettings::from_env(env("0"));
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.error().message.find("EXEC_BATCH"), std::string::npos) << zero.error().message;
}
