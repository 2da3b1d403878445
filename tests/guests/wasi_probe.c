/* A WASI command that reports what its sandbox lets it see, driven by its arguments.
 *
 *   args            print argc and each argument
 *   env             print every environment variable the guest can see
 *   read:PATH       print the file's contents
 *   write:PATH      try to create PATH; print "wrote" or "denied: <errno text>"
 *   stderr:TEXT     print TEXT on stderr
 *   stdin           copy stdin to stdout
 *   exit:N          exit with status N
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmd_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

static void cmd_write(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        printf("denied: %s\n", strerror(errno));
        return;
    }
    fputs("written by the guest\n", f);
    fclose(f);
    printf("wrote %s\n", path);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "args") == 0) {
            printf("argc=%d\n", argc);
            for (int j = 0; j < argc; j++) printf("argv[%d]=%s\n", j, argv[j]);
        } else if (strcmp(a, "env") == 0) {
            for (char **e = environ; *e; e++) printf("env %s\n", *e);
            printf("env-end\n");
        } else if (strncmp(a, "read:", 5) == 0) {
            cmd_read(a + 5);
        } else if (strncmp(a, "write:", 6) == 0) {
            cmd_write(a + 6);
        } else if (strncmp(a, "stderr:", 7) == 0) {
            fprintf(stderr, "%s\n", a + 7);
        } else if (strcmp(a, "stdin") == 0) {
            char buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
        } else if (strncmp(a, "exit:", 5) == 0) {
            fflush(stdout);
            exit(atoi(a + 5));
        } else {
            printf("unknown command %s\n", a);
        }
    }
    return 0;
}
