"""The image list: thumbnails with a status per image (queued, running, done, failed + reason)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QImageReader, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .io_thread import IOPool, regular_file
from .state import CANCELLED, DONE, FAILED, MODE_TITLES, NEEDS_BOXES, QUEUED, RUNNING, ImageEntry, ViewerState

THUMB = 64
STATUS_COLOURS = {QUEUED: (150, 150, 150), RUNNING: (100, 181, 246), DONE: (102, 187, 106), FAILED: (239, 83, 80),
                  CANCELLED: (150, 150, 150), NEEDS_BOXES: (255, 196, 0)}
STATUS_SYMBOL = {QUEUED: "…", RUNNING: "⟳", DONE: "✓", FAILED: "✗", CANCELLED: "–", NEEDS_BOXES: "□"}


def status_colour(status: str, palette: QPalette) -> QColor:
    """The text colour of a row with ``status``, dark enough on light backgrounds (and vice versa)."""
    c = QColor(*STATUS_COLOURS.get(status, (150, 150, 150)))
    if palette.color(QPalette.ColorRole.Base).lightness() > 128:
        c = c.darker(190)
    return c


def read_thumbnail(path: Path, size: int = THUMB) -> QImage:
    """(any thread) The image scaled to fit ``size`` x ``size`` (EXIF-rotated); a null image when the
    file is not a readable regular file."""
    if regular_file(path):
        return QImage()
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    s = reader.size()
    if s.isValid() and s.width() > 0 and s.height() > 0:
        k = size / max(s.width(), s.height())
        reader.setScaledSize(QSize(max(1, int(s.width() * k)), max(1, int(s.height() * k))))
    return reader.read()


def thumbnail(path: Path | QImage, size: int = THUMB) -> QPixmap:
    """A square thumbnail (of a file, or of an image from :func:`read_thumbnail`); a grey placeholder
    with '?' when the file is unreadable."""
    pm = QPixmap(size, size)
    pm.fill(QColor(45, 46, 50))
    img = path if isinstance(path, QImage) else read_thumbnail(path, size)
    p = QPainter(pm)
    if img.isNull():
        p.setPen(QColor(200, 200, 200))
        f = p.font()
        f.setPointSize(20)
        p.setFont(f)
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "?")
    else:
        img = img.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        p.drawImage((size - img.width()) // 2, (size - img.height()) // 2, img)
    p.end()
    return pm


def status_text(e: ImageEntry) -> str:
    s = f"{STATUS_SYMBOL.get(e.status, '')} {e.status}"
    if e.status == RUNNING and e.progress[1]:
        s = f"{STATUS_SYMBOL[RUNNING]} decoding t {e.progress[0]}/{e.progress[1]}"
    elif e.status == DONE:
        secs = e.info.get("seconds")
        s += f" · {MODE_TITLES.get(e.mode, e.mode)}" + (f" · {secs:.1f}s" if secs is not None else "")
    elif e.status == FAILED and e.message:
        s += ": " + e.message
    if e.gt is not None:
        s += " · GT"
    elif e.gt_error:
        s += " · ⚠ GT unreadable"
    return s


class ImageList(QWidget):
    """Filter box + list; row selection sets the current image."""

    currentRequested = Signal(int)  # eid
    removeRequested = Signal(int)

    def __init__(self, state: ViewerState, parent: QWidget | None = None, io: IOPool | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.io = io or IOPool(1, self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by file name…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setUniformItemSizes(False)
        self.list.setWordWrap(True)
        self.list.setSpacing(1)
        self.list.currentItemChanged.connect(self._row_changed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        self._items: dict[int, QListWidgetItem] = {}
        self._thumbs: dict[int, QIcon] = {}
        self._pending_thumbs: list[int] = []
        pm = QPixmap(THUMB, THUMB)
        pm.fill(QColor(45, 46, 50))
        self._placeholder = QIcon(pm)
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._make_thumbs)
        self._syncing = False
        state.entriesChanged.connect(self.rebuild)
        state.entryChanged.connect(self.update_entry)
        state.currentChanged.connect(self.show_current)

    def rebuild(self) -> None:
        self._syncing = True
        self.list.clear()
        self._items = {}
        for e in self.state.entries:
            if e.eid not in self._thumbs:
                self._pending_thumbs.append(e.eid)
            it = QListWidgetItem(self._thumbs.get(e.eid, self._placeholder), "")
            it.setData(Qt.ItemDataRole.UserRole, e.eid)
            self.list.addItem(it)
            self._items[e.eid] = it
            self._fill(it, e)
        self._syncing = False
        self._apply_filter(self.filter.text())
        self.show_current(self.state.current_id)
        if self._pending_thumbs:
            self._thumb_timer.start()

    def _make_thumbs(self) -> None:
        """Thumbnails are read on the I/O threads (a few queued at a time) and shown as they come."""
        self._thumb_timer.stop()
        while self._pending_thumbs and self.io.pending() < 8:
            eid = self._pending_thumbs.pop(0)
            e = self.state.entry(eid)
            if e is None or eid in self._thumbs:
                continue
            self._thumbs[eid] = self._placeholder
            self.io.submit(read_thumbnail, e.path, callback=lambda img, err, eid=eid: self._thumb_read(eid, img))
        if self._pending_thumbs:
            self._thumb_timer.start(50)

    def _thumb_read(self, eid: int, img) -> None:
        self._thumbs[eid] = QIcon(thumbnail(img if img is not None else QImage()))
        it = self._items.get(eid)
        if it is not None:
            it.setIcon(self._thumbs[eid])

    def _fill(self, it: QListWidgetItem, e: ImageEntry) -> None:
        it.setText(f"{e.name}\n{status_text(e)}")
        it.setToolTip(f"{e.path}\n{e.status}" + (f": {e.message}" if e.message else "")
                      + (f"\nground truth: {e.gt_source}" if e.gt is not None else "")
                      + (f"\nground truth not used: {e.gt_error}" if e.gt_error else ""))
        if e.status in (FAILED, NEEDS_BOXES):
            it.setForeground(status_colour(e.status, self.list.palette()))
        else:  # the palette's text colour: readable in light and dark themes
            it.setData(Qt.ItemDataRole.ForegroundRole, None)

    def changeEvent(self, ev) -> None:
        super().changeEvent(ev)
        if ev.type() == QEvent.Type.PaletteChange:  # light <-> dark: recolour the rows
            for eid in self._items:
                self.update_entry(eid)

    def update_entry(self, eid: int) -> None:
        e, it = self.state.entry(eid), self._items.get(eid)
        if e is not None and it is not None:
            self._fill(it, e)

    def show_current(self, eid: int) -> None:
        it = self._items.get(eid)
        self._syncing = True
        if it is not None:
            self.list.setCurrentItem(it)
            self.list.scrollToItem(it)
        self._syncing = False

    def _row_changed(self, cur, prev) -> None:
        if self._syncing or cur is None:
            return
        self.currentRequested.emit(int(cur.data(Qt.ItemDataRole.UserRole)))

    def _apply_filter(self, text: str) -> None:
        t = text.lower().strip()
        for eid, it in self._items.items():
            e = self.state.entry(eid)
            it.setHidden(bool(t) and e is not None and t not in e.name.lower())

    def row_texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]
