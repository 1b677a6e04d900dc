"""Datasets, augmentation, data module and the `python -m atrc_nas.data` tools."""

import cv2

# OpenCV's own thread pool is not fork-safe: once it has run in a process, DataLoader
# workers forked from it can hang inside their first cv2 call. Loader workers already give
# the data pipeline its parallelism, so OpenCV runs single-threaded everywhere.
cv2.setNumThreads(0)
