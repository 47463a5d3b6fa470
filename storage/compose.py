"""Putting photos together into one PDF: a slot holds one file, people send several pages."""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
_MARGIN = 18.0  # points


def images_to_pdf(images: Sequence[bytes]) -> bytes:
    """One A4 page per image, scaled to fit inside the margins, in the order given."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=True)
    page_w, page_h = A4
    for data in images:
        reader = ImageReader(io.BytesIO(data))
        width, height = reader.getSize()
        scale = min((page_w - 2 * _MARGIN) / width, (page_h - 2 * _MARGIN) / height)
        w, h = width * scale, height * scale
        canvas.drawImage(reader, (page_w - w) / 2, (page_h - h) / 2, w, h)
        canvas.showPage()
    canvas.save()
    return out.getvalue()
