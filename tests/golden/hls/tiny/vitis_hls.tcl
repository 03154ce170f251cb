# Vitis HLS project of tiny (segc does not run it): vitis_hls -f vitis_hls.tcl
# The part defaults to the Ultra96's; set SEGC_PART in the environment for another device.
if {[info exists ::env(SEGC_PART)]} { set part $::env(SEGC_PART) } else { set part "xczu3eg-sbva484-1-e" }
open_project -reset tiny_hls
set_top tiny_top
add_files network.cpp -cflags "-std=c++17 -Iinclude"
add_files -tb tb.cpp -cflags "-std=c++17 -Iinclude"
add_files -tb params.bin
add_files -tb tb_data
open_solution -reset solution1 -flow_target vivado
set_part $part
create_clock -period 4.000 -name default  ;# 250 MHz from the target
csim_design -argv "params.bin tb_data/input.bin output.bin tb_data/expected.bin"
csynth_design
exit
