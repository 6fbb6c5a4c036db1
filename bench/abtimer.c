/* abtimer ROUNDS -- CMD1 ARGS \; CMD2 ARGS \; ...: runs the commands in turn, one run each per
 * round (so drift hits all alike), stdout to /dev/null; prints per command the median, mean,
 * p10 and p90 wall time in ms, the median over the first command's, and the page faults
 * (minor + major, from wait4: the command and what it execs). Used by bench/hot_ab.sh. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/resource.h>
extern char **environ;
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: abtimer ROUNDS -- CMD ARGS [';' CMD ARGS]...\n"); return 2; }
  int rounds = atoi(argv[1]);
  char **cmds[32]; int n = 0;
  cmds[n++] = &argv[3];
  for (int i = 3; i < argc; i++) if (strcmp(argv[i], ";") == 0 && n < 32) { argv[i] = NULL; cmds[n++] = &argv[i + 1]; }
  double *t = calloc((size_t)rounds * n, sizeof(double)); long *pf = calloc((size_t)rounds * n, sizeof(long));
  int devnull = open("/dev/null", O_WRONLY);
  for (int r = -rounds / 20 - 3; r < rounds; r++) {      /* the first rounds warm up */
    for (int c = 0; c < n; c++) {
      struct timespec a, b; struct rusage ru; int st;
      clock_gettime(CLOCK_MONOTONIC, &a);
      pid_t p = vfork(); /* no copy-on-write faults of this process before the exec */
      if (p == 0) { dup2(devnull, 1); execve(cmds[c][0], cmds[c], environ); _exit(127); }
      wait4(p, &st, 0, &ru);
      clock_gettime(CLOCK_MONOTONIC, &b);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "abtimer: %s failed (%d)\n", cmds[c][0], st); return 1; }
      if (r >= 0) { t[c * rounds + r] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6; pf[c * rounds + r] = ru.ru_minflt + ru.ru_majflt; }
    }
  }
  double base = 0;
  printf("%-60s %8s %8s %8s %8s %8s %7s\n", "command", "median", "mean", "p10", "p90", "x first", "faults");
  for (int c = 0; c < n; c++) {
    double *x = &t[c * rounds], sum = 0; long fsum = 0;
    for (int r = 0; r < rounds; r++) { sum += x[r]; fsum += pf[c * rounds + r]; }
    qsort(x, rounds, sizeof(double), cmp);
    double med = x[rounds / 2]; if (c == 0) base = med;
    char name[256] = ""; for (char **a = cmds[c]; *a; a++) { strncat(name, *a, sizeof name - strlen(name) - 2); strcat(name, " "); }
    printf("%-60.60s %8.3f %8.3f %8.3f %8.3f %8.3f %7.1f\n", name, med, sum / rounds, x[rounds / 10], x[rounds * 9 / 10], med / base, (double)fsum / rounds);
  }
  return 0;
}
