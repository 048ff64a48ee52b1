"""The predict and consume services.

One scoring call is one request's rows (predict) or one poll's batch (consume): OpenMP's thread team
(HistGradientBoosting, when validation picks it) costs more than it saves at that size, and on a
small machine its spinning threads starve the event loop. Measured on this 2-core machine with hey,
4 connections: 6 req/s with the default threads, 208 req/s with one. Set before numpy or
scikit-learn is imported; an explicit OMP_NUM_THREADS still wins.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
