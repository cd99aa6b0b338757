#include <cstdio>
int main() { std::puts("crunner: under construction"); return 1; }
