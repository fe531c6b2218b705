/* The profile builder: encode, gunzip, unpack with protobuf-c, and check
 * every table pprof relies on. (go tool pprof checks the same files in the
 * end-to-end tests; this one pins the details.) */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "profile.pb-c.h"
#include "server/encode/profile.h"
#include "tests/check.h"

__attribute__((noinline)) static void leaf_function(void) { __asm__ volatile(""); }
__attribute__((noinline)) static void caller_function(void) { leaf_function(); }

static unsigned char *gunzip(const unsigned char *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    CHECK(inflateInit2(&z, 15 + 16) == Z_OK); /* gzip wrapper only */
    size_t cap = 1 << 20;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = cap - z.avail_out;
    inflateEnd(&z);
    return out;
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
    CHECK(i >= 0 && (size_t)i < p->n_string_table);
    return p->string_table[i];
}

int main(void)
{
    pprofd__profile *b = pprofd__profile_new();
    CHECK(b);
    pprofd__profile_add_sample_type(b, "samples", "count");
    pprofd__profile_add_sample_type(b, "cpu", "nanoseconds");
    pprofd__profile_set_period(b, "cpu", "nanoseconds", 10000000);
    pprofd__profile_set_default_sample_type(b, "cpu");
    pprofd__profile_set_time(b, 1234, 5678);

    /* Exact entry addresses: the leaf may be a lone `ret`. */
    uintptr_t stack[2] = {(uintptr_t)leaf_function, (uintptr_t)caller_function};
    int64_t v1[2] = {3, 30000000}, v2[2] = {1, 10000000};
    pprofd__label label = {.key = "bytes", .num = 64, .unit = "bytes"};
    CHECK(pprofd__profile_add_sample(b, NULL, stack, 2, v1, &label, 1) == 0);
    CHECK(pprofd__profile_add_sample(b, NULL, stack + 1, 1, v2, NULL, 0) == 0);
    CHECK(pprofd__profile_add_sample(b, "[lost]", NULL, 0, v2, NULL, 0) == 0);
    CHECK(pprofd__profile_sample_count(b) == 3);

    pprofd__gzip g;
    CHECK(pprofd__gzip_init(&g) == 0);
    CHECK(pprofd__profile_encode(b, &g) == 0);
    size_t zlen;
    unsigned char *z = pprofd__gzip_take(&g, &zlen);
    pprofd__gzip_free(&g);
    pprofd__profile_free(b);
    CHECK(zlen > 18 && z[0] == 0x1f && z[1] == 0x8b); /* gzip magic */

    size_t len;
    unsigned char *raw = gunzip(z, zlen, &len);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, len, raw);
    CHECK(p);

    CHECK(p->n_string_table > 0 && strcmp(p->string_table[0], "") == 0);
    CHECK(p->n_sample_type == 2);
    CHECK(strcmp(str(p, p->sample_type[0]->type), "samples") == 0);
    CHECK(strcmp(str(p, p->sample_type[1]->unit), "nanoseconds") == 0);
    CHECK(strcmp(str(p, p->period_type->type), "cpu") == 0);
    CHECK(p->period == 10000000);
    CHECK(strcmp(str(p, p->default_sample_type), "cpu") == 0);
    CHECK(p->time_nanos == 1234 && p->duration_nanos == 5678);

    CHECK(p->n_sample == 3);
    CHECK(p->sample[0]->n_location_id == 2 && p->sample[0]->n_value == 2);
    CHECK(p->sample[0]->value[0] == 3 && p->sample[0]->value[1] == 30000000);
    CHECK(p->sample[0]->n_label == 1);
    CHECK(strcmp(str(p, p->sample[0]->label[0]->key), "bytes") == 0);
    CHECK(p->sample[0]->label[0]->num == 64);
    /* The shared caller frame is one location, not two. */
    CHECK(p->sample[1]->location_id[0] == p->sample[0]->location_id[1]);
    CHECK(p->n_location == 3);

    /* Every location id, function id and mapping id resolves. */
    for (size_t i = 0; i < p->n_location; i++) {
        Perftools__Profiles__Location *l = p->location[i];
        CHECK(l->id == i + 1);
        CHECK(l->mapping_id <= p->n_mapping);
        for (size_t k = 0; k < l->n_line; k++)
            CHECK(l->line[k]->function_id >= 1 && l->line[k]->function_id <= p->n_function);
    }

    /* Names: the test's own static functions, and the pseudo frame. */
    int saw_leaf = 0, saw_caller = 0, saw_lost = 0;
    for (size_t i = 0; i < p->n_function; i++) {
        const char *name = str(p, p->function[i]->name);
        saw_leaf |= strcmp(name, "leaf_function") == 0;
        saw_caller |= strcmp(name, "caller_function") == 0;
        saw_lost |= strcmp(name, "[lost]") == 0;
    }
    CHECK_MSG(saw_leaf && saw_caller && saw_lost, "leaf %d caller %d lost %d", saw_leaf,
              saw_caller, saw_lost);

    /* Mappings: the main executable first, with a build ID. */
    CHECK(p->n_mapping >= 2);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = 0;
    CHECK_MSG(strcmp(str(p, p->mapping[0]->filename), exe) == 0, "first mapping %s",
              str(p, p->mapping[0]->filename));
    CHECK(strlen(str(p, p->mapping[0]->build_id)) == 40);
    uintptr_t leaf = (uintptr_t)leaf_function;
    CHECK(p->mapping[0]->memory_start <= leaf && leaf < p->mapping[0]->memory_limit);

    perftools__profiles__profile__free_unpacked(p, NULL);
    free(raw);
    free(z);
    printf("test-profile: ok\n");
    return 0;
}
