// {{project-name}}: a WAGI handler. The request body is stdin, the CGI environment tells you about the
// request, and what you print is the response: headers, a blank line, then the body.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *method = getenv("REQUEST_METHOD");
    const char *path = getenv("PATH_INFO");
    printf("Content-Type: text/plain\n\n");
    printf("Hello from {{project-name}} (C)! %s %s\n", method ? method : "?", path && *path ? path : "/");
    return 0;
}
