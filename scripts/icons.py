#!/usr/bin/env python3
"""Generate Herald's icons: the app icon and the tray state icons.

Everything under icons/ is drawn here from code, deterministically, so the
icons can be regenerated or restyled without an image editor.

This is a developer tool only; it is not part of the build or the tests, and
the generated files are committed. It needs Pillow:

    pip install pillow
    python3 scripts/icons.py

(run from anywhere; it writes into icons/ beside this scripts/ directory).

Each image is drawn at 4x its final size and downsampled with LANCZOS, so
edges are smooth. All PNGs are RGBA, 8 bits per channel, as Tauri requires.

Design: a bell, flat and bold.
- App icon: a white bell with an amber notification dot on an indigo rounded
  square.
- Tray icons: a dark bell with a light halo (so it reads on light and dark
  panels), plus a coloured state marker at the bottom right:
    connected    green dot
    connecting   amber ring
    offline      grey bell, red slash
    signed-out   dimmed grey bell, no marker
  The *-unread variants add a red badge dot at the top right.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "icons"
SS = 4  # supersampling factor

# Palette (RGB)
INDIGO = (79, 70, 229)
WHITE = (255, 255, 255)
INK = (31, 41, 55)  # slate-800: the tray bell
GREY = (107, 114, 128)  # offline bell
DIM = (140, 146, 156)  # signed-out bell
GREEN = (22, 163, 74)
AMBER = (245, 158, 11)
AMBER_DOT = (251, 191, 36)
RED = (220, 38, 38)


# ---------------------------------------------------------------- geometry


def cubic(p0, p1, p2, p3, n=48):
    pts = []
    for i in range(n + 1):
        t = i / n
        u = 1 - t
        pts.append(
            (
                u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
            )
        )
    return pts


def arc(cx, cy, r, a0, a1, n=64):
    """Points on a circle from angle a0 to a1 (degrees, y down)."""
    return [
        (cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
         cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n)))
        for i in range(n + 1)
    ]


class Box:
    """Maps unit coordinates (0..1) into a square region of a canvas, in px."""

    def __init__(self, x, y, size):
        self.x, self.y, self.s = x, y, size

    def p(self, pt):
        return (self.x + pt[0] * self.s, self.y + pt[1] * self.s)

    def ps(self, pts):
        return [self.p(q) for q in pts]

    def d(self, v):
        return v * self.s


def new_mask(n):
    return Image.new("L", (n, n), 0)


def circle(mask, box, cx, cy, r):
    x, y = box.p((cx, cy))
    rr = box.d(r)
    ImageDraw.Draw(mask).ellipse((x - rr, y - rr, x + rr, y + rr), fill=255)
    return mask


def bell_masks(n, box, clapper_gap=0.045):
    """The bell's silhouette in `box`, as an L mask on an n x n canvas."""
    m = new_mask(n)
    d = ImageDraw.Draw(m)
    # Body: a dome that flares out to the rim.
    dome = arc(0.5, 0.40, 0.25, 180, 360)  # from left (0.25,0.40) over the top
    right = cubic((0.75, 0.40), (0.75, 0.60), (0.80, 0.66), (0.90, 0.72))
    left = cubic((0.10, 0.72), (0.20, 0.66), (0.25, 0.60), (0.25, 0.40))
    body = dome + right + [(0.90, 0.78), (0.10, 0.78)] + left
    d.polygon(box.ps(body), fill=255)
    # Rim: a rounded bar across the mouth.
    x0, y0 = box.p((0.06, 0.70))
    x1, y1 = box.p((0.94, 0.81))
    d.rounded_rectangle((x0, y0, x1, y1), radius=box.d(0.055), fill=255)
    # Knob on top.
    circle(m, box, 0.5, 0.14, 0.075)
    # Clapper: a half disc under the rim, separated by a small gap.
    cl = new_mask(n)
    circle(cl, box, 0.5, 0.81 + clapper_gap, 0.12)
    cut = new_mask(n)
    cx0, cy0 = box.p((0.0, 0.0))
    cx1, cy1 = box.p((1.0, 0.81 + clapper_gap))
    ImageDraw.Draw(cut).rectangle((cx0, cy0, cx1, cy1), fill=255)
    cl = ImageChops.subtract(cl, cut)
    return ImageChops.lighter(m, cl)


def dilate(mask, r):
    """Round dilation of an L mask by r px (union of shifted copies)."""
    r = int(round(r))
    w, h = mask.size
    padded = Image.new("L", (w + 2 * r, h + 2 * r), 0)  # no wrap-around
    padded.paste(mask, (r, r))
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy <= r * r and (dx or dy):
                shifted = padded.crop((r - dx, r - dy, r - dx + w, r - dy + h))
                out = ImageChops.lighter(out, shifted)
    return out


