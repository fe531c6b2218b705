/*
 * gzip — a streaming deflate sink. Bytes written are compressed at once;
 * only the compressed output is kept, so a profile is never held in memory
 * uncompressed. Runs on server threads only.
 */
#ifndef PPROFD_GZIP_H
#define PPROFD_GZIP_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef struct pprofd__gzip {
    ProtobufCBuffer sink; /* first: protobuf-c appends here */
    z_stream z;
    unsigned char *out;   /* compressed bytes so far */
    size_t len, cap;
    int failed;           /* a zlib or allocation error happened */
    /* protobuf-c appends a few bytes at a time (a tag, a varint): calling
     * deflate for each costs more than compressing. Small appends gather
     * here first. */
    size_t staged;
    unsigned char stage[32768];
} pprofd__gzip;

int pprofd__gzip_init(pprofd__gzip *g);
void pprofd__gzip_write(pprofd__gzip *g, const void *data, size_t len);
/* Flush the gzip trailer. Returns 0, or -1 if anything failed on the way. */
int pprofd__gzip_finish(pprofd__gzip *g);
/* Hand the compressed bytes over (caller frees with free()). */
unsigned char *pprofd__gzip_take(pprofd__gzip *g, size_t *len);
void pprofd__gzip_free(pprofd__gzip *g);

#endif
