/*
 * symbol — /debug/pprof/symbol, pprof's remote symbolization
 * protocol, as Go's net/http/pprof answers it:
 *
 *   GET  -> "num_symbols: N\n"; pprof only asks whether N > 0. Addresses in
 *           the query (?0x4005d0+0x4006a1) are answered as for POST.
 *   POST -> the body is addresses joined by '+' ("0x4005d0+0x4006a1"), as
 *           pprof's symbolz client sends them; the answer repeats the
 *           num_symbols line, then one "0xADDR name\n" line per address the
 *           symbolizer can name, in request order.
 *
 * The name is the innermost function at the address (an inlined callee if
 * the address is in one), in its symbol-table form: mangled for C++, so that
 * pprof demangles it the way its -symbolize=demangle option asks, as it does
 * for Go's answers.
 *
 * Stricter than Go, which skips what it cannot parse: a word that is not an
 * unsigned number (0x-prefixed hex or decimal) gets a 400 naming it, so a
 * broken client learns why it got nothing. Whitespace around words and
 * empty words are tolerated. The body size limit (413) is server/http/request.c's.
 * Server threads only; O(words) symbolizer lookups, each a hash probe once
 * the address has been seen.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/endpoints/endpoints.h"
#include "server/text/strbuf.h"
#include "server/symbolize/symbols.h"

/* Parse one word: 0x-prefixed hex or decimal, the whole word, no sign, no
 * overflow. Returns 0 on success. */
static int parse_address(const char *word, size_t len, uint64_t *out)
{
    int base = 10;
    if (len > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
        base = 16;
        word += 2;
        len -= 2;
    }
    if (len == 0 || len > 20)
        return -1;
    char tmp[24];
    memcpy(tmp, word, len);
    tmp[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (base == 16 ? !isxdigit((unsigned char)tmp[i]) : !isdigit((unsigned char)tmp[i]))
            return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(tmp, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static void append_name(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    if (n == 0)
        return;
    char addr[32];
    int len = snprintf(addr, sizeof addr, "%#" PRIxPTR " ", pc);
    pprofd__strbuf *b = arg;
    pprofd__strbuf_append(b, addr, (size_t)len);
    pprofd__strbuf_append(b, frames[0].system_name, strlen(frames[0].system_name));
    pprofd__strbuf_append(b, "\n", 1);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Answer each '+'-separated address in [p, end) into b. Returns 0, or -1
 * with the 400 already queued in *result. */
static int symbolize_words(pprofd__request *req, const char *p, const char *end, pprofd__strbuf *b,
                           enum MHD_Result *result)
{
    while (p < end) {
        const char *plus = memchr(p, '+', (size_t)(end - p));
        const char *word_end = plus ? plus : end;
        const char *w = p;
        while (w < word_end && is_space(*w))
            w++;
        const char *we = word_end;
        while (we > w && is_space(we[-1]))
            we--;
        if (we > w) {
            uint64_t pc;
            if (parse_address(w, (size_t)(we - w), &pc) < 0) {
                *result = pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST,
                                                "bad address \"%.*s\": want 0x-prefixed hex or "
                                                "decimal, joined by '+'",
                                                (int)(we - w > 40 ? 40 : we - w), w);
                return -1;
            }
            if (pc != 0)
                pprofd__symbolize((uintptr_t)pc, append_name, b);
        }
        p = plus ? plus + 1 : end;
    }
    return 0;
}

/* GET /symbol?0x1+0x2, as Go also accepts: libmicrohttpd hands the query
 * over as a key with no value, '+' already turned into ' '; keys with a
 * value (?debug=1) are not addresses and are left alone. */
static enum MHD_Result collect_query_words(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    pprofd__strbuf *words = cls;
    if (key && (!value || !*value)) {
        pprofd__strbuf_append(words, key, strlen(key));
        pprofd__strbuf_append(words, "+", 1);
    }
    return MHD_YES;
}

enum MHD_Result pprofd__handle_symbol(pprofd__request *req)
{
    pprofd__strbuf b = {0}, query = {0};
    enum MHD_Result r;
    char line[64];
    int n = snprintf(line, sizeof line, "num_symbols: %zu\n", pprofd__symbols_count());
    pprofd__strbuf_append(&b, line, (size_t)n);

    if (strcmp(req->method, "POST") == 0 && req->body) {
        if (memchr(req->body, 0, req->body_len)) {
            r = pprofd__respond_error(req, MHD_HTTP_BAD_REQUEST, "NUL byte in request body");
            goto out;
        }
        if (symbolize_words(req, req->body, req->body + req->body_len, &b, &r) < 0)
            goto out;
    } else if (strcmp(req->method, "POST") != 0) {
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_query_words, &query);
        for (size_t i = 0; i < query.len; i++)
            if (query.data[i] == ' ')
                query.data[i] = '+';
        if (query.failed) {
            r = pprofd__respond_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            goto out;
        }
        if (query.len && symbolize_words(req, query.data, query.data + query.len, &b, &r) < 0)
            goto out;
    }
    r = pprofd__respond_strbuf(req, "text/plain; charset=utf-8", &b);
out:
    free(b.data);
    free(query.data);
    return r;
}
