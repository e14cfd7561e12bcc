#include "cli/cli.h"
int cmd_diff(int argc, char **argv) { (void)argc; (void)argv; cli_error("diff", "not built yet"); return 1; }
int cmd_merge(int argc, char **argv) { (void)argc; (void)argv; cli_error("merge", "not built yet"); return 1; }
