#!/usr/bin/env python3
"""Writes face.jpg, the small colour JPEG that tests/it/emotion.rs decodes to check the eval
image path (JPEG, colour to grayscale, area resize). Needs Pillow; rerun from this folder:

    python make_face_jpeg.py

A 64x80 (w x h) image: mid-grey (128,128,128) background with a white square in the
top-left quarter, so the decoded 48x48 face is white at its top-left corner and grey at
the bottom-right.
"""
from pathlib import Path

from PIL import Image, ImageDraw

img = Image.new("RGB", (64, 80), (128, 128, 128))
ImageDraw.Draw(img).rectangle([0, 0, 31, 39], fill=(255, 255, 255))
img.save(Path(__file__).resolve().parent / "face.jpg", quality=95)
