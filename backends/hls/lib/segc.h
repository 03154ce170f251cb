/* segc HLS kernel library: every kernel.  See docs/hls.md. */
#ifndef SEGC_H
#define SEGC_H

#include "segc_fixed.h"
#include "segc_loops.h"
#include "segc_pe.h"
#include "segc_csim.h"
#include "segc_epilogue.h"
#include "segc_conv.h"
#include "segc_deform.h"
#include "segc_elementwise.h"
#include "segc_activation.h"
#include "segc_pool.h"
#include "segc_shuffle.h"
#include "segc_deconv.h"

#endif /* SEGC_H */
