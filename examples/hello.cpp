// hello.cpp — a C++ program that serves its own profiles through pprofd's
// C API, wrapped in a small RAII class.
//
//   ./hello-cpp [host:port]    (default $PPROFD_ADDR, else 127.0.0.1:1234)
//   go tool pprof -top http://127.0.0.1:1234/debug/pprof/allocs
//
// It builds word indexes (std::string, std::vector, std::map: operator new,
// which pprofd samples through malloc) until Ctrl-C or SIGTERM, then stops
// the server and exits 0.
#include <pprofd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_signal(int) { stop_requested = 1; }

// Owns a running pprofd server: started by the constructor, stopped (its
// threads joined) by the destructor.
class ProfilingServer {
public:
    explicit ProfilingServer(const char *addr)
    {
        pprofd_options options{};  // zero fields are defaults
        options.addr = addr;       // NULL: $PPROFD_ADDR, else 127.0.0.1:1234
        server_ = pprofd_start(&options);
        if (!server_)
            throw std::runtime_error("pprofd could not start (see the line above)");
    }
    ~ProfilingServer() { pprofd_stop(server_); }
    ProfilingServer(const ProfilingServer &) = delete;
    ProfilingServer &operator=(const ProfilingServer &) = delete;

    int port() const { return pprofd_port(server_); }

private:
    pprofd_server *server_;
};

__attribute__((noinline)) std::size_t build_word_index(int words)
{
    std::map<std::string, std::vector<int>> index;
    for (int i = 0; i < words; i++)
        index["word-" + std::to_string(i % 97)].push_back(i);
    return index.size();
}

}  // namespace

int main(int argc, char **argv)
{
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
        ProfilingServer server(argc > 1 ? argv[1] : nullptr);
        if (std::strcmp(pprofd_version(), PPROFD_VERSION) != 0)
            std::cerr << "hello-cpp: built with pprofd " << PPROFD_VERSION << ", running with "
                      << pprofd_version() << "\n";
        std::cout << "hello-cpp: pprofd " << pprofd_version() << " serving http://127.0.0.1:"
                  << server.port() << "/debug/pprof/" << std::endl;

        std::size_t entries = 0;
        while (!stop_requested) {
            entries += build_word_index(2000);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::cout << "hello-cpp: indexed " << entries << " entries; bye" << std::endl;
    } catch (const std::exception &e) {
        std::cerr << "hello-cpp: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
