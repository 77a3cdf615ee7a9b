// The environment our child processes get: the exec DNS hook, the deploy hook
// and certfetch's --reload command. They get paths and names, never keys
// (docs/replacement.md, the deploy hook), so our secrets are taken out of the environment we pass on.
#pragma once

#include <string>
#include <vector>

namespace core {

// Variables that carry a credential by their name alone.
extern const std::vector<std::string> k_secret_env_names;

// `environ` without: the k_secret_env_names, the names in `hidden`, and every
// variable whose value holds a registered secret or a PEM private key (what
// core::log::redact would change). Each entry is "NAME=value".
std::vector<std::string> child_environment(const std::vector<std::string>& hidden = {});

// A null-terminated pointer array over `block` (an environment or an argv)
// for posix_spawn/execve; valid while `block` lives and is not changed.
std::vector<char*> env_pointers(std::vector<std::string>& block);

}  // namespace core
