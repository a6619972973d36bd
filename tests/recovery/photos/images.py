"""Test images made with Pillow: a JPEG with EXIF GPS, a PNG, a decompression bomb."""

from io import BytesIO

from PIL import Image

GPS_IFD = 0x8825


def jpeg_with_gps(size=(64, 48), color=(200, 90, 80)) -> bytes:
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    out = BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png(size=(40, 30), mode="RGB") -> bytes:
    out = BytesIO()
    Image.new(mode, size, (10, 200, 30) if mode == "RGB" else (10, 200, 30, 128)).save(
        out, format="PNG"
    )
    return out.getvalue()


def bomb(side: int) -> bytes:
    """A PNG of ``side`` x ``side`` one-bit pixels: tiny on disk, huge decoded."""
    out = BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    with Image.open(BytesIO(data)) as image:
        exif = image.getexif()
        return bool(exif.get_ifd(GPS_IFD)) or GPS_IFD in exif or "exif" in image.info
