"""Query encoding shared by many concurrent searches: one worker thread that micro-batches.

Why: page sessions and API callers search at the same time. Encoding each query on its own thread
either oversubscribes the two cores or, worse, changes torch's process-wide thread count per call
(a race). Here every caller hands its text to one worker, which takes everything that queued up
while it was busy (up to `max_batch`) and encodes it in one forward pass: one model, one thread
setting fixed at start, and under load the cost of a query falls as the batches grow.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from newsindex.encoder import Embedder

log = logging.getLogger(__name__)


class QueryEncoder:
    """Thread-safe `encode_query` over an `Embedder`; `close()` stops the worker."""

    def __init__(self, encoder: Embedder, max_batch: int = 32, torch_threads: int = 0) -> None:
        self.encoder = encoder
        self.profile = encoder.profile
        self.max_batch = max_batch
        self.batches = 0
        self.encoded = 0
        self._queue: queue.SimpleQueue[tuple[str, Future[np.ndarray]] | None] = queue.SimpleQueue()
        self._torch_threads = torch_threads
        self._worker = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._worker.start()

    def encode_query(self, text: str) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        if self._torch_threads:
            import torch

            torch.set_num_threads(self._torch_threads)  # once, for this process's searches
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._encode(batch)

    def _encode(self, batch: Sequence[tuple[str, Future[np.ndarray]]]) -> None:
        try:
            vectors = self.encoder.encode_queries([text for text, _ in batch])
        except BaseException as exc:  # handed to every caller of this batch
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.encoded += len(batch)
        for (_, future), vector in zip(batch, vectors, strict=True):
            future.set_result(vector)
