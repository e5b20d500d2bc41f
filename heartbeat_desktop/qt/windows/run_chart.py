"""A compact chart of runs per day by outcome (stacked bars) with the model's mean latency (a line).

Drawn with QPainter (Qt Charts is not part of PySide6-Essentials); colours for outcomes are fixed and
distinguishable, text and grid follow the palette so it reads in light and dark themes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

STATUS_COLOURS = {
    "ok": QColor("#2e9d58"),
    "skipped": QColor("#9aa0a6"),
    "failed": QColor("#d23c3c"),
    "refused": QColor("#8a63c7"),  # the app's own rules at work (core/refusals.py): not a failure's red
    "interrupted": QColor("#e0a020"),
    "started": QColor("#2a7fd4"),
}
LATENCY_COLOUR = QColor("#2a7fd4")
LEGEND = ("ok", "skipped", "refused", "failed")  # left to right, beside the title
STACKED = ("ok", "skipped", "refused", "failed", "interrupted", "started")  # bottom to top


class RunChart(QWidget):
    def __init__(self, days: int = 30, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.days = days
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Runs per day by outcome, and model latency")
        self._counts: dict[str, dict[str, int]] = {}
        self._latency: dict[str, float] = {}
        self.loading = True

    def set_stats(self, rows: list[tuple[str, str, int, float | None]]) -> None:
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        weighted: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for day, status, n, mean_ms in rows:
            counts[day][status] = n
            if mean_ms is not None:
                weighted[day][0] += mean_ms * n
                weighted[day][1] += n
        self._counts = dict(counts)
        self._latency = {d: total / n for d, (total, n) in weighted.items() if n}
        self.loading = False
        total = sum(sum(c.values()) for c in self._counts.values())
        self.setToolTip(f"{total} runs in the last {self.days} days")
        self.update()

    def day_keys(self) -> list[str]:
        today = date.today()
        return [(today - timedelta(days=self.days - 1 - i)).isoformat() for i in range(self.days)]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(palette.ColorRole.WindowText)
        area = QRectF(self.rect()).adjusted(8, 18, -8, -16)
        painter.setPen(text)
        if self.loading:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "Loading chart…")
            return
        days = self.day_keys()
        peak = max((sum(self._counts.get(d, {}).values()) for d in days), default=0)
        painter.drawText(QRectF(8, 0, self.width() - 16, 16), Qt.AlignmentFlag.AlignLeft, f"Runs per day (max {peak})")
        x = self.width() - 8
        for status in reversed(LEGEND):
            label = f"■ {status}"
            width = painter.fontMetrics().horizontalAdvance(label) + 10
            x -= width
            painter.setPen(STATUS_COLOURS[status])
            painter.drawText(QRectF(x, 0, width, 16), Qt.AlignmentFlag.AlignLeft, label)
        if peak == 0:
            painter.setPen(text)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No runs in the last 30 days")
            return
        slot = area.width() / len(days)
        grid = QColor(text)
        grid.setAlpha(40)
        painter.setPen(QPen(grid, 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        for i, day in enumerate(days):
            y = area.bottom()
            for status in STACKED:
                n = self._counts.get(day, {}).get(status, 0)
                if not n:
                    continue
                h = area.height() * n / peak
                painter.fillRect(
                    QRectF(area.left() + i * slot + 1, y - h, max(1.0, slot - 2), h), STATUS_COLOURS[status]
                )
                y -= h
        latencies = [self._latency.get(d) for d in days]
        top = max((v for v in latencies if v is not None), default=0)
        if top > 0:
            path = QPainterPath()
            started = False
            lone: list[QPointF] = []  # a day with no measured neighbour: a line has nothing to join it to
            for i, value in enumerate(latencies):
                if value is None:
                    continue
                point = QPointF(area.left() + (i + 0.5) * slot, area.bottom() - area.height() * value / top)
                path.lineTo(point) if started else path.moveTo(point)
                started = True
                if (i == 0 or latencies[i - 1] is None) and (i + 1 == len(latencies) or latencies[i + 1] is None):
                    lone.append(point)
            painter.setPen(QPen(LATENCY_COLOUR, 2))
            painter.drawPath(path)
            painter.setBrush(LATENCY_COLOUR)
            for point in lone:  # a marker, so the legend's line is there with one day of data
                painter.drawEllipse(point, 3.5, 3.5)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(text)
            painter.drawText(
                QRectF(8, self.height() - 15, self.width() - 16, 14),
                Qt.AlignmentFlag.AlignLeft,
                f"— model latency, mean per day (peak {top / 1000:.1f} s)",
            )
        painter.setPen(text)
        painter.drawText(
            QRectF(8, self.height() - 15, self.width() - 16, 14),
            Qt.AlignmentFlag.AlignRight,
            f"{days[0][5:]} … {days[-1][5:]}",
        )
