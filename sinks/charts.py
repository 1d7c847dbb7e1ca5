"""Charts for the report as inline SVG: no script, no network, nothing to load."""

from __future__ import annotations

from datetime import date

from markupsafe import escape


def bar_chart(items: list[tuple[str, float]], width: int = 400, bar: int = 24, color: str = "#2563eb") -> str:
    """A horizontal bar chart as inline SVG (no script, no network)."""
    if not items:
        return '<p class="muted">No data for this period.</p>'
    top = max(value for _, value in items) or 1
    label_w, height = 150, bar * len(items) + 8
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart" preserveAspectRatio="xMinYMin meet">']
    for i, (label, value) in enumerate(items):
        y = 4 + i * bar
        length = max(2.0, (width - label_w - 44) * value / top)
        parts.append(f'<text x="{label_w - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" class="label">{escape(str(label)[:22])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{bar - 6}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + bar * 0.7:.1f}" class="value">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(days: list[tuple[date, int, int]], width: int = 400, height: int = 160) -> str:
    """Visits per day (all, and those attributed to companies) as inline SVG columns."""
    if not days:
        return '<p class="muted">No visits in this period.</p>'
    top = max(v for _, v, _ in days) or 1
    step = (width - 40) / len(days)
    parts = [f'<svg viewBox="0 0 {width} {height + 30}" role="img" class="chart">']
    for i, (day, visits, company) in enumerate(days):
        x = 30 + i * step
        h_all, h_company = (height - 10) * visits / top, (height - 10) * company / top
        parts.append(f'<rect x="{x:.1f}" y="{height - h_all:.1f}" width="{step * 0.8:.1f}" height="{h_all:.1f}" fill="#cbd5e1"><title>{day}: {visits} visits</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{height - h_company:.1f}" width="{step * 0.8:.1f}" height="{h_company:.1f}" fill="#2563eb"><title>{day}: {company} company visits</title></rect>')
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{x + step * 0.4:.1f}" y="{height + 16}" text-anchor="middle" class="label">{day.day}.{day.month}.</text>')
    parts.append("</svg>")
    return "".join(parts)
