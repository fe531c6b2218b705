/* Assertions for tests: never compiled out, say where and what. */
#ifndef PPROFD_TEST_CHECK_H
#define PPROFD_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* ctest counts exit code 77 as skipped (SKIP_RETURN_CODE). */
#define SKIP(why)                                                                     \
    do {                                                                              \
        printf("skipped: %s\n", why);                                                 \
        exit(77);                                                                     \
    } while (0)

#endif
