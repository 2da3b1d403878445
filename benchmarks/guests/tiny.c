/* The smallest useful guest: one exported function, no imports, no libc. */
__attribute__((export_name("add"))) int add(int a, int b) { return a + b; }
