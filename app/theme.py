"""Canvas colours of the light and dark themes.

The Qt palette (``nodis_viewer.main.apply_palette``) colours the widgets; the pyqtgraph canvases
(image, scene graph, time and state-space plots) draw with their own colours, taken from here.
:func:`current` is the theme of the running application (its ``nodis_scheme`` property, set by
``apply_palette``); each view has an ``apply_theme(theme)`` that the window calls when the scheme
changes (``MainWindow.set_scheme``).
"""
from __future__ import annotations

from dataclasses import dataclass

RGB = tuple


@dataclass(frozen=True)
class CanvasTheme:
    name: str
    background: RGB  # canvas background
    text: RGB  # axis text and labels, legend text
    muted: RGB  # hints, titles, secondary text
    axis: RGB  # axis lines and ticks (the grid is drawn in this colour, faint)
    cursor: RGB  # the time cursor
    cursor_hover: RGB
    accent: RGB  # t_end line and its label, decision boundaries (amber, readable on the background)
    label_fg: RGB  # predicate labels on edges
    label_bg: RGB
    ghost: RGB  # relations / objects shown at t_end but gone now
    ghost_bg: RGB
    halo: RGB  # hovered / selected outline in the graph
    dot_pen: RGB  # outline of the state-space dots
    missed_fill: RGB  # fill of a missed ground-truth node
    note_css: str  # style sheet of the "decoding t = …" note over the graph
    message: RGB  # text of an empty canvas ("Drop images…")

    def css(self, rgb: RGB) -> str:
        return "#%02x%02x%02x" % tuple(int(v) for v in rgb[:3])


DARK = CanvasTheme(
    name="dark", background=(30, 31, 34), text=(200, 200, 200), muted=(154, 160, 166), axis=(150, 150, 150),
    cursor=(240, 240, 240), cursor_hover=(255, 255, 255), accent=(255, 196, 0), label_fg=(235, 235, 235),
    label_bg=(40, 41, 45), ghost=(170, 170, 170), ghost_bg=(40, 41, 45), halo=(250, 250, 250),
    dot_pen=(245, 245, 245), missed_fill=(60, 45, 20),
    note_css="color: #ffd27a; background: rgba(30, 31, 34, 200); padding: 2px 6px;", message=(208, 208, 208))

LIGHT = CanvasTheme(
    name="light", background=(250, 250, 250), text=(40, 40, 40), muted=(95, 99, 104), axis=(90, 90, 90),
    cursor=(30, 30, 30), cursor_hover=(0, 0, 0), accent=(196, 120, 0), label_fg=(25, 25, 25),
    label_bg=(255, 255, 255), ghost=(120, 120, 120), ghost_bg=(245, 245, 245), halo=(20, 20, 20),
    dot_pen=(40, 40, 40), missed_fill=(255, 236, 210),
    note_css="color: #7a4a00; background: rgba(255, 244, 214, 230); padding: 2px 6px;", message=(60, 60, 60))

THEMES = {"dark": DARK, "light": LIGHT}


def theme_for(scheme: str | None) -> CanvasTheme:
    """The canvas theme of a scheme name ('dark' / 'light'; anything else: dark)."""
    return THEMES.get(scheme or "dark", DARK)


def current() -> CanvasTheme:
    """The canvas theme of the running application (dark when there is none or it was not set)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    return theme_for(app.property("nodis_scheme") if app is not None else None)


# ------------------------------------------------------------------ pyqtgraph helpers
def style_plot(pi, theme: CanvasTheme, axes=("left", "bottom", "right")) -> None:
    """Axis lines, ticks, tick labels and axis titles of a ``PlotItem`` in ``theme``'s colours."""
    for name in axes:
        ax = pi.getAxis(name)
        ax.setPen(theme.axis)
        ax.setTextPen(theme.text)


def style_legend(legend, theme: CanvasTheme, fill_alpha: int = 0) -> None:
    """Legend text (entries already there included) and its fill in ``theme``'s colours."""
    import pyqtgraph as pg

    legend.setLabelTextColor(theme.text)
    legend.setBrush(pg.mkBrush(*theme.background, fill_alpha))
    for _sample, label in legend.items:
        label.setText(label.text)  # the colour applies when the text is laid out again


def style_time_lines(theme: CanvasTheme, cursor, end_line, rel_cursor=None) -> None:
    """The time cursor (and the dotted predicate-time cursor) and the t_end line in ``theme``'s colours."""
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    cursor.setPen(pg.mkPen(theme.cursor, width=2))
    cursor.setHoverPen(pg.mkPen(theme.cursor_hover, width=3))
    end_line.setPen(pg.mkPen(theme.accent, width=1.5, style=Qt.PenStyle.DashLine))
    if getattr(end_line, "label", None) is not None:
        end_line.label.setColor(theme.accent)
        end_line.label.fill = pg.mkBrush(*theme.background, 200)
        end_line.label.update()
    if rel_cursor is not None:
        rel_cursor.setPen(pg.mkPen(theme.cursor, width=1.5, style=Qt.PenStyle.DotLine))
        if getattr(rel_cursor, "label", None) is not None:
            rel_cursor.label.setColor(theme.cursor)
