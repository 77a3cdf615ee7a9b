// Command line of `certfetch`.
#pragma once

namespace renewer {

int certfetch_main(int argc, char** argv);

}  // namespace renewer
