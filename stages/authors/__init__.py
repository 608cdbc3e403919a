"""The authors' released CA-PF checkpoints: recognising them, mapping their keys, rebuilding stand-in weights."""
