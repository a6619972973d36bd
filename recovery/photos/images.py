"""What the server does to an uploaded photo before anything is stored (Pillow).

- The declared type must be one we take (JPEG, PNG, WebP: what phone cameras and screenshots
  give; HEIC is converted by the app) and the bytes must really be that type: Pillow identifies
  the format from the bytes, ``verify()`` checks the file's structure, and decoding it must
  succeed. Otherwise a 415 (type) or a 400 (``not_an_image``).
- Decompression bombs: a small file that decodes to a huge bitmap. Pillow refuses more than
  twice ``Image.MAX_IMAGE_PIXELS`` (``DecompressionBombError``) and warns above it; the warning
  is made an error here, and anything over ``WOUND_PHOTO_MAX_PIXELS`` is refused from the header
  alone, before decoding: a 413 ``too_many_pixels``.
- Metadata: the photo is rotated as its EXIF orientation says, then re-encoded from its pixels
  alone, so no EXIF (GPS position, camera serial numbers, time), XMP or comment survives.
"""

import warnings
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from config.errors import Invalid, PayloadTooLarge, UnsupportedMediaType

# Declared content type -> (Pillow format, file extension).
FORMATS = {
    "image/jpeg": ("JPEG", "jpg"),
    "image/png": ("PNG", "png"),
    "image/webp": ("WEBP", "webp"),
}
THUMBNAIL_TYPE = "image/jpeg"


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _not_an_image() -> Invalid:
    return Invalid("This file is not a readable image.", code="not_an_image", attr="image")


def _too_many_pixels(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"This image has more than {limit} pixels; send a smaller one.",
        code="too_many_pixels",
        attr="image",
        extra={"max_pixels": limit},
    )


def _open(data: bytes) -> Image.Image:
    """Opens (header only) with Pillow's bomb warning raised as an error."""
    limit = settings.WOUND_PHOTO_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(limit) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _not_an_image() from exc
    if image.width * image.height > limit:
        raise _too_many_pixels(limit)
    return image


def image_clean(*, data: bytes, declared_type: str) -> CleanImage:
    """The upload checked and re-encoded without metadata (see the module's docstring)."""
    declared_type = (declared_type or "").split(";")[0].strip().lower()
    if declared_type not in FORMATS:
        raise UnsupportedMediaType(
            "Send a JPEG, PNG or WebP image (image/jpeg, image/png, image/webp).",
            code="unsupported_image_type",
            attr="image",
        )
    pil_format, extension = FORMATS[declared_type]
    probe = _open(data)
    if probe.format != pil_format:
        raise UnsupportedMediaType(
            f"The file is sent as {declared_type} but is {probe.format or 'something else'}.",
            code="content_type_mismatch",
            attr="image",
        )
    try:
        probe.verify()  # structure and checksums; the image cannot be used after this
        image = _open(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(settings.WOUND_PHOTO_MAX_PIXELS) from exc
    except (OSError, ValueError, SyntaxError, SyntaxWarning) as exc:
        raise _not_an_image() from exc
    keep_alpha = pil_format != "JPEG" and (
        image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    )
    mode = "RGBA" if keep_alpha else "RGB"
    pixels = image.convert(mode)
    # A new image from the pixels alone: nothing of the original's info (EXIF, XMP, ICC,
    # comments) can be carried over by the encoder.
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = BytesIO()
    options = {"quality": 90} if pil_format in ("JPEG", "WEBP") else {}
    clean.save(out, format=pil_format, **options)
    return CleanImage(out.getvalue(), declared_type, extension, clean.width, clean.height)


def thumbnail_make(data: bytes, size: int) -> bytes:
    """A JPEG at most ``size`` pixels on its longer side, from a cleaned, stored image."""
    with Image.open(BytesIO(data)) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        image.thumbnail((size, size))
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        out = BytesIO()
        image.save(out, format="JPEG", quality=80)
        return out.getvalue()
