/*
 * gzip — see gzip.h. deflateInit2 with windowBits 15 + 16 writes the gzip
 * wrapper that pprof and curl expect (compress() would write zlib's).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/encode/gzip.h"

static int grow(pprofd__gzip *g, size_t need)
{
    if (g->cap - g->len >= need)
        return 0;
    size_t cap = g->cap ? g->cap : 16384;
    while (cap - g->len < need)
        cap *= 2;
    unsigned char *p = realloc(g->out, cap);
    if (!p) {
        g->failed = 1;
        return -1;
    }
    g->out = p;
    g->cap = cap;
    return 0;
}

static void deflate_some(pprofd__gzip *g, const void *data, size_t len, int flush)
{
    if (g->failed)
        return;
    g->z.next_in = (Bytef *)data;
    g->z.avail_in = (uInt)len;
    do {
        if (grow(g, 16384) < 0)
            return;
        g->z.next_out = g->out + g->len;
        g->z.avail_out = (uInt)(g->cap - g->len);
        int rc = deflate(&g->z, flush);
        g->len = g->cap - g->z.avail_out;
        if (rc == Z_STREAM_END)
            return;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            g->failed = 1;
            return;
        }
    } while (g->z.avail_in > 0 || g->z.avail_out == 0);
}

static void flush_stage(pprofd__gzip *g)
{
    if (g->staged > 0) {
        deflate_some(g, g->stage, g->staged, Z_NO_FLUSH);
        g->staged = 0;
    }
}

static void sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    pprofd__gzip *g = (pprofd__gzip *)buffer;
    if (len <= sizeof g->stage - g->staged) {
        memcpy(g->stage + g->staged, data, len);
        g->staged += len;
        return;
    }
    flush_stage(g);
    if (len < sizeof g->stage) {
        memcpy(g->stage, data, len);
        g->staged = len;
        return;
    }
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        deflate_some(g, data, chunk, Z_NO_FLUSH);
        data += chunk;
        len -= chunk;
    }
}

int pprofd__gzip_init(pprofd__gzip *g)
{
    /* Not the staging area: 32 KiB written for nothing on every request. */
    memset(g, 0, offsetof(pprofd__gzip, stage));
    g->sink.append = sink_append;
    /* Level 1, as Go writes its profiles (gzip.BestSpeed): profiles are
     * requested often and compress well even so. */
    if (deflateInit2(&g->z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    return 0;
}

void pprofd__gzip_write(pprofd__gzip *g, const void *data, size_t len)
{
    sink_append(&g->sink, len, data);
}

int pprofd__gzip_finish(pprofd__gzip *g)
{
    flush_stage(g);
    deflate_some(g, "", 0, Z_FINISH);
    return g->failed ? -1 : 0;
}

unsigned char *pprofd__gzip_take(pprofd__gzip *g, size_t *len)
{
    unsigned char *p = g->out;
    *len = g->len;
    g->out = NULL;
    g->len = g->cap = 0;
    return p;
}

void pprofd__gzip_free(pprofd__gzip *g)
{
    deflateEnd(&g->z);
    free(g->out);
    g->out = NULL;
}
