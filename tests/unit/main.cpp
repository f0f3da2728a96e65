// tests/unit/main.cpp — the one translation unit that provides doctest's main().
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest.h>
