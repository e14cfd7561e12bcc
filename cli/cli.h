/* The command-line front end: one entry function per subcommand (as git's
 * builtin/), and the one place that prints errors. */
#ifndef SMOLDER_CLI_H
#define SMOLDER_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <pthread.h>

#include <sys/resource.h>

#include "profile/profile.h"
#include "profiler/profiler.h"
#include "push/push.h"
#include "render/render.h"
#include "symbolizer/symbolizer.h"

/* Exit statuses shared by every command. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_GATE = 3, /* diff --fail-above tripped */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_record(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_fold(int argc, char **argv);
int cmd_collapse(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_top(int argc, char **argv);

/* "smolder: <cmd>: <message>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints usage for an unknown option and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd);

/* ---- options.c: each command's options, one table for parsing and help ---- */

enum cli_option_kind {
	CLI_OPT_END,
	CLI_OPT_BOOL,     /* bool *: set by the flag */
	CLI_OPT_STRING,   /* const char **: the argument, as given */
	CLI_OPT_U32,      /* uint32_t *, 0 to max (0: UINT32_MAX) */
	CLI_OPT_U64,      /* uint64_t *, 0 to max (0: UINT64_MAX) */
	CLI_OPT_DOUBLE,   /* double * */
	CLI_OPT_CALLBACK, /* callback(cmd, "--name", arg, value): 0, or -1 after reporting */
};

struct cli_option {
	enum cli_option_kind kind;
	char short_name;      /* 0: none */
	const char *long_name;
	const char *arg_name; /* shown in the help: "FILE" */
	const char *help;     /* lines after the first are indented under it */
	void *value;
	unsigned long long max;
	int (*callback)(const char *cmd, const char *name, const char *arg, void *value);
	bool hidden;          /* accepted, not shown (flamegraph.pl's options that do nothing here) */
	bool required;        /* a string that must be given: missing, it is a usage error */
};

#define OPT_BOOL(s, l, v, h) { CLI_OPT_BOOL, s, l, NULL, h, v, 0, NULL, false, false }
#define OPT_STRING(s, l, a, v, h) { CLI_OPT_STRING, s, l, a, h, v, 0, NULL, false, false }
/* --time-range, as every command that reads a profile takes it. */
#define OPT_TIME_RANGE(v)                                                                          \
	OPT_STRING(0, "time-range", "START:END", v,                                                \
		   "keep what happened from START to END s (from the recording's\n"                 \
		   "start; either may be empty: 2: or :1.5)")
#define OPT_U32(s, l, a, v, m, h) { CLI_OPT_U32, s, l, a, h, v, m, NULL, false, false }
#define OPT_U64(s, l, a, v, m, h) { CLI_OPT_U64, s, l, a, h, v, m, NULL, false, false }
#define OPT_DOUBLE(s, l, a, v, h) { CLI_OPT_DOUBLE, s, l, a, h, v, 0, NULL, false, false }
#define OPT_CALLBACK(s, l, a, v, fn, h) { CLI_OPT_CALLBACK, s, l, a, h, v, 0, fn, false, false }
#define OPT_REQUIRED_STRING(s, l, a, v, h) { CLI_OPT_STRING, s, l, a, h, v, 0, NULL, false, true }
#define OPT_HIDDEN_STRING(l, v) { CLI_OPT_STRING, 0, l, "X", "", v, 0, NULL, true, false }
#define OPT_HIDDEN_BOOL(l, v) { CLI_OPT_BOOL, 0, l, NULL, "", v, 0, NULL, true, false }
#define OPT_END() { CLI_OPT_END, 0, NULL, NULL, NULL, NULL, 0, NULL, false, false }

/* What the help says besides the options, and the operands allowed. */
struct cli_usage {
	const char *cmd;
	const char *synopsis;    /* one line per form, after "usage: smolder CMD " */
	const char *description; /* paragraphs, ending with a newline */
	const char *footer;      /* after the options (an Environment section), or NULL */
	int min_operands, max_operands; /* max -1: any number */
	bool stop_at_operand;    /* the first operand ends the options (a command and its arguments) */
	const char *operands_error; /* said when the count is wrong; NULL: only the usage hint */
};

struct cli_operands {
	char **args;
	int count;
};

enum { CLI_PARSED = 0, CLI_HELP_SHOWN = 1, CLI_USAGE_ERROR = -1 };

/* Parses argv[1..] by opts into their values and the operands; --help
 * prints the help (CLI_HELP_SHOWN); errors are reported (CLI_USAGE_ERROR). */
int cli_parse_options(const struct cli_usage *u, const struct cli_option *opts, int argc, char **argv,
		      struct cli_operands *operands);
/* The index of arg among names[0..n) (NULL entries skipped), or -1. */
int cli_choice(const char *arg, const char *const *names, size_t n);
/* The exit status for what cli_parse_options returned, when not CLI_PARSED. */
int cli_exit_for(int parsed);
/* Where inflated DWARF is kept between runs: $SMOLDER_CACHE_DIR (empty: not
 * kept), else $XDG_CACHE_HOME/smolder, else $HOME/.cache/smolder, of the
 * first of those two that is a directory this user owns; in buf when made
 * here.  NULL: nowhere. */
const char *cli_dwarf_cache_dir(char *buf, size_t len);
void cli_print_help(const struct cli_usage *u, const struct cli_option *opts, FILE *out);

/* Loads a profile or folded text, reporting any error once.  Returns 0 or -1. */
/* --time-range START:END (seconds from the recording's start; NULL: all):
 * keeps what happened then; reports and returns -1 when it cannot. */
int cli_keep_time_range(const char *cmd, const char *range, struct profile *p);
int cli_load_profile(const char *cmd, const char *path, struct profile *p);
/* Reports a profile error about path, with errno for I/O errors. */
void cli_profile_error(const char *cmd, const char *path, int err);

/* Output formats chosen by file extension. */
enum output_format {
	OUTPUT_SMOLDER,
	OUTPUT_SVG,
	OUTPUT_FOLDED,
	OUTPUT_PPROF,
	OUTPUT_SPEEDSCOPE,
	OUTPUT_HTML,
	OUTPUT_FIREFOX,
};
enum output_format cli_format_for_path(const char *path);
/* Writes p to path in the format its extension names.  sel and fo may be NULL
 * for defaults.  Returns 0 or -1 after reporting. */
int cli_write_output(const char *cmd, const struct profile *p, const char *path,
		     const struct render_select *sel, const struct flame_options *fo);

/* Opens an output before any work is done, so that one that cannot be
 * written is said at once ("-": standard output).  0, or -1 after reporting. */
int cli_output_open(const char *cmd, const char *path, struct output_file *o);
/* Renders p into o in the format path's extension names, puts it in place
 * and releases o.  0, or -1 after reporting. */
int cli_output_render(const char *cmd, const struct profile *p, struct output_file *o, const char *path,
		      const struct render_select *sel, const struct flame_options *fo);

/* Opens path for writing ("-" or NULL: stdout).  Reports and returns NULL on error. */
FILE *cli_open_output(const char *cmd, const char *path);
/* Closes what cli_open_output opened, reporting write errors; returns 0 or
 * -1.  A file whose render failed (!rendered) or whose writes failed is
 * removed: no half-written output stays under its name. */
int cli_close_output(const char *cmd, const char *path, FILE *f, bool rendered);

/* Parses a double/unsigned option argument or reports and returns -1. */
int cli_parse_double(const char *cmd, const char *opt, const char *arg, double *out);
int cli_parse_uint(const char *cmd, const char *opt, const char *arg, unsigned long long max,
		   unsigned long long *out);

/* ---- profiler_options.c: what record and top share ---- */

struct cli_pids {
	pid_t *pids; /* owned */
	uint32_t count;
};

/* Option callbacks (struct cli_option's): "1,2,3" into struct cli_pids;
 * seconds; Hz; stack bytes; calls; "cpu,io" into enum profiler_view bits;
 * enum unwind_mode; "cycles" or "cpu-clock". */
int cli_parse_pids(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_duration(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_frequency(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_stack_size(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_alloc_period(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_alloc_mode(const char *cmd, const char *name, const char *arg, void *value);

/* The sampled alloc view's agent: where it is, and for a command the
 * environment that preloads it (owned). */
struct cli_agent {
	char path[4096];
	char **envp;
};
/* Fills po->agent_path (and po->envp for a command) when po samples
 * allocations with the agent; 0, or -1 said. */
int cli_prepare_agent(const char *cmd, struct profiler_options *po, struct cli_agent *agent);
void cli_agent_release(struct cli_agent *agent);

/* SIGINT, SIGTERM and SIGHUP set the flag returned, for profiler_run's stop. */
volatile bool *cli_catch_stop_signals(void);
int cli_parse_views(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_unwind(const char *cmd, const char *name, const char *arg, void *value);
int cli_parse_event(const char *cmd, const char *name, const char *arg, void *value);

/* ---- symbolize_ahead.c ---- */

/* Symbolizing while recording: opening files and their debug info is the
 * slow part of symbolizing (libdw inflates a compressed debug file whole when
 * it opens it), and would otherwise come after sampling ends.  A thread
 * notes the recording's new locations every 200 ms and has the symbolizer
 * open their files and look them up; symbolizer_run then finds most of its
 * work done.  It also reads a program's files while the program runs, which
 * an exited program's deleted binary needs.  The opening and looking up run
 * at a lower priority where this process may take it back (see
 * symbolize_ahead.c). */
struct symbolize_ahead {
	struct profiler *s;
	struct symbolizer *z;
	void (*tick)(void *arg); /* called after each round, on the thread (NULL: none) */
	void *tick_arg;
	uint32_t cursor; /* locations noted so far */
	bool stop;
	bool lowered;    /* the slow part runs at AHEAD_NICE */
	pid_t tid;       /* the thread's */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
};

/* Starts the thread, for the length of profiler_run; false if it could not.
 * tick (may be NULL) runs on it after each round: it may use z. */
bool symbolize_ahead_start(struct symbolize_ahead *a, struct profiler *s, struct symbolizer *z,
			   void (*tick)(void *arg), void *tick_arg);
/* Waits for the lookups under way, if any (the rest is symbolizer_run's). */
void symbolize_ahead_stop(struct symbolize_ahead *a);

/* ---- continuous.c: record --every and --push ---- */

struct continuous_args {
	double every;       /* seconds an interval; 0: one profile, the whole recording */
	const char *dir;    /* each interval written here (-o DIR/); NULL: not written */
	uint32_t keep;      /* the last N interval files; 0: all */
	const char *push_url;
	enum push_format push_format;
	struct vec headers; /* const char *: "Name: value" */
	struct vec tags;    /* struct push_label, keys owned */
	const char *app_name;
	const char *spool_dir;
	double spool_max_mb;
	double push_timeout;
	bool quiet;
};

#define CONTINUOUS_OPTIONS 10
/* The options above, into out[CONTINUOUS_OPTIONS] of record's table. */
void continuous_options(struct continuous_args *c, struct cli_option *out);
void continuous_args_release(struct continuous_args *c);

#define CONTINUOUS_MAX_LABELS 34
struct continuous {
	const struct continuous_args *a;
	struct profiler *s;
	struct symbolizer *z; /* the symbolize_ahead thread's while recording */
	struct pusher *pu;    /* NULL without --push */
	struct rusage usage;  /* at the last interval: the profiler's CPU */
	uint64_t next_cut_ns; /* 0: not yet due (no --every, or sampling not begun) */
	uint64_t duration_ns; /* the recording's, to its end; 0: none */
	uint32_t count;
	bool tty, rejection_said;
	uint64_t failure_said, dropped_said;
	char hostname[256], pid[16], app_name[256];
	struct push_label labels[CONTINUOUS_MAX_LABELS];
	char last_path[4096];
};

/* Makes the directory and starts the pusher; 0, or -1 after reporting. */
int continuous_open(struct continuous *c, const struct continuous_args *a, const struct profiler_options *po,
		    struct profiler *s, struct symbolizer *z);
/* symbolize_ahead's tick: cuts an interval when one is due, says what the
 * pusher could not do. */
void continuous_tick(void *arg);
/* Once sampling is over: the last interval, and the pushes waited for
 * (--push-timeout).  -1 if the server refused any (said already). */
int continuous_finish(struct continuous *c);
void continuous_release(struct continuous *c);

#endif
