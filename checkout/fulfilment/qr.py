"""The eSIM activation QR code, drawn by segno (a pure-Python QR library, no system libraries).

The same code appears twice: as inline SVG on the status page (scales to any screen, no extra
request) and as a PNG inside the receipt e-mail, because mail clients do not render inline SVG.
Phones scan the LPA string ("LPA:1$<SM-DP+ address>$<matching id>") from either.
"""

from __future__ import annotations

import io

import segno

TITLE = "eSIM activation QR code"
INSTALL_HINT = "Scan this with your phone's camera in Settings → Mobile data → Add eSIM"
_SCALE = 6  # pixels per module in the PNG: ~250 px for a typical LPA string, sharp on a phone
_BORDER = 4  # the quiet zone the QR standard asks for, in modules


def _code(text: str) -> segno.QRCode:
    # error level M (segno raises it when the version has room): survives a smudged screen
    return segno.make(text, error="m", micro=False)


def svg(text: str, title: str = TITLE) -> str:
    """Inline SVG markup of the QR code of `text`, titled for screen readers, sized by CSS."""
    markup = _code(text).svg_inline(
        title=title,
        svgclass="qr-code",
        lineclass=None,
        omitsize=True,
        border=_BORDER,
        dark="#000",
        light="#fff",  # the shop is dark: without a white quiet zone no camera finds the code
    )
    return markup.replace("<svg ", '<svg role="img" ', 1)


def png(text: str) -> bytes:
    """The QR code of `text` as PNG bytes, black on white, for the receipt e-mail."""
    out = io.BytesIO()
    _code(text).save(out, kind="png", scale=_SCALE, border=_BORDER)
    return out.getvalue()


def png_size(text: str) -> int:
    """Width (= height) in pixels of `png(text)`, so a mail can show it at its own size."""
    return _code(text).symbol_size(scale=_SCALE, border=_BORDER)[0]
