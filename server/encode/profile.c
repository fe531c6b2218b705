/*
 * profile — see profile.h. Everything is gathered into plain arrays while
 * samples are added; protobuf-c structs are only laid over them at encode
 * time, and packed straight into the gzip sink.
 */
#include <stdlib.h>
#include <string.h>

#include "profile.pb-c.h"
#include "sampler/base.h"
#include "server/encode/mappings.h"
#include "server/encode/profile.h"
#include "server/symbolize/symbols.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Label Label;

/* A growable array of fixed-size items. */
typedef struct vec {
    void *items;
    size_t len, cap, size;
} vec;

static void *vec_push(vec *v)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *items = realloc(v->items, cap * v->size);
        if (!items)
            return NULL;
        v->items = items;
        v->cap = cap;
    }
    void *slot = (char *)v->items + v->len++ * v->size;
    memset(slot, 0, v->size);
    return slot;
}

#define VEC_AT(v, type, i) (((type *)(v).items)[i])

/* Open-addressed map from a 64-bit key to a 64-bit value (value 0 = absent). */
typedef struct map {
    uint64_t *keys, *vals;
    size_t cap, len;
} map;

static int map_grow(map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    uint64_t *keys = calloc(cap, sizeof *keys), *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i])
            continue;
        size_t j = pprofd__mix64(m->keys[i]) & (cap - 1);
        while (vals[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

/* Returns the slot for key (its value 0 if absent), or NULL out of memory. */
static uint64_t *map_slot(map *m, uint64_t key)
{
    if ((m->len + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
        return NULL;
    size_t j = pprofd__mix64(key) & (m->cap - 1);
    while (m->vals[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    m->keys[j] = key;
    return &m->vals[j];
}

static void map_free(map *m)
{
    free(m->keys);
    free(m->vals);
}

typedef struct sample_rec {
    size_t first_loc, nlocs; /* into loc_ids */
    size_t first_label, nlabels;
} sample_rec;

typedef struct label_rec {
    int64_t key, str, num, unit;
} label_rec;

typedef struct loc_rec {
    uint64_t address;   /* 0 for a pseudo frame */
    int64_t pseudo;     /* string index of a pseudo frame's name */
    size_t first_line, nlines;
    uint64_t mapping_id;
} loc_rec;

typedef struct line_rec {
    uint64_t function_id;
    int64_t line;
} line_rec;

typedef struct func_rec {
    int64_t name, system_name, filename, start_line;
} func_rec;

typedef struct mapping_rec {
    uint64_t start, limit, offset;
    int64_t filename, build_id;
    int64_t path;     /* as /proc/self/maps says it, for the symbolizer */
    int has_locations;
    pprofd__object_info info;
} mapping_rec;

struct pprofd__profile {
    vec strings;   /* char * */
    map string_ids; /* string hash -> index + 1; collisions probe on (see intern) */
    vec sample_types; /* ValueType-ish: int64 pairs */
    int64_t period_type[2], period;
    int64_t default_sample_type;
    int64_t drop_frames;
    int64_t time_nanos, duration_nanos;
    vec comments;  /* int64 */
    vec samples;   /* sample_rec */
    vec loc_ids;   /* uint64: location ids, per sample */
    vec values;    /* int64: nvalues per sample */
    vec labels;    /* label_rec */
    vec locs;      /* loc_rec; id = index + 1 */
    map loc_by_addr;
    map loc_by_pseudo;
    vec lines;     /* line_rec */
    vec funcs;     /* func_rec; id = index + 1 */
    map func_by_key;
    vec mappings;  /* mapping_rec; id = index + 1 */
    int failed;
};

static int64_t intern(pprofd__profile *p, const char *s)
{
    if (!s)
        s = "";
    /* Linear probing on the hash; compare strings to resolve collisions. */
    uint64_t h = pprofd__hash_string(s);
    for (uint64_t salt = 0;; salt++) {
        uint64_t *slot = map_slot(&p->string_ids, h + salt * 0x9e3779b97f4a7c15ull);
        if (!slot) {
            p->failed = 1;
            return 0;
        }
        if (*slot) {
            if (strcmp(VEC_AT(p->strings, char *, *slot - 1), s) == 0)
                return (int64_t)(*slot - 1);
            continue;
        }
        char *copy = strdup(s);
        char **item = copy ? vec_push(&p->strings) : NULL;
        if (!item) {
            free(copy);
            p->failed = 1;
            p->string_ids.keys[slot - p->string_ids.vals] = 0;
            return 0;
        }
        *item = copy;
        *slot = p->strings.len;
        p->string_ids.len++;
        return (int64_t)(p->strings.len - 1);
    }
}

pprofd__profile *pprofd__profile_new(void)
{
    pprofd__profile *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->strings.size = sizeof(char *);
    p->sample_types.size = 2 * sizeof(int64_t);
    p->comments.size = sizeof(int64_t);
    p->samples.size = sizeof(sample_rec);
    p->loc_ids.size = sizeof(uint64_t);
    p->values.size = sizeof(int64_t);
    p->labels.size = sizeof(label_rec);
    p->locs.size = sizeof(loc_rec);
    p->lines.size = sizeof(line_rec);
    p->funcs.size = sizeof(func_rec);
    p->mappings.size = sizeof(mapping_rec);
    intern(p, ""); /* string_table[0] must be "" */
    return p;
}

void pprofd__profile_free(pprofd__profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->strings.len; i++)
        free(VEC_AT(p->strings, char *, i));
    vec *vecs[] = {&p->strings, &p->sample_types, &p->comments, &p->samples, &p->loc_ids,
                   &p->values, &p->labels, &p->locs, &p->lines, &p->funcs, &p->mappings};
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
        free(vecs[i]->items);
    map_free(&p->string_ids);
    map_free(&p->loc_by_addr);
    map_free(&p->loc_by_pseudo);
    map_free(&p->func_by_key);
    free(p);
}

void pprofd__profile_add_sample_type(pprofd__profile *p, const char *type, const char *unit)
{
    int64_t *vt = vec_push(&p->sample_types);
    if (!vt) {
        p->failed = 1;
        return;
    }
    vt[0] = intern(p, type);
    vt[1] = intern(p, unit);
}

void pprofd__profile_set_period(pprofd__profile *p, const char *type, const char *unit,
                                int64_t period)
{
    p->period_type[0] = intern(p, type);
    p->period_type[1] = intern(p, unit);
    p->period = period;
}

void pprofd__profile_set_default_sample_type(pprofd__profile *p, const char *type)
{
    p->default_sample_type = intern(p, type);
}

void pprofd__profile_set_drop_frames(pprofd__profile *p, const char *regexp)
{
    p->drop_frames = intern(p, regexp);
}

void pprofd__profile_set_time(pprofd__profile *p, int64_t time_nanos, int64_t duration_nanos)
{
    p->time_nanos = time_nanos;
    p->duration_nanos = duration_nanos;
}

void pprofd__profile_add_comment(pprofd__profile *p, const char *text)
{
    int64_t *c = vec_push(&p->comments);
    if (!c) {
        p->failed = 1;
        return;
    }
    *c = intern(p, text);
}

size_t pprofd__profile_sample_count(const pprofd__profile *p)
{
    return p->samples.len;
}

static uint64_t location_for_address(pprofd__profile *p, uint64_t address)
{
    /* Any address is a valid key, 0 included: the map tells absence by a
     * zero value, and location ids start at 1. */
    uint64_t *slot = map_slot(&p->loc_by_addr, address);
    if (!slot)
        return 0;
    if (!*slot) {
        loc_rec *l = vec_push(&p->locs);
        if (!l)
            return 0;
        l->address = address;
        l->pseudo = -1;
        *slot = p->locs.len;
        p->loc_by_addr.len++;
    }
    return *slot;
}

static uint64_t location_for_pseudo(pprofd__profile *p, const char *name)
{
    int64_t s = intern(p, name);
    uint64_t *slot = map_slot(&p->loc_by_pseudo, (uint64_t)s);
    if (!slot)
        return 0;
    if (!*slot) {
        loc_rec *l = vec_push(&p->locs);
        if (!l)
            return 0;
        l->pseudo = s;
        *slot = p->locs.len;
        p->loc_by_pseudo.len++;
    }
    return *slot;
}

int pprofd__profile_add_sample(pprofd__profile *p, const char *pseudo_leaf,
                               const uintptr_t *pcs, int depth, const int64_t *values,
                               const pprofd__label *labels, int nlabels)
{
    sample_rec *s = vec_push(&p->samples);
    if (!s)
        goto fail;
    s->first_loc = p->loc_ids.len;
    if (pseudo_leaf) {
        uint64_t *id = vec_push(&p->loc_ids);
        if (!id || !(*id = location_for_pseudo(p, pseudo_leaf)))
            goto fail;
    }
    for (int i = 0; i < depth; i++) {
        uint64_t *id = vec_push(&p->loc_ids);
        if (!id || !(*id = location_for_address(p, pcs[i])))
            goto fail;
    }
    s->nlocs = p->loc_ids.len - s->first_loc;
    for (size_t i = 0; i < p->sample_types.len; i++) {
        int64_t *v = vec_push(&p->values);
        if (!v)
            goto fail;
        *v = values[i];
    }
    s->first_label = p->labels.len;
    for (int i = 0; i < nlabels; i++) {
        label_rec *l = vec_push(&p->labels);
        if (!l)
            goto fail;
        l->key = intern(p, labels[i].key);
        if (labels[i].str)
            l->str = intern(p, labels[i].str);
        else
            l->num = labels[i].num;
        l->unit = labels[i].unit ? intern(p, labels[i].unit) : 0;
    }
    s->nlabels = (size_t)nlabels;
    return p->failed ? -1 : 0;
fail:
    p->failed = 1;
    return -1;
}

/* ---- mappings ---- */

static int add_mapping(const pprofd__mapping *c, void *arg)
{
    pprofd__profile *p = arg;
    mapping_rec *m = vec_push(&p->mappings);
    if (!m)
        return -1;
    m->start = c->start;
    m->limit = c->limit;
    m->offset = c->offset;
    m->path = intern(p, c->path); /* the symbolizer knows "PATH (deleted)" */
    m->filename = intern(p, c->filename);
    m->build_id = intern(p, c->build_id);
    return 0;
}

static void read_mappings(pprofd__profile *p)
{
    if (pprofd__mappings_foreach(add_mapping, p) < 0)
        p->failed = 1;
}

static uint64_t mapping_for(const pprofd__profile *p, uint64_t address)
{
    for (size_t i = 0; i < p->mappings.len; i++) {
        const mapping_rec *m = &VEC_AT(p->mappings, mapping_rec, i);
        if (address >= m->start && address < m->limit)
            return i + 1;
    }
    return 0;
}

/* ---- symbolization ---- */

static uint64_t function_for(pprofd__profile *p, const char *name, const char *system_name,
                             const char *file, int64_t start_line)
{
    int64_t n = intern(p, name), s = intern(p, system_name), f = intern(p, file);
    uint64_t key = pprofd__mix64((uint64_t)n * 0x100000001b3ull ^ (uint64_t)s * 31 ^ (uint64_t)f);
    for (uint64_t salt = 0;; salt++) {
        uint64_t *slot = map_slot(&p->func_by_key, key + salt);
        if (!slot)
            return 0;
        if (*slot) {
            func_rec *fr = &VEC_AT(p->funcs, func_rec, *slot - 1);
            if (fr->name == n && fr->system_name == s && fr->filename == f)
                return *slot;
            continue;
        }
        func_rec *fr = vec_push(&p->funcs);
        if (!fr)
            return 0;
        fr->name = n;
        fr->system_name = s;
        fr->filename = f;
        fr->start_line = start_line;
        *slot = p->funcs.len;
        p->func_by_key.len++;
        return *slot;
    }
}

typedef struct symbolize_ctx {
    pprofd__profile *p;
    loc_rec *loc;
} symbolize_ctx;

static void add_lines(uintptr_t pc, const pprofd__frame *frames, int n, void *arg)
{
    (void)pc;
    symbolize_ctx *c = arg;
    c->loc->first_line = c->p->lines.len;
    for (int i = 0; i < n; i++) {
        uint64_t fid = function_for(c->p, frames[i].name, frames[i].system_name, frames[i].file,
                                    frames[i].start_line);
        line_rec *l = fid ? vec_push(&c->p->lines) : NULL;
        if (!l) {
            c->p->failed = 1;
            return;
        }
        l->function_id = fid;
        l->line = frames[i].line;
    }
    c->loc->nlines = c->p->lines.len - c->loc->first_line;
}

static void symbolize_locations(pprofd__profile *p)
{
    for (size_t i = 0; i < p->locs.len && !p->failed; i++) {
        loc_rec *l = &VEC_AT(p->locs, loc_rec, i);
        if (l->pseudo >= 0) {
            const char *name = VEC_AT(p->strings, char *, l->pseudo);
            uint64_t fid = function_for(p, name, name, "", 0);
            line_rec *ln = fid ? vec_push(&p->lines) : NULL;
            if (!ln) {
                p->failed = 1;
                return;
            }
            ln->function_id = fid;
            l->first_line = p->lines.len - 1;
            l->nlines = 1;
            continue;
        }
        l->mapping_id = mapping_for(p, l->address);
        if (l->mapping_id)
            VEC_AT(p->mappings, mapping_rec, l->mapping_id - 1).has_locations = 1;
        symbolize_ctx c = {p, l};
        pprofd__symbolize((uintptr_t)l->address, add_lines, &c);
    }
}

/* ---- packing ---- */

int pprofd__profile_encode(pprofd__profile *p, pprofd__gzip *g)
{
    read_mappings(p);
    symbolize_locations(p);
    /* Flags only where a location falls: they cost opening the object's
     * DWARF (libm's, say, inflated from a debug file) and say nothing
     * about a mapping that no sample touches. */
    for (size_t i = 0; i < p->mappings.len && !p->failed; i++) {
        mapping_rec *m = &VEC_AT(p->mappings, mapping_rec, i);
        if (m->has_locations)
            pprofd__symbols_object_info(VEC_AT(p->strings, char *, m->path), &m->info);
    }
    if (p->failed)
        return -1;

    Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    ValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    int rc = -1;

    size_t nst = p->sample_types.len, ns = p->samples.len, nl = p->locs.len,
           nf = p->funcs.len, nm = p->mappings.len;
    ValueType *st = calloc(nst ? nst : 1, sizeof *st);
    ValueType **stp = calloc(nst ? nst : 1, sizeof *stp);
    Sample *samples = calloc(ns ? ns : 1, sizeof *samples);
    Sample **samplesp = calloc(ns ? ns : 1, sizeof *samplesp);
    Label *labels = calloc(p->labels.len ? p->labels.len : 1, sizeof *labels);
    Label **labelsp = calloc(p->labels.len ? p->labels.len : 1, sizeof *labelsp);
    Location *locs = calloc(nl ? nl : 1, sizeof *locs);
    Location **locsp = calloc(nl ? nl : 1, sizeof *locsp);
    Line *lines = calloc(p->lines.len ? p->lines.len : 1, sizeof *lines);
    Line **linesp = calloc(p->lines.len ? p->lines.len : 1, sizeof *linesp);
    Function *funcs = calloc(nf ? nf : 1, sizeof *funcs);
    Function **funcsp = calloc(nf ? nf : 1, sizeof *funcsp);
    Mapping *maps = calloc(nm ? nm : 1, sizeof *maps);
    Mapping **mapsp = calloc(nm ? nm : 1, sizeof *mapsp);
    if (!st || !stp || !samples || !samplesp || !labels || !labelsp || !locs || !locsp ||
        !lines || !linesp || !funcs || !funcsp || !maps || !mapsp)
        goto out;

    for (size_t i = 0; i < nst; i++) {
        perftools__profiles__value_type__init(&st[i]);
        st[i].type = ((int64_t *)p->sample_types.items)[2 * i];
        st[i].unit = ((int64_t *)p->sample_types.items)[2 * i + 1];
        stp[i] = &st[i];
    }
    for (size_t i = 0; i < p->labels.len; i++) {
        label_rec *r = &VEC_AT(p->labels, label_rec, i);
        perftools__profiles__label__init(&labels[i]);
        labels[i].key = r->key;
        labels[i].str = r->str;
        labels[i].num = r->num;
        labels[i].num_unit = r->unit;
        labelsp[i] = &labels[i];
    }
    for (size_t i = 0; i < ns; i++) {
        sample_rec *r = &VEC_AT(p->samples, sample_rec, i);
        perftools__profiles__sample__init(&samples[i]);
        samples[i].n_location_id = r->nlocs;
        samples[i].location_id = &VEC_AT(p->loc_ids, uint64_t, r->first_loc);
        samples[i].n_value = nst;
        samples[i].value = &VEC_AT(p->values, int64_t, i * nst);
        samples[i].n_label = r->nlabels;
        samples[i].label = r->nlabels ? &labelsp[r->first_label] : NULL;
        samplesp[i] = &samples[i];
    }
    for (size_t i = 0; i < p->lines.len; i++) {
        line_rec *r = &VEC_AT(p->lines, line_rec, i);
        perftools__profiles__line__init(&lines[i]);
        lines[i].function_id = r->function_id;
        lines[i].line = r->line;
        linesp[i] = &lines[i];
    }
    for (size_t i = 0; i < nl; i++) {
        loc_rec *r = &VEC_AT(p->locs, loc_rec, i);
        perftools__profiles__location__init(&locs[i]);
        locs[i].id = i + 1;
        locs[i].mapping_id = r->mapping_id;
        locs[i].address = r->address;
        locs[i].n_line = r->nlines;
        locs[i].line = r->nlines ? &linesp[r->first_line] : NULL;
        locsp[i] = &locs[i];
    }
    for (size_t i = 0; i < nf; i++) {
        func_rec *r = &VEC_AT(p->funcs, func_rec, i);
        perftools__profiles__function__init(&funcs[i]);
        funcs[i].id = i + 1;
        funcs[i].name = r->name;
        funcs[i].system_name = r->system_name;
        funcs[i].filename = r->filename;
        funcs[i].start_line = r->start_line;
        funcsp[i] = &funcs[i];
    }
    for (size_t i = 0; i < nm; i++) {
        mapping_rec *r = &VEC_AT(p->mappings, mapping_rec, i);
        perftools__profiles__mapping__init(&maps[i]);
        maps[i].id = i + 1;
        maps[i].memory_start = r->start;
        maps[i].memory_limit = r->limit;
        maps[i].file_offset = r->offset;
        maps[i].filename = r->filename;
        maps[i].build_id = r->build_id;
        maps[i].has_functions = r->info.has_functions;
        maps[i].has_filenames = r->info.has_filenames;
        maps[i].has_line_numbers = r->info.has_line_numbers;
        maps[i].has_inline_frames = r->info.has_inline_frames;
        mapsp[i] = &maps[i];
    }

    prof.n_sample_type = nst;
    prof.sample_type = stp;
    prof.n_sample = ns;
    prof.sample = samplesp;
    prof.n_location = nl;
    prof.location = locsp;
    prof.n_function = nf;
    prof.function = funcsp;
    prof.n_mapping = nm;
    prof.mapping = mapsp;
    prof.n_string_table = p->strings.len;
    prof.string_table = (char **)p->strings.items;
    prof.time_nanos = p->time_nanos;
    prof.duration_nanos = p->duration_nanos;
    period_type.type = p->period_type[0];
    period_type.unit = p->period_type[1];
    prof.period_type = &period_type;
    prof.period = p->period;
    prof.n_comment = p->comments.len;
    prof.comment = (int64_t *)p->comments.items;
    prof.default_sample_type = p->default_sample_type;
    prof.drop_frames = p->drop_frames;

    perftools__profiles__profile__pack_to_buffer(&prof, &g->sink);
    rc = pprofd__gzip_finish(g);
out:
    free(st);
    free(stp);
    free(samples);
    free(samplesp);
    free(labels);
    free(labelsp);
    free(locs);
    free(locsp);
    free(lines);
    free(linesp);
    free(funcs);
    free(funcsp);
    free(maps);
    free(mapsp);
    return rc;
}

unsigned char *pprofd__profile_encode_gzip(pprofd__profile *p, size_t *len)
{
    pprofd__gzip g;
    unsigned char *data = NULL;
    *len = 0;
    if (pprofd__gzip_init(&g) == 0) {
        if (pprofd__profile_encode(p, &g) == 0)
            data = pprofd__gzip_take(&g, len);
        pprofd__gzip_free(&g);
    }
    pprofd__profile_free(p);
    return data;
}
