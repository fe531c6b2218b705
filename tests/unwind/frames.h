#ifndef PPROFD_TEST_FRAMES_H
#define PPROFD_TEST_FRAMES_H
#include <stdint.h>
typedef uint64_t (*next_fn)(uint64_t);
uint64_t frame_plain(next_fn next, uint64_t x);
uint64_t frame_pressure(next_fn next, uint64_t a);
uint64_t frame_vla(next_fn next, uint64_t n);
uint64_t frame_realigned(next_fn next, uint64_t x);
#endif
