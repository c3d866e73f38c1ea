// Must NOT compile: dp sits below io, so io's headers are not on dp's include
// path (CMakeLists.txt, kvnet_layer). ctest's layering.dp_cannot_include_io
// builds this file and expects the build to fail.
#include "io/runtime.h"
#include "dp/datapath.h"

int kvnet_layering_probe() { return 0; }
