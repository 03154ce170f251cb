/* tiny on ultra96_codenet: interface of the generated HLS network. */
#ifndef SEGC_NETWORK_H
#define SEGC_NETWORK_H

#include "segc.h"

#define SEGC_NETWORK "tiny"
#define SEGC_TOP tiny_top
#define SEGC_PARAM_WORDS 6802L
#define SEGC_MEM_WORDS 23552L
#define SEGC_NUM_INPUTS 1
#define SEGC_NUM_OUTPUTS 1
#define P_IF 8
#define P_OF 8
#define P_KX 3
#define P_KY 3

static const segc::tensor_info SEGC_INPUTS[] = {
    {"image", 0, 3072, 4, 8},
};
static const segc::tensor_info SEGC_OUTPUTS[] = {
    {"logits", 0, 10, 8, 8},
};

void tiny_top(const segc::data_t* params, segc::data_t* mem);

#endif /* SEGC_NETWORK_H */
