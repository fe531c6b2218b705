/* A plugin-loading host: it loads a library with dlopen, has it allocate,
 * and unloads it, over and over (every 20 ms), as hosts of plugins and
 * interpreters of extension modules do. For test-e2e-plugin-leak: serving
 * heap profiles between loads must not grow its memory or descriptors.
 * Prints "ready" (or "skip" without libexpat); runs until SIGTERM. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    signal(SIGTERM, on_term);
    void *probe = dlopen("libexpat.so.1", RTLD_NOW);
    if (!probe) {
        printf("skip\n");
        return 0;
    }
    dlclose(probe);
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        void *lib = dlopen("libexpat.so.1", RTLD_NOW);
        if (lib) {
            void *(*create)(const char *) = (void *(*)(const char *))dlsym(lib, "XML_ParserCreate");
            void (*destroy)(void *) = (void (*)(void *))dlsym(lib, "XML_ParserFree");
            if (create && destroy)
                destroy(create(NULL));
            dlclose(lib);
        }
        usleep(20000);
    }
    return 0;
}
