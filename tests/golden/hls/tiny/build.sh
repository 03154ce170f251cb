#!/bin/sh
# C simulation of tiny: build the test bench with g++ (CXX, CXXFLAGS override), then run
#   ./csim params.bin tb_data/input.bin output.bin tb_data/expected.bin
set -e
cd "$(dirname "$0")"
"${CXX:-g++}" -std=c++17 -Wall -Wno-unknown-pragmas -Wno-unused-label -Iinclude ${CXXFLAGS:--O2} network.cpp tb.cpp -o csim
