// renewer: the run-to-completion job. All logic lives in renewer_app so tests link it.
#include "renewer/renewer_cli.hpp"

int main(int argc, char** argv) { return renewer::renewer_main(argc, argv); }
