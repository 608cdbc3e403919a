"""What a training run tells people while it runs: scalars (JSON lines + TensorBoard) and a text log.

mmengine supplies the backends (LocalVisBackend -> scalars.json, TensorboardVisBackend). Every
rank but 0 gets a silent logger, so files are written once per job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.backends, self.text = [], None
        if enabled:
            from mmengine.visualization import LocalVisBackend, TensorboardVisBackend

            self.backends = [LocalVisBackend(str(run_dir)), TensorboardVisBackend(str(run_dir / "tensorboard"))]
            self.text = run_dir / "train.log"

    def scalars(self, values: dict, step: int) -> None:
        for backend in self.backends:
            backend.add_scalars(dict(values), step=step)

    def line(self, message: str) -> None:
        if self.text is None:
            return
        with open(self.text, "a") as handle:
            handle.write(time.strftime("%Y-%m-%d %H:%M:%S ") + message + "\n")
        log.info(message)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
