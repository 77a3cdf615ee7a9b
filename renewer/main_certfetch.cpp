// certfetch: the host-side fetcher. Links no ACME code.
#include "renewer/certfetch_cli.hpp"

int main(int argc, char** argv) { return renewer::certfetch_main(argc, argv); }
