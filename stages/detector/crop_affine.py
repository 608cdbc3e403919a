"""The two crop affines a top-down detector can use, image pixels -> input pixels.

- ``"mmpose"``: mmpose's ``get_warp_matrix``: the box's centre goes to (W/2, H/2) and its width w to
  W, i.e. x' = (x - c_x) W / w + W / 2 (pixel edges: the box's left edge lands on 0, its right on W).
- ``"authors"``: the authors' ``get_affine_transform`` (ContextPose's ``mvn/utils/img.py``), written
  for pixel centres: the box's centre goes to ((W-1)/2, (H-1)/2) and its width to W-1 over w-1, i.e.
  x' = (x - c_x) (W-1) / (w-1) + (W-1) / 2. At the fixture's Human3.6M boxes (~400 px) the two crops
  differ by about half a pixel at the person and a 0.3 % scale; their released lifters were trained
  on the second, and their reference points (crop-pixel joints) are in its frame.

Both keep one scale for x and y (taken from the box width after mmpose's aspect-ratio fix, which
leaves the authors' square boxes unchanged), and both are built from three points with
``cv2.getAffineTransform`` in float32, as the two codebases do, so the crops agree pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_AFFINES = ("mmpose", "authors")


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direction = a - b
    return b + np.array([-direction[1], direction[0]], dtype=np.float32)


def authors_warp_matrix(center: np.ndarray, scale_wh: np.ndarray, output_size_wh: tuple[int, int]) -> np.ndarray:
    """(2, 3) image -> input transform of the authors' crop (module docstring): pixel centres."""
    out_w, out_h = (float(v) for v in output_size_wh)
    src_half = np.array([0.0, (float(scale_wh[0]) - 1) * -0.5], np.float32)
    dst_half = np.array([0.0, (out_w - 1) * -0.5], np.float32)
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = np.asarray(center, np.float32).reshape(2)
    src[1] = src[0] + src_half
    dst[0] = [(out_w - 1) * 0.5, (out_h - 1) * 0.5]
    dst[1] = dst[0] + dst_half
    src[2], dst[2] = _third_point(src[0], src[1]), _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def warp_matrix(center: np.ndarray, scale_wh: np.ndarray, output_size_wh: tuple[int, int],
                convention: str = "mmpose") -> np.ndarray:
    """(2, 3) image -> input transform of a crop at ``center`` with box ``scale_wh`` (after the aspect fix)."""
    if convention == "authors":
        return authors_warp_matrix(center, scale_wh, output_size_wh)
    if convention != "mmpose":
        raise ValueError(f"crop affine must be one of {CROP_AFFINES}, got {convention!r}")
    from mmpose.structures.bbox import get_warp_matrix

    return get_warp_matrix(np.asarray(center, np.float32).reshape(2), np.asarray(scale_wh, np.float32).reshape(2),
                           0.0, output_size=tuple(output_size_wh))


def register_authors_affine() -> str:
    """Register (once) an mmpose transform ``AuthorsTopdownAffine``: mmpose's ``TopdownAffine`` with
    the authors' matrix; returns its type name for a pipeline config."""
    from mmpose.datasets.transforms import TopdownAffine
    from mmpose.registry import TRANSFORMS

    name = "AuthorsTopdownAffine"
    if TRANSFORMS.get(name) is None:
        class AuthorsTopdownAffine(TopdownAffine):
            def transform(self, results: dict) -> dict:
                w, h = self.input_size
                results["bbox_scale"] = self._fix_aspect_ratio(results["bbox_scale"], aspect_ratio=w / h)
                warp = authors_warp_matrix(results["bbox_center"][0], results["bbox_scale"][0], (w, h))
                results["img"] = cv2.warpAffine(results["img"], warp, (int(w), int(h)), flags=cv2.INTER_LINEAR)
                if results.get("keypoints") is not None:
                    moved = results["keypoints"].copy()
                    moved[..., :2] = cv2.transform(results["keypoints"][..., :2], warp)
                    results["transformed_keypoints"] = moved
                results["input_size"] = (w, h)
                results["input_center"] = results["bbox_center"][0]
                results["input_scale"] = results["bbox_scale"][0]
                return results

        TRANSFORMS.register_module(name=name, module=AuthorsTopdownAffine)
    return name
