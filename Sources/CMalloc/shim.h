// glibc's malloc tunables (mallopt): `serve` fixes the threshold for mapping large blocks.
#include <malloc.h>
