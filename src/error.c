/* error.c -- fixed MMF_E* codes, their names and texts, and the per-thread
 * record of the last failure (OS code + one-line message). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local struct mmf__error_rec last;

const char *mmf_strerror(int code) {
  switch (code) {
#define MMF_XX_TEXT(name, value, text)                                         \
  case MMF_##name:                                                             \
    return text;
    MMF_ERRNO_MAP(MMF_XX_TEXT)
#undef MMF_XX_TEXT
  case 0:
    return "success";
  default:
    return "unknown error";
  }
}

const char *mmf_err_name(int code) {
  switch (code) {
#define MMF_XX_NAME(name, value, text)                                         \
  case MMF_##name:                                                             \
    return "MMF_" #name;
    MMF_ERRNO_MAP(MMF_XX_NAME)
#undef MMF_XX_NAME
  case 0:
    return "MMF_OK";
  default:
    return "MMF_UNKNOWN";
  }
}

/* Best-effort scopes (see internal.h): the record as it was when the
 * outermost scope began comes back when it ends, so what the best-effort
 * work recorded, failing or not, never shows. */
static _Thread_local unsigned best_effort_depth;
static _Thread_local struct mmf__error_rec before_best_effort;

void mmf__best_effort_begin(void) {
  if (best_effort_depth++ == 0)
    mmf__error_save(&before_best_effort);
}

void mmf__best_effort_end(void) {
  if (--best_effort_depth == 0)
    (void)mmf__error_restore(&before_best_effort);
}

int mmf__best_effort_active(void) { return best_effort_depth > 0; }

int mmf_last_error(void) { return last.code; }
int mmf_last_os_error(void) { return last.os_code; }
const char *mmf_last_error_message(void) { return last.msg; }

void mmf__error_save(struct mmf__error_rec *out) { *out = last; }

int mmf__error_restore(const struct mmf__error_rec *rec) {
  last = *rec;
  return rec->code;
}

static int record(int code, int os_code, const char *fmt, va_list ap) {
  last.code = code;
  last.os_code = os_code;
  vsnprintf(last.msg, sizeof last.msg, fmt, ap);
  return code;
}

int mmf__error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(code, 0, fmt, ap);
  va_end(ap);
  return code;
}

int mmf__error_os(int code, int os_code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(code, os_code, fmt, ap);
  va_end(ap);
  return code;
}

/* Put `tmp` in the record's message, what fits of it. */
static void set_msg(const char *tmp) {
  size_t n = strlen(tmp);
  if (n >= sizeof last.msg)
    n = sizeof last.msg - 1;
  memcpy(last.msg, tmp, n);
  last.msg[n] = '\0';
}

int mmf__error_recode(int code, const char *fmt, ...) {
  char head[MMF__ERROR_MSG_MAX], tmp[2 * MMF__ERROR_MSG_MAX + 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  snprintf(tmp, sizeof tmp, "%s: %s", head, last.msg);
  last.code = code;
  set_msg(tmp);
  return code;
}

int mmf__error_in(const char *api, const char *path, int code) {
  char tmp[2 * MMF__ERROR_MSG_MAX + 64];
  size_t alen = strlen(api);
  /* Already named by this call: nothing to add. A public call used by
   * another (mmf_view_map inside mmf_window_next) keeps its own name after
   * the outer one: "mmf_window_next: mmf_view_map "/x": mmap: ...". The
   * path goes in front whenever the message does not name it yet. */
  if (strncmp(last.msg, api, alen) == 0 &&
      (last.msg[alen] == ' ' || last.msg[alen] == ':'))
    return code;
  if (path && !strstr(last.msg, path))
    snprintf(tmp, sizeof tmp, "%s \"%s\": %s", api, path, last.msg);
  else
    snprintf(tmp, sizeof tmp, "%s: %s", api, last.msg);
  set_msg(tmp);
  return code;
}
