// A C++ program that knows nothing of pprofd: each *_site keeps 12 MiB live
// through one form of operator new (libstdc++'s operators call malloc, or
// aligned_alloc for over-aligned types), and delete_site news and deletes
// 100 MiB. Says "ready", runs until SIGTERM, then deletes everything.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <array>
#include <memory>
#include <new>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr size_t kSite = 12u << 20;
volatile std::sig_atomic_t stop;

struct Block {
    char data[4096];
};

struct alignas(256) Aligned {
    char data[4096];
};

std::vector<char *> arrays;
std::vector<Block *> blocks;
std::vector<Aligned *> aligned;
std::vector<std::vector<char>> vectors;
std::vector<std::string> strings;
std::vector<Block *> nothrow_blocks;

} // namespace

extern "C" {

__attribute__((noinline)) void new_array_site()
{
    for (size_t total = 0; total < kSite; total += 4096) {
        char *p = new char[4096];
        std::memset(p, 1, 4096);
        arrays.push_back(p);
    }
}

__attribute__((noinline)) void new_object_site()
{
    for (size_t total = 0; total < kSite; total += sizeof(Block))
        blocks.push_back(new Block());
}

__attribute__((noinline)) void aligned_new_site()
{
    for (size_t total = 0; total < kSite; total += sizeof(Aligned))
        aligned.push_back(new Aligned());
}

__attribute__((noinline)) void nothrow_new_site()
{
    for (size_t total = 0; total < kSite; total += sizeof(Block))
        nothrow_blocks.push_back(new (std::nothrow) Block());
}

__attribute__((noinline)) void vector_site()
{
    vectors.reserve(kSite / 4096);
    for (size_t total = 0; total < kSite; total += 4096)
        vectors.emplace_back(4096, 'v');
}

__attribute__((noinline)) void string_site()
{
    strings.reserve(kSite / 4096);
    for (size_t total = 0; total < kSite; total += 4096)
        strings.emplace_back(4095, 's'); // 4095 characters and a NUL
}

__attribute__((noinline)) void delete_site()
{
    // 100 MiB in 100-byte objects, each deleted again (sized delete). The
    // volatile sink stops the compiler from eliding the new/delete pair.
    static std::array<char, 100> *volatile sink;
    for (int i = 0; i < (100 << 20) / 100; i++) {
        sink = new std::array<char, 100>();
        (*sink)[0] = static_cast<char>(i);
        delete sink;
    }
}

} // extern "C"

int main()
{
    std::signal(SIGTERM, [](int) { stop = 1; });
    new_array_site();
    new_object_site();
    aligned_new_site();
    nothrow_new_site();
    vector_site();
    string_site();
    delete_site();
    std::printf("ready\n");
    std::fflush(stdout);
    while (!stop)
        usleep(10000);
    for (char *p : arrays)
        delete[] p;
    for (Block *b : blocks)
        delete b;
    for (Aligned *a : aligned)
        delete a;
    for (Block *b : nothrow_blocks)
        delete b;
    return 0;
}
