"""Training on torch: data sets (synthetic, Cityscapes), metrics (mIoU, top-1),
fine-tuning, and accuracy of pruning candidates for the search.
"""