def paint(canvas, mask, rgb, alpha=255):
    if alpha != 255:
        mask = mask.point(lambda v: v * alpha // 255)
    layer = Image.new("RGBA", canvas.size, rgb + (0,))
    layer.putalpha(mask)
    canvas.alpha_composite(layer)


def erase(canvas, mask):
    """Make the canvas transparent where mask is set."""
    a = canvas.getchannel("A")
    canvas.putalpha(ImageChops.subtract(a, mask))


def finish(big, size):
    img = big.resize((size, size), Image.LANCZOS)
    assert img.mode == "RGBA"
    return img


# ---------------------------------------------------------------- app icon


def app_icon(size):
    n = size * SS
    c = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    full = Box(0, 0, n)
    # Rounded square with a small margin (like other desktop app icons).
    bg = new_mask(n)
    m = 0.06
    x0, y0 = full.p((m, m))
    x1, y1 = full.p((1 - m, 1 - m))
    ImageDraw.Draw(bg).rounded_rectangle((x0, y0, x1, y1), radius=full.d(0.2), fill=255)
    paint(c, bg, INDIGO)
    # Bell, centred, slightly low so the knob and clapper balance.
    g = 0.60
    box = Box(n * (1 - g) / 2, n * ((1 - g) / 2 + 0.01), n * g)
    bell = bell_masks(n, box)
    paint(c, bell, WHITE)
    # Notification dot, top right of the bell, cut out of it with a ring.
    dot_c, dot_r, ring = (0.86, 0.13), 0.16, 0.07
    ring_m = circle(new_mask(n), box, *dot_c, dot_r + ring)
    paint(c, ImageChops.multiply(ring_m, bg), INDIGO)
    paint(c, circle(new_mask(n), box, *dot_c, dot_r), AMBER_DOT)
    return finish(c, size)


# ---------------------------------------------------------------- tray icons

TRAY_STATES = {
    # name: (bell colour, bell alpha, marker)
    "connected": (INK, 255, "dot"),
    "connecting": (INK, 255, "ring"),
    "offline": (GREY, 255, "slash"),
    "signed-out": (DIM, 190, None),
}


def tray_icon(size, state, unread):
    bell_rgb, bell_alpha, marker = TRAY_STATES[state]
    n = size * SS
    c = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    full = Box(0, 0, n)
    halo = n * 0.055  # light outline, ~1.8 px at 32 px
    # The bell fills most of the square, leaving room for the halo.
    box = Box(n * 0.08, n * 0.06, n * 0.84)
    bell = bell_masks(n, box, clapper_gap=0.06)

    shapes = [(bell, bell_rgb, bell_alpha)]

    if marker == "slash":
        sl = new_mask(n)
        a, b = full.p((0.14, 0.10)), full.p((0.86, 0.90))
        w = full.d(0.11)
        d = ImageDraw.Draw(sl)
        d.line([a, b], fill=255, width=int(w))
        for pt in (a, b):
            d.ellipse((pt[0] - w / 2, pt[1] - w / 2, pt[0] + w / 2, pt[1] + w / 2), fill=255)
        shapes.append((sl, RED, 255))

    # Markers sit on top of the bell, each separated from it by a halo ring.
    if marker in ("dot", "ring"):
        shapes.append(("marker", (0.80, 0.80), 0.165, marker))
    if unread:
        shapes.append(("badge", (0.81, 0.19), 0.15, "dot"))

    # Light halo around the whole glyph, painted first.
    union = bell
    for s in shapes[1:]:
        m = s[0] if isinstance(s[0], Image.Image) else circle(new_mask(n), full, *s[1], s[2])
        union = ImageChops.lighter(union, m)
    paint(c, dilate(union, halo), WHITE, 235 if bell_alpha == 255 else bell_alpha)

    for s in shapes:
        if isinstance(s[0], Image.Image):
            mask, rgb, alpha = s
            if rgb == RED:  # slash: set apart from the bell by a halo gap
                paint(c, dilate(mask, halo), WHITE, 235)
            paint(c, mask, rgb, alpha)
        else:
            kind, (cx, cy), r, style = s
            outer = circle(new_mask(n), full, cx, cy, r + halo / n)
            paint(c, outer, WHITE, 255)
            disc = circle(new_mask(n), full, cx, cy, r)
            if kind == "badge":
                paint(c, disc, RED)
            elif style == "dot":
                paint(c, disc, GREEN)
            else:  # hollow ring: amber band, light centre
                paint(c, disc, AMBER)
                paint(c, circle(new_mask(n), full, cx, cy, r * 0.42), WHITE)
    return finish(c, size)


# ---------------------------------------------------------------- output


def save_png(img, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=True)
    print(f"wrote {path.relative_to(ROOT)}  {img.size[0]}x{img.size[1]} {img.mode}")


def main():
    OUT.mkdir(exist_ok=True)
    app = {s: app_icon(s) for s in (16, 24, 32, 48, 64, 128, 256, 512, 1024)}

    save_png(app[32], OUT / "32x32.png")
    save_png(app[128], OUT / "128x128.png")
    save_png(app[256], OUT / "128x128@2x.png")
    save_png(app[512], OUT / "icon.png")

    ico_sizes = [16, 24, 32, 48, 64, 256]
    app[256].save(
        OUT / "icon.ico",
        format="ICO",
        sizes=[(s, s) for s in ico_sizes],
        append_images=[app[s] for s in ico_sizes if s != 256],
    )
    print("wrote icons/icon.ico  " + "/".join(map(str, ico_sizes)))

    # Pillow writes the ic07..ic14 entries: 128, 256, 512, 1024 px and the
    # 16@2x..512@2x retina slots (32..1024 px); macOS scales for 16 px.
    icns_sizes = [32, 64, 128, 256, 512]
    app[1024].save(
        OUT / "icon.icns",
        format="ICNS",
        append_images=[app[s] for s in icns_sizes],
    )
    print("wrote icons/icon.icns  " + "/".join(map(str, icns_sizes + [1024])))

    for state in TRAY_STATES:
        variants = [False, True] if state != "signed-out" else [False]
        for unread in variants:
            name = state + ("-unread" if unread else "")
            save_png(tray_icon(32, state, unread), OUT / "tray" / f"{name}.png")
            save_png(tray_icon(64, state, unread), OUT / "tray" / f"{name}@2x.png")


if __name__ == "__main__":
    main()
