/* token.c -- hand a mapping object to a child process: make its OS handles
 * inheritable and describe them in a short string the child turns back
 * into a mapping object (mmf_map_token / mmf_map_from_token). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* "mmf1:s=<section>:f=<file>:size=<bytes>:prot=<MMF_PROT_*>", numbers in
 * decimal: s is the section HANDLE on Windows (-1 on POSIX, where the file
 * itself is mapped), f the descriptor / file HANDLE (-1 for a Windows
 * memory-backed section). */
#define TOKEN_MAGIC "mmf1:"

int mmf_map_token(mmf_map *map, char *buf, size_t n) {
  static const char api[] = "mmf_map_token";
  char tok[MMF_TOKEN_MAX];
  int len, rc;

  if (buf && n)
    buf[0] = '\0';
  if (!map || !buf)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, map ? "buf" : "map");
  len = snprintf(tok, sizeof tok, TOKEN_MAGIC "s=%lld:f=%lld:size=%llu:prot=%d",
                 (long long)map->section.handle, (long long)map->file,
                 (unsigned long long)map->size, map->prot);
  if (len < 0 || (size_t)len >= sizeof tok || (size_t)len >= n)
    return mmf__error(MMF_EINVAL,
                      "%s \"%s\": a buffer of %zu bytes is too small for the "
                      "token (give MMF_TOKEN_MAX = %d)",
                      api, map->path, n, MMF_TOKEN_MAX);
  rc = mmf__os_inherit(&map->section, map->file, 1);
  if (rc)
    return mmf__error_in(api, map->path, rc);
  memcpy(buf, tok, (size_t)len + 1);
  return 0;
}

int mmf_map_token_revoke(mmf_map *map) {
  int rc;
  if (!map)
    return mmf__error(MMF_EINVAL, "mmf_map_token_revoke: NULL map");
  rc = mmf__os_inherit(&map->section, map->file, 0);
  return rc ? mmf__error_in("mmf_map_token_revoke", map->path, rc) : 0;
}

/* Parse a decimal number at *p up to the next ':' or the end: "-1" or
 * 1..19 digits without a leading zero (but "0"), within [lo, hi]. */
static int parse_num(const char **p, long long lo, long long hi,
                     long long *out) {
  const char *s = *p;
  unsigned long long v = 0;
  int neg = 0, digits = 0;
  if (*s == '-') {
    neg = 1;
    s++;
  }
  if (*s == '0' && s[1] >= '0' && s[1] <= '9')
    return -1;
  while (*s >= '0' && *s <= '9') {
    if (++digits > 19)
      return -1;
    v = v * 10 + (unsigned)(*s++ - '0');
  }
  if (digits == 0 || (*s != ':' && *s != '\0') ||
      v > (unsigned long long)INT64_MAX)
    return -1;
  if (neg && v != 1) /* only -1 ("none") is negative */
    return -1;
  *out = neg ? -1 : (long long)v;
  if (*out < lo || *out > hi)
    return -1;
  *p = s;
  return 0;
}

/* Expect the literal `key` at *p, then a number. */
static int parse_field(const char **p, const char *key, long long lo,
                       long long hi, long long *out) {
  size_t k = strlen(key);
  if (strncmp(*p, key, k) != 0)
    return -1;
  *p += k;
  return parse_num(p, lo, hi, out);
}

static int prot_ok(long long prot) {
  long long base = prot & ~(long long)MMF_PROT_EXEC;
  return (prot & ~(long long)(MMF_PROT_EXEC | 0x3)) == 0 &&
         base >= MMF_PROT_READ && base <= MMF_PROT_WRITECOPY;
}

/* May a mapping opened `have` be reopened `want`? READ and WRITECOPY need
 * only read access; READWRITE needs READWRITE; EXEC needs EXEC. */
static int prot_within(int want, int have) {
  if ((want & MMF_PROT_EXEC) && !(have & MMF_PROT_EXEC))
    return 0;
  return (want & ~MMF_PROT_EXEC) != MMF_PROT_READWRITE ||
         (have & ~MMF_PROT_EXEC) == MMF_PROT_READWRITE;
}

int mmf_map_from_token(mmf_map **out, const char *token, int prot) {
  static const char api[] = "mmf_map_from_token";
  long long s, f, size, tprot;
  const char *p = token;
  char name[64];
  mmf_map *m;
  int rc;

  if (out)
    *out = NULL;
  if (!out || !token)
    return mmf__error(MMF_EINVAL, "%s: NULL %s", api, out ? "token" : "out");
  if (!prot_ok(prot))
    return mmf__error(MMF_EINVAL, "%s: unknown protection 0x%x", api,
                      (unsigned)prot);
  /* The token came from outside this process: parse it strictly. */
  if (strnlen(token, MMF_TOKEN_MAX) >= MMF_TOKEN_MAX ||
      strncmp(p, TOKEN_MAGIC, strlen(TOKEN_MAGIC)) != 0 ||
      (p += strlen(TOKEN_MAGIC),
       parse_field(&p, "s=", -1, INTPTR_MAX, &s) != 0) ||
      parse_field(&p, ":f=", -1, INTPTR_MAX, &f) != 0 ||
      parse_field(&p, ":size=", 1, INT64_MAX, &size) != 0 ||
      parse_field(&p, ":prot=", 0, 0xff, &tprot) != 0 || *p != '\0' ||
      !prot_ok(tprot))
    return mmf__error(MMF_EINVAL,
                      "%s: malformed token \"%.*s\" (want "
                      "mmf1:s=N:f=N:size=N:prot=N as mmf_map_token writes)",
                      api, MMF_TOKEN_MAX, token);
  if (!prot_within(prot, (int)tprot))
    return mmf__error(MMF_EPROT,
                      "%s: protection 0x%x asks for more than the token "
                      "grants (0x%x)",
                      api, (unsigned)prot, (unsigned)tprot);

  snprintf(name, sizeof name, "<token s=%lld f=%lld>", s, f);
  m = mmf__map_new(name, prot, 0);
  if (!m)
    return mmf__error(MMF_ENOMEM, "%s: out of memory", api);
  rc = mmf__os_section_inherited((intptr_t)s, (intptr_t)f, m->os_prot,
                                 (uint64_t)size, &m->file, &m->section);
  if (rc) {
    mmf__map_free(m);
    return mmf__error_in(api, name, rc);
  }
  m->size = (uint64_t)size;
  *out = m;
  return 0;
}
