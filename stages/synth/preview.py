"""Contact sheet of synthetic frames with their annotations drawn on, to judge the data by eye."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stages.synth.skeleton import H36M_PARENTS


def contact_sheet(dataset_dir: Path, split: str = "train", n: int = 16, tile_px: int = 256,
                  columns: int = 4) -> np.ndarray:
    """A (rows * tile, columns * tile, 3) BGR sheet of ``n`` frames spread evenly over a split.

    Drawn per frame: the Human3.6M skeleton from ``part`` (white, joints red on the left side, blue
    on the right), the square box from ``center``/``scale`` (green) and the COCO box (yellow).
    """
    import json

    ann = np.load(Path(dataset_dir) / f"{split}_h36m_body3d.npz")
    coco = json.loads((Path(dataset_dir) / f"{split}_coco.json").read_text())
    count = min(n, len(ann["imgname"]))
    rows = (count + columns - 1) // columns
    sheet = np.zeros((rows * tile_px, columns * tile_px, 3), dtype=np.uint8)
    for slot, i in enumerate(np.linspace(0, len(ann["imgname"]) - 1, count).round().astype(int)):
        image = cv2.imread(str(Path(dataset_dir) / str(ann["imgname"][i])))
        part = ann["part"][i, :, :2]
        for j, p in enumerate(H36M_PARENTS):
            if p >= 0:
                cv2.line(image, tuple(int(v) for v in part[j]), tuple(int(v) for v in part[p]), (255, 255, 255), 1)
        for j, (x, y) in enumerate(part):
            colour = (0, 0, 255) if j in (4, 5, 6, 11, 12, 13) else (255, 0, 0)
            cv2.circle(image, (int(x), int(y)), 3, colour, -1)
        half = ann["scale"][i] * 100.0
        cx, cy = ann["center"][i]
        cv2.rectangle(image, (int(cx - half), int(cy - half)), (int(cx + half), int(cy + half)), (0, 255, 0), 1)
        x, y, w, h = coco["annotations"][i]["bbox"]
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), (0, 255, 255), 1)
        tile = cv2.resize(image, (tile_px, tile_px), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, str(ann["imgname"][i]).split("/")[1], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
        r, c = divmod(slot, columns)
        sheet[r * tile_px : (r + 1) * tile_px, c * tile_px : (c + 1) * tile_px] = tile
    return sheet
