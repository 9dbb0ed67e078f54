/* The command line: parses options and dispatches to the engine and the tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "engine.h"
#include "plot.h"
#include "report.h"
#include "resources.h"
#include "status.h"

static const char *usage =
    "usage: tunelua EXPERIMENT.lua [options]        same as `tunelua run`\n"
    "       tunelua run EXPERIMENT.lua [options]\n"
    "         --scheduler NAME|FILE   override the scheduler: a name in the experiment's\n"
    "                                 schedulers = { ... }, a built-in one (docs/schedulers.md;\n"
    "                                 an unknown name lists them), or a .lua path\n"
    "         --searcher NAME|FILE    the same for the searcher\n"
    "         --executor local|slurm|simulate  where trials run (processes, srun steps, or Lua\n"
    "                                 on a virtual clock)\n"
    "         --address HOST[:PORT]   slurm: where trainers on the nodes connect back to\n"
    "         --dir DIR               experiment directory (default ./tunelua_runs/<name>-<time>)\n"
    "         --seed N                all randomness derives from it\n"
    "         --max-concurrent N      cap on running trials\n"
    "         --cpus N --gpus N       override detected resources (tunelua resources shows them)\n"
    "         --mem SIZE              memory trials may take in all (4G, 512M; default: detected)\n"
    "         --resource NAME=N       a custom resource's capacity (repeatable; trials ask with\n"
    "                                 resources = { custom = { NAME = n } })\n"
    "         --no-bind               do not pin trials to their own PUs\n"
    "         --quiet | --json        no live view | machine-readable progress lines\n"
    "         --dashboard [HOST:]PORT  live report over HTTP (127.0.0.1 unless HOST; port 0: any)\n"
    "         --fsync periodic|always|never  when the journal is synced to disk: once a second\n"
    "                                 (default), before every acknowledgement, or never;\n"
    "                                 results are written before they are acknowledged in\n"
    "                                 every mode (docs/usage.md, \"Durability\")\n"
    "         --no-fsync              the same as --fsync never\n"
    "         --lua-dir DIR           development: load lua/ and schedulers/ from DIR\n"
    "       tunelua resume DIR [options]  continue an interrupted or crashed experiment\n"
    "                                     (--scheduler X swaps the scheduler: docs/usage.md)\n"
    "       SIGHUP during a run: hot swap to the scheduler of DIR/swap.lua (docs/usage.md)\n"
    "       tunelua compare EXPERIMENT.lua --schedulers a,b [options]  schedulers and searchers\n"
    "                                      side by side (tunelua compare --help)\n"
    "       tunelua status DIR [--json]   trials, states, best result; running or not\n"
    "       tunelua summary DIR [--json]  every trial by metric; the best trial and its config\n"
    "       tunelua report KEY=VALUE ...   (inside a trainer) report a result\n"
    "       tunelua resources [--json] [--cpus N] [--gpus N] [--mem SIZE] [--resource NAME=N]\n"
    "                                      what trials can have here (hwloc, CUDA runtime)\n"
    "       tunelua plot DIR [-o FILE.html]  self-contained HTML report (default DIR/report.html)\n"
    "       tunelua --help | --version\n"
    "exit status: 0 done, 1 some trial failed, 2 bad experiment or command line, 3 interrupted\n";

static int bad(const char *fmt, const char *arg) {
  fprintf(stderr, "tunelua: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see tunelua --help)\n");
  return TL_EXIT_USAGE;
}

static int parse_number(const char *s, double *out) {
  char *end;
  *out = strtod(s, &end);
  return *s && !*end;
}

static int run_main(int argc, char **argv, int resume) {
  tl_options o = {0};
  o.seed = -1;
  o.gpus = -1;
  static const char *custom[64]; /* --resource entries (argv strings), NULL-terminated */
  int ncustom = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *val = NULL;
    char name[64];
    if (strncmp(a, "--", 2) != 0) {
      if (o.exp_path) return bad("unexpected argument %s", a);
      o.exp_path = a;
      continue;
    }
    const char *eq = strchr(a, '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
    if (strcmp(name, "--quiet") == 0) {
      o.quiet = 1;
      continue;
    }
    if (strcmp(name, "--json") == 0) {
      o.json = 1;
      continue;
    }
    if (strcmp(name, "--no-fsync") == 0) {
      o.fsync = TL_FSYNC_NEVER;
      continue;
    }
    if (strcmp(name, "--no-bind") == 0) {
      o.no_bind = 1;
      continue;
    }
    static const char *with_value[] = {"--scheduler", "--searcher", "--executor", "--dir", "--seed",
                                       "--max-concurrent", "--cpus", "--gpus", "--lua-dir", "--mem",
                                       "--resource", "--address", "--dashboard", "--fsync",
                                       NULL};
    int known = 0;
    for (int k = 0; with_value[k]; k++) known |= strcmp(name, with_value[k]) == 0;
    if (!known) return bad("unknown option %s", a);
    if (eq)
      val = eq + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return bad("%s needs a value", name);
    double num;
    if (strcmp(name, "--scheduler") == 0) o.scheduler = val;
    else if (strcmp(name, "--searcher") == 0) o.searcher = val;
    else if (strcmp(name, "--dir") == 0) o.dir = val;
    else if (strcmp(name, "--lua-dir") == 0) o.lua_dir = val;
    else if (strcmp(name, "--address") == 0) o.address = val;
    else if (strcmp(name, "--dashboard") == 0) o.dashboard = val;
    else if (strcmp(name, "--fsync") == 0) {
      if (strcmp(val, "periodic") == 0) o.fsync = TL_FSYNC_PERIODIC;
      else if (strcmp(val, "always") == 0) o.fsync = TL_FSYNC_ALWAYS;
      else if (strcmp(val, "never") == 0) o.fsync = TL_FSYNC_NEVER;
      else return bad("--fsync expects periodic, always or never, got %s", val);
    }
    else if (strcmp(name, "--mem") == 0) {
      if (!(tl_parse_size(val) > 0)) return bad("--mem expects a size > 0 such as 4G or 512M, got %s", val);
      o.mem = tl_parse_size(val);
    } else if (strcmp(name, "--resource") == 0) {
      const char *q = strchr(val, '=');
      double amount;
      if (!q || q == val || strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_.-") != (size_t)(q - val) ||
          !parse_number(q + 1, &amount) || amount < 0)
        return bad("--resource expects NAME=N (N >= 0), got %s", val);
      if (ncustom == 63) return bad("%s", "at most 63 --resource options");
      custom[ncustom++] = val;
      custom[ncustom] = NULL;
      o.custom = custom;
    }
    else if (strcmp(name, "--executor") == 0) {
      if (strcmp(val, "local") != 0 && strcmp(val, "simulate") != 0 && strcmp(val, "slurm") != 0)
        return bad("--executor %s is not available (local, slurm or simulate)", val);
      o.executor = val;
    } else if (!parse_number(val, &num) || num < 0) {
      fprintf(stderr, "tunelua: %s expects a non-negative number, got \"%s\" (see tunelua --help)\n", name, val);
      return TL_EXIT_USAGE;
    } else if ((strcmp(name, "--seed") == 0 || strcmp(name, "--max-concurrent") == 0) &&
               (num != (double)(long)num || num > 2e9)) {
      fprintf(stderr, "tunelua: %s expects a whole number, got \"%s\" (see tunelua --help)\n", name, val);
      return TL_EXIT_USAGE;
    } else if (strcmp(name, "--cpus") == 0 && num <= 0) {
      fprintf(stderr, "tunelua: --cpus expects a number > 0, got \"%s\" (see tunelua --help)\n", val);
      return TL_EXIT_USAGE;
    } else if (strcmp(name, "--seed") == 0) o.seed = (long)num;
    else if (strcmp(name, "--max-concurrent") == 0) o.max_concurrent = num > 0 ? (int)num : -1;
    else if (strcmp(name, "--cpus") == 0) o.cpus = num;
    else if (strcmp(name, "--gpus") == 0 && num != (double)(long)num)
      return bad("--gpus expects a whole number of cards, got %s", val);
    else if (strcmp(name, "--gpus") == 0) o.gpus = num;
  }
  if (resume) {
    if (!o.exp_path) return bad("%s", "resume needs the experiment directory");
    o.resume = o.exp_path;
    o.exp_path = NULL;
    return tl_engine_run(&o);
  }
  if (!o.exp_path) return bad("%s", "no experiment file given");
  FILE *f = fopen(o.exp_path, "r");
  if (!f) {
    fprintf(stderr, "tunelua: cannot open the experiment file %s\n", o.exp_path);
    return TL_EXIT_USAGE;
  }
  fclose(f);
  return tl_engine_run(&o);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return TL_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("tunelua %s\n", TL_VERSION);
    return 0;
  }
  if (strcmp(cmd, "run") == 0) return run_main(argc - 2, argv + 2, 0);
  if (strcmp(cmd, "resume") == 0) return run_main(argc - 2, argv + 2, 1);
  if (strcmp(cmd, "status") == 0) return tl_status_main(argc - 2, argv + 2, 0);
  if (strcmp(cmd, "summary") == 0) return tl_status_main(argc - 2, argv + 2, 1);
  if (strcmp(cmd, "report") == 0) return tl_report_main(argc - 2, argv + 2);
  if (strcmp(cmd, "resources") == 0) return tl_resources_main(argc - 2, argv + 2);
  if (strcmp(cmd, "compare") == 0) return tl_compare_main(argc - 2, argv + 2);
  if (strcmp(cmd, "params") == 0) return tl_client_main(cmd, argc - 2, argv + 2);
  if (strcmp(cmd, "restore") == 0) return tl_client_main(cmd, argc - 2, argv + 2);
  if (strcmp(cmd, "checkpoint-dir") == 0) return tl_client_main(cmd, argc - 2, argv + 2);
  if (strcmp(cmd, "checkpoint") == 0) return tl_client_main(cmd, argc - 2, argv + 2);
  if (strcmp(cmd, "shared") == 0) return tl_client_main(cmd, argc - 2, argv + 2);
  if (strcmp(cmd, "plot") == 0) return tl_plot_main(argc - 2, argv + 2);
  return run_main(argc - 1, argv + 1, 0);
}
