"""Open a BVH with Blender's own importer (``bpy`` from PyPI) and report what it made, as JSON.

Run as a script in a separate process (``python -m stages.export.blender_check FILE [FRAME ...]``):
Blender's module brings its own libraries, kept out of the process that runs torch. The importer is
called with its defaults (forward -Z, up Y, scale 1, native rotation modes); the report holds the
armature's bone names, the number of frames of its action, and each bone's head in Blender's world axes
(X right, Y forward, Z up, metres) at the frames asked for.
"""

from __future__ import annotations

import json
import sys


def blender_report(path: str, frames: list[int]) -> dict:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=True, update_scene_duration=True)
    armature = next(obj for obj in bpy.context.scene.objects if obj.type == "ARMATURE")
    scene = bpy.context.scene
    heads = {}
    for frame in frames:
        scene.frame_set(scene.frame_start + frame)
        heads[frame] = {bone.name: list(armature.matrix_world @ bone.head) for bone in armature.pose.bones}
    first, last = armature.animation_data.action.frame_range
    return {"bones": [bone.name for bone in armature.data.bones], "keyframes": int(round(last - first)) + 1,
            "fps": scene.render.fps / scene.render.fps_base, "heads": heads, "blender": bpy.app.version_string}


if __name__ == "__main__":
    print(json.dumps(blender_report(sys.argv[1], [int(v) for v in sys.argv[2:]])))
