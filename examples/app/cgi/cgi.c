// The example app's WAGI module: a CGI program in C (zig → wasm32-wasi). Request on stdin and in the
// CGI environment; response on stdout: headers, a blank line, the body.
#include <stdio.h>
#include <stdlib.h>

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "";
}

int main(int argc, char **argv) {
    printf("Content-Type: text/plain\n\n");
    printf("Hello from C, running as a WAGI module in %s.\n\n", env("APP_NAME"));
    printf("method        %s\n", env("REQUEST_METHOD"));
    printf("path info     %s\n", env("PATH_INFO"));
    printf("query         %s\n", env("QUERY_STRING"));
    printf("matched route %s\n", env("X_MATCHED_ROUTE"));
    printf("user agent    %s\n", env("HTTP_USER_AGENT"));
    printf("argv         ");
    for (int i = 0; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n\n");
    FILE *f = fopen("/static/about.txt", "r");
    if (f) {
        char buf[512];
        size_t n = fread(buf, 1, sizeof buf, f);
        fwrite(buf, 1, n, stdout);
        fclose(f);
    }
    return 0;
}
