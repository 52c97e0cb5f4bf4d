"""``nodis-viewer [IMAGES...] [--weights PATH] [--device cpu|cuda]``: the desktop application."""
from __future__ import annotations

import argparse
import logging
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nodis-viewer",
        description="Interactive NODIS scene-graph viewer: drop images, see boxes beside the scene graph, "
                    "scrub the ODE time t (0 .. 2.5, trained end time 1.5) and export graphs and figures.",
        epilog="Keyboard shortcuts are listed under Help > Keyboard shortcuts (F1). Settings persist via QSettings; "
               "--reset-settings forgets them.")
    p.add_argument("images", nargs="*", help="image files or folders to open")
    p.add_argument("--weights", help="model checkpoint (.safetensors, or an official NODIS .tar); "
                                     "default: the shipped demo model nodis-demo; 'random': a randomly "
                                     "initialised model, for testing only")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="where the model runs (default: CUDA when available)")
    p.add_argument("--mode", choices=["sgdet", "sgcls", "predcls"], default=None, help="initial mode")
    p.add_argument("--reset-settings", action="store_true", help="forget saved window layout, thresholds and files")
    p.add_argument("--theme", choices=["auto", "dark", "light"], default="auto",
                   help="colours: follow the desktop's light / dark setting (auto, the default), or force one")
    p.add_argument("--light", action="store_true", help="the same as --theme light")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def system_scheme() -> str:
    """'dark' or 'light': the desktop's colour scheme (Qt 6.5+ reports it; unknown counts as dark)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    try:
        scheme = QGuiApplication.styleHints().colorScheme()
    except AttributeError:  # Qt < 6.5
        return "dark"
    return "light" if scheme == Qt.ColorScheme.Light else "dark"


def apply_palette(app, scheme: str) -> None:
    """Fusion style with the dark palette (``scheme='dark'``) or Fusion's light one (``'light'``)."""
    if scheme == "dark":
        apply_dark_palette(app)
        return
    app.setStyle("Fusion")
    app.setPalette(app.style().standardPalette())
    app.setStyleSheet("")
    app.setProperty("nodis_scheme", "light")


def follow_system_scheme(app, win=None) -> bool:
    """Re-apply the palette (and the window's canvas colours) whenever the desktop's colour scheme
    changes. False on Qt builds that do not report it."""
    from PySide6.QtGui import QGuiApplication

    hints = QGuiApplication.styleHints()
    if not hasattr(hints, "colorSchemeChanged"):
        return False

    def changed(*_):
        scheme = system_scheme()
        apply_palette(app, scheme)
        if win is not None and hasattr(win, "set_scheme"):
            win.set_scheme(scheme)

    hints.colorSchemeChanged.connect(changed)
    return True


def apply_dark_palette(app) -> None:
    """Fusion style with a dark palette (images and graphs read best on a dark background)."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    app.setProperty("nodis_scheme", "dark")
    pal = QPalette()
    base, alt, text = QColor(37, 38, 42), QColor(45, 46, 51), QColor(226, 226, 226)
    roles = {
        QPalette.ColorRole.Window: QColor(43, 44, 48), QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.ToolTipBase: QColor(50, 52, 58), QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: QColor(52, 54, 60),
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(58, 110, 165), QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 170, 240), QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
    }
    for role, c in roles.items():
        pal.setColor(role, c)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    app.setPalette(pal)
    app.setStyleSheet("QToolTip { color: #e2e2e2; background-color: #32343a; border: 1px solid #55585f; }"
                      "QDockWidget::title { padding: 3px; background: #34363b; }")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("nodis")
    QCoreApplication.setApplicationName("nodis-viewer")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme = "light" if args.light else args.theme
    apply_palette(app, system_scheme() if theme == "auto" else theme)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from .settings import settings
    from .window import MainWindow

    if args.reset_settings:
        settings().clear()
    device = None if args.device in (None, "auto") else args.device
    win = MainWindow(weights=args.weights, device=device)
    if theme == "auto":  # follow the desktop when it switches between light and dark
        follow_system_scheme(app, win)
    if args.mode:
        win.state.set_mode(args.mode)
    win.show()
    if args.images:
        QTimer.singleShot(0, lambda: win.open_paths(args.images))
    rc = app.exec()
    if win.engine.is_running() and not win.engine.shutdown(2000):
        # an inference is still running on the worker thread and cannot be interrupted; settings are
        # saved, so leave without waiting for it (destroying a running QThread would abort)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
