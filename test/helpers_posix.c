/* test/helpers_posix.c -- the OS-specific test helpers on POSIX systems:
 * procfs for resource counts, fork+exec / posix_spawn for children, wait4
 * for their peak resident set, a pseudo-terminal for progress checks. */
#define _GNU_SOURCE
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char tmpdir[512];

static void cleanup(void) {
  char cmd[600];
  if (tmpdir[0]) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
      /* nothing more to do */
    }
  }
}

const char *th_tmpdir(void) {
  if (!tmpdir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mmf-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      abort();
    }
    atexit(cleanup);
  }
  return tmpdir;
}

FILE *th_fopen(const char *path, const char *mode) { return fopen(path, mode); }

int th_remove(const char *path) { return remove(path); }

int th_mkdir(const char *path) { return mkdir(path, 0755); }

int th_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int64_t th_file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  return (int64_t)st.st_size;
}

int th_is_wine(void) { return 0; }

int th_is_windows(void) { return 0; }

/* Entries of a procfs directory (not "." and ".."), or -1. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

int th_open_file_count(void) {
  int n = count_entries("/proc/self/fd");
  return n < 0 ? n : n - 1; /* the directory stream's own descriptor */
}

int th_thread_count(void) { return count_entries("/proc/self/task"); }

int th_tmp_mapping_count(void) {
  return th_mapping_count_matching(th_tmpdir());
}

intptr_t th_spawn_self(const char *const *args) {
  char exe[4096];
  const char *argv[32];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  size_t i = 0;
  pid_t pid;
  if (len <= 0)
    return -1;
  exe[len] = '\0';
  argv[i++] = exe;
  while (args[i - 1] && i < 31) {
    argv[i] = args[i - 1];
    i++;
  }
  argv[i] = NULL;
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  return (intptr_t)pid;
}

/* waitpid/wait4 through EINTR: exit status 0..255 or -1; peak RSS. */
static int wait_for(pid_t pid, long *maxrss_kib) {
  struct rusage ru;
  int status;
  pid_t r;
  memset(&ru, 0, sizeof ru);
  do
    r = wait4(pid, &status, 0, &ru);
  while (r < 0 && errno == EINTR);
  if (maxrss_kib)
    *maxrss_kib = r < 0 ? 0 : ru.ru_maxrss;
  if (r < 0 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

int th_wait_child(intptr_t proc) { return wait_for((pid_t)proc, NULL); }

int th_kill_child(intptr_t proc) {
  if (kill((pid_t)proc, SIGKILL) != 0)
    return -1;
  return wait_for((pid_t)proc, NULL) == -1 ? 0 : -1;
}

void th_yield(void) { sched_yield(); }

void th_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

intptr_t th_native_open(const char *path, int writable) {
  return open(path, writable == TH_WRITE_ONLY ? O_WRONLY
                    : writable                ? O_RDWR
                                              : O_RDONLY);
}

int th_native_is_open(intptr_t f) { return fcntl((int)f, F_GETFD) >= 0; }

int th_native_close(intptr_t f) { return close((int)f) == 0 ? 0 : -1; }

/* posix_spawn argv[0] with stdout/stderr to the files out_path/err_path
 * (created or truncated) and, when null_stdin, stdin from /dev/null.
 * posix_spawn's result (0 on success). */
static int spawn_redirected(const char *const *argv, int null_stdin,
                            const char *out_path, const char *err_path,
                            char **env, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  int rc;
  posix_spawn_file_actions_init(&fa);
  if (null_stdin)
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  fflush(NULL);
  rc = posix_spawn(pid, argv[0], &fa, NULL, (char *const *)argv, env);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/* environ with `name` set to `value` (removed when value is NULL). */
static char **env_with(const char *name, const char *value, char **setting) {
  size_t n = 0, k = 0, len = name ? strlen(name) : 0;
  char **env;
  while (environ[n])
    n++;
  env = calloc(n + 2, sizeof *env);
  if (!env)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!name || strncmp(environ[i], name, len) != 0 || environ[i][len] != '=')
      env[k++] = environ[i];
  *setting = NULL;
  if (name && value) {
    *setting = malloc(len + strlen(value) + 2);
    if (!*setting) {
      free(env);
      return NULL;
    }
    sprintf(*setting, "%s=%s", name, value);
    env[k++] = *setting;
  }
  env[k] = NULL;
  return env;
}

int th_run(const char *const *argv, const char *out_path,
           const char *err_path, const char *env_name, const char *env_value,
           th_run_result *res) {
  char *setting, **env = env_with(env_name, env_value, &setting);
  pid_t pid;
  int rc;
  if (!env)
    return -1;
  rc = spawn_redirected(argv, 0, out_path, err_path, env, &pid);
  free(env);
  free(setting);
  if (rc != 0)
    return -1;
  res->status = wait_for(pid, &res->peak_rss_kib);
  return 0;
}

int th_run_on_terminal(const char *const *argv, const char *out_path,
                       const char *env_name, const char *env_value,
                       char **tty, th_run_result *res) {
  char *got, buf[4096], *setting, **env;
  size_t n = 0;
  int master, slave;
  pid_t pid;

  *tty = NULL;
  master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    fprintf(stderr, "no pseudo-terminal: %s\n", strerror(errno));
    if (master >= 0)
      close(master);
    return TH_NO_TERMINAL;
  }
  slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  env = env_with(env_name, env_value, &setting);
  got = calloc(1, 1);
  if (slave < 0 || !env || !got) {
    close(master);
    if (slave >= 0)
      close(slave);
    free(env);
    free(got);
    return -1;
  }
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || dup2(o, 1) < 0 || dup2(slave, 2) < 0)
      _exit(126);
    execve(argv[0], (char *const *)argv, env);
    _exit(127);
  }
  close(slave); /* only the child holds it now */
  free(env);
  free(setting);
  if (pid < 0) {
    close(master);
    free(got);
    return -1;
  }
  /* Drain the terminal while the child runs (so it never blocks on a full
   * buffer) until it is gone: then the master reads EIO. */
  for (;;) {
    ssize_t k = read(master, buf, sizeof buf);
    char *more;
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    more = realloc(got, n + (size_t)k + 1);
    if (!more)
      break;
    got = more;
    memcpy(got + n, buf, (size_t)k);
    n += (size_t)k;
    got[n] = '\0';
  }
  close(master);
  res->status = wait_for(pid, &res->peak_rss_kib);
  *tty = got;
  return 0;
}

