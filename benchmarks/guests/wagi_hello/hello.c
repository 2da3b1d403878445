// The smallest WAGI handler: a CGI response on stdout.
#include <stdio.h>

int main(void) {
    fputs("Content-Type: text/plain\n\nHello from C!\n", stdout);
    return 0;
}
