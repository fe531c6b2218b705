/*
 * strbuf — a growable string for building text answers (index page,
 * debug=1/2 profiles, /symbol). Server threads only. An allocation failure
 * sets `failed` and makes every later call a no-op, so callers check once
 * at the end. `data` is always NUL-terminated once anything was added.
 */
#ifndef PPROFD_STRBUF_H
#define PPROFD_STRBUF_H

#include <stddef.h>

typedef struct pprofd__strbuf {
    char *data;
    size_t len, cap;
    int failed;
} pprofd__strbuf;

void pprofd__strbuf_printf(pprofd__strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pprofd__strbuf_append(pprofd__strbuf *b, const char *s, size_t n);

#endif
