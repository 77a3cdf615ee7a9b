// Command line of `renewer`: subcommands, flags, exit codes.
#pragma once

namespace renewer {

// Parses argv, runs the chosen subcommand, returns the process exit code.
// Exceptions that end the run are caught here and become exit code 1 or 2.
int renewer_main(int argc, char** argv);

}  // namespace renewer
