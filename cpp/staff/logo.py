"""The shop's logo, uploaded on Manage Settings: checked to be a real PNG, JPEG or WebP image by
Pillow (never by its name or the browser's word), re-encoded as PNG without any metadata, kept in
the database (so every portal machine has it) and served at /shop-logo/<digest>.png."""
from __future__ import annotations

import hashlib
import io
import warnings

from flask import Blueprint, Response, abort, current_app

from .accounts import now_text

MAX_BYTES = 512 * 1024
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}
# Far more than a logo needs, far less than a decompression bomb unpacks to.
MAX_PIXELS = 4096 * 4096
LARGEST_SIDE = 512

TOO_MANY_PIXELS = "The image is too large in pixels: at most 4096 × 4096."

bp = Blueprint("shop_logo", __name__)


class LogoRefused(ValueError):
    """Why an upload is not a usable logo, in plain words."""


def checked_png(data: bytes) -> bytes:
    """The upload as a clean PNG, or LogoRefused."""
    from PIL import Image, UnidentifiedImageError  # only an owner's upload needs Pillow

    if len(data) > MAX_BYTES:
        raise LogoRefused("The file is too big: a logo must be at most 512 KB.")
    if not data:
        raise LogoRefused("Choose an image file to upload.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in ACCEPTED_FORMATS:
                    raise LogoRefused("Upload a PNG, JPEG or WebP image (SVG and other files "
                                      "are not accepted).")
                if width * height > MAX_PIXELS:
                    raise LogoRefused(TOO_MANY_PIXELS)
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = image.convert("RGBA")
    except LogoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoRefused(TOO_MANY_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise LogoRefused("That file is not a PNG, JPEG or WebP image we can read.") from None
    image.thumbnail((LARGEST_SIDE, LARGEST_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)  # a new file: no EXIF, no text chunks
    return out.getvalue()


def store(png: bytes) -> str:
    """Keep the logo; returns its address for SHOP_LOGO."""
    digest = hashlib.sha256(png).hexdigest()[:16]
    with current_app.extensions["database"].transaction() as db:
        db.execute("INSERT INTO shop_images (name, content_type, data, digest, updated_at)"
                   " VALUES ('logo', 'image/png', ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                   " data = excluded.data, digest = excluded.digest,"
                   " updated_at = excluded.updated_at", (png, digest, now_text()))
    return f"/shop-logo/{digest}.png"


@bp.get("/shop-logo/<digest>.png")
def logo(digest: str):
    with current_app.extensions["database"].connect() as db:
        row = db.execute("SELECT data, digest FROM shop_images WHERE name = 'logo'").fetchone()
    if row is None or row["digest"] != digest:
        abort(404)
    # The address changes with the image, so browsers may keep it for a year.
    return Response(bytes(row["data"]), mimetype="image/png",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})
