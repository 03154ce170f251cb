#!/bin/sh
# C simulation of tiny: build the test bench with g++ (CXX, CXXFLAGS override), then run
#   ./csim params.bin tb_data/input.bin output.bin tb_data/expected.bin
# With OpenMP (-fopenmp) where the compiler has it, the simulation runs on OMP_NUM_THREADS threads
# (default: every core), else on one (-fopenmp-simd); its output is the same either way.
set -e
cd "$(dirname "$0")"
CXX="${CXX:-g++}"
OPENMP=-fopenmp
printf '#include <omp.h>\nint main() { return omp_get_max_threads() < 1; }\n' | "$CXX" -fopenmp -x c++ - -o /dev/null 2>/dev/null || OPENMP=-fopenmp-simd
set -x
"$CXX" -std=c++17 -Wall -Wno-unknown-pragmas -Wno-unused-label -Iinclude ${CXXFLAGS:--O2} $OPENMP network.cpp tb.cpp -o csim
