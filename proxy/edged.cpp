// proxy/edged.cpp — the edged executable.
#include "proxy/proxy.h"

int main(int argc, char** argv) { return edged::proxy::edgedMain(argc, argv, {}); }