/* The /proc/self/pagemap entry of the page at `addr`; 0 when unreadable. */
static int pagemap_entry(const void *addr, uint64_t *entry) {
  long page = sysconf(_SC_PAGESIZE);
  int fd = open("/proc/self/pagemap", O_RDONLY);
  off_t at = (off_t)((uintptr_t)addr / (uintptr_t)page * sizeof *entry);
  ssize_t got;
  *entry = 0;
  if (fd < 0)
    return 0;
  got = pread(fd, entry, sizeof *entry, at);
  close(fd);
  return got == (ssize_t)sizeof *entry;
}

int th_copy_page_is_private(const void *addr) {
  uint64_t entry;
  if (!pagemap_entry(addr, &entry) || !(entry >> 63 & 1))
    return -1; /* not present: neither read nor written */
  return (entry >> 61 & 1) ? 0 : 1; /* bit 61: file page or shared anon */
}

int th_page_is_mapped(const void *addr) {
  uint64_t entry;
  if (!pagemap_entry(addr, &entry))
    return -1;
  return (int)(entry >> 63 & 1); /* bit 63: present */
}

int th_win32_copy_page_shows_readwrite(const void *addr) {
  (void)addr;
  return -1;
}

/* @@SHM */
#include <grp.h>

unsigned long th_pid(void) { return (unsigned long)getpid(); }

const char *th_shm_object_path(const char *name) {
  static char buf[512];
  snprintf(buf, sizeof buf, "/dev/shm/mmf.%s", name);
  return buf;
}

int th_shm_leftovers(const char *name) {
  char prefix[300];
  DIR *d = opendir("/dev/shm");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  snprintf(prefix, sizeof prefix, "mmf.%s", name);
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
      n++;
  closedir(d);
  return n;
}

int th_shm_mapping_count(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  int n = 0;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "/dev/shm/mmf.") || strstr(line, "memfd:mmf."))
      n++;
  fclose(f);
  return n;
}

int th_drop_to_nobody(void) {
  if (geteuid() != 0)
    return TH_NOT_APPLICABLE;
  if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
    return -1;
  return geteuid() == 65534 ? 0 : -1;
}

int64_t th_native_seek(intptr_t h, int64_t off) {
  return (int64_t)lseek((int)h, off >= 0 ? (off_t)off : 0,
                        off >= 0 ? SEEK_SET : SEEK_CUR);
}

const char *th_user_tag(void) {
  static char tag[32];
  snprintf(tag, sizeof tag, "u%lu.", (unsigned long)geteuid());
  return tag;
}

int th_symlink(const char *target, const char *link) {
  return symlink(target, link) == 0 ? 0 : -1;
}

intptr_t th_start(const char *const *argv, const char *out_path,
                  const char *err_path) {
  pid_t pid;
  int rc = spawn_redirected(argv, 1, out_path, err_path, environ, &pid);
  return rc == 0 ? (intptr_t)pid : -1;
}
/* @@END SHM */

/* @@POINTERS */
int th_native_inheritable(intptr_t h) {
  int fl = fcntl((int)h, F_GETFD);
  if (fl < 0)
    return -1;
  return (fl & FD_CLOEXEC) ? 0 : 1;
}
/* @@END POINTERS */

/* @@LOCK-CHANNEL */
/* @@END LOCK-CHANNEL */

/* @@SECTION */
/* th_start(): see @@SHM above. */
int th_mapping_count_matching(const char *needle) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  int n = 0;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}
/* @@END SECTION */

/* @@BUFFER */
int th_thp_eligible(const void *addr) {
  char line[512];
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  int in_vma = 0, found = -1;
  if (!f)
    return TH_NOT_APPLICABLE;
  if (!fgets(line, sizeof line, f) || strstr(line, "[never]")) {
    fclose(f);
    return TH_NOT_APPLICABLE;
  }
  fclose(f);
  f = fopen("/proc/self/smaps", "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    int v;
    /* A mapping's first line: "lo-hi perms ..."; its fields follow. */
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
      in_vma = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
    } else if (in_vma && sscanf(line, "THPeligible: %d", &v) == 1) {
      found = v != 0;
      break;
    }
  }
  fclose(f);
  return found;
}
/* @@END BUFFER */
