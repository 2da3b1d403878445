// A WAGI (CGI over WASI stdio) test module: behaviour chosen by PATH_INFO.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void header(void) { printf("Content-Type: text/plain\r\nX-Guest: cgi\r\n\r\n"); }

int main(int argc, char **argv) {
    const char *info = getenv("PATH_INFO");
    if (!info) info = "";
    if (strcmp(info, "/env") == 0) {
        header();
        for (char **e = environ; *e; e++) printf("%s\n", *e);
    } else if (strcmp(info, "/args") == 0) {
        header();
        for (int i = 0; i < argc; i++) printf("%s\n", argv[i]);
    } else if (strcmp(info, "/echo") == 0) {
        header();
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
    } else if (strcmp(info, "/status") == 0) {
        printf("Status: 404 Not Found\nContent-Type: text/plain\n\nnot here");
    } else if (strcmp(info, "/redirect") == 0) {
        printf("Location: /elsewhere\n\n");
    } else if (strcmp(info, "/malformed") == 0) {
        printf("this is not a cgi response");
    } else if (strcmp(info, "/empty") == 0) {
        return 0;
    } else if (strcmp(info, "/trap") == 0) {
        __builtin_trap();
    } else if (strcmp(info, "/loop") == 0) {
        volatile unsigned long i = 0;
        for (;;) i++;
    } else if (strcmp(info, "/file") == 0) {
        header();
        FILE *f = fopen("/static/hello.txt", "r");
        if (!f) { printf("no file\n"); return 0; }
        char buf[256];
        size_t n = fread(buf, 1, sizeof buf, f);
        fwrite(buf, 1, n, stdout);
        fclose(f);
        printf("write:%s\n", fopen("/static/new.txt", "w") ? "allowed" : "denied");
        printf("secret:%s\n", fopen("/static/secret.txt", "r") ? "visible" : "hidden");
        printf("etc:%s\n", fopen("/etc/passwd", "r") ? "visible" : "hidden");
    } else {
        header();
        printf("hello from wagi %s\n", getenv("REQUEST_METHOD"));
    }
    return 0;
}
