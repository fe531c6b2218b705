// A C++ host for test-e2e-symbols.sh: a member function in a namespace
// that allocates. The profile must carry the mangled name as system_name
// and the demangled one as name; pprofd's C code finds __cxa_demangle in
// this process's libstdc++ at run time.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace shop {
class Basket {
public:
    __attribute__((noinline)) void fill(int n);
    char *items[64];
};

void Basket::fill(int n)
{
    for (int i = 0; i < n && i < 64; i++) {
        items[i] = new char[100000]; // MARK: cpp-new
        std::memset(items[i], 4, 100000);
    }
}
} // namespace shop

static volatile std::sig_atomic_t stop;
static shop::Basket *volatile basket;

int main()
{
    std::signal(SIGTERM, [](int) { stop = 1; });
    basket = new shop::Basket;
    basket->fill(64);
    std::printf("host-sym: ready\n");
    std::fflush(stdout);
    while (!stop)
        usleep(10000);
    return 0;
}
