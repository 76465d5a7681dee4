// The README's chart (README "Performance"): CPU per request of each path, one bar per worker with the
// interquartile range of the rounds as a whisker. Plain SVG text, no dependency.

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/**
 * @param {{title: string, unit: string, series: {name: string, color: string}[],
 *          groups: {label: string, bars: {value: number, low: number, high: number}[]}[]}} chart
 *   one bar per series in each group, in the order of `series`
 * @returns {string} an SVG document
 */
export function barChart({ title, unit, series, groups }) {
  const width = 760;
  const height = 360;
  const margin = { top: 48, right: 16, bottom: 56, left: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const top = Math.max(...groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.high))));
  const step = niceStep(top / 5);
  const max = Math.ceil(top / step) * step;
  const y = (v) => margin.top + plotH - (Math.max(0, v) / max) * plotH;
  const groupW = plotW / groups.length;
  const barW = (groupW * 0.7) / series.length;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  for (let v = 0; v <= max; v += step) {
    out.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(unit)}</text>`);
  groups.forEach((group, gi) => {
    const x0 = margin.left + gi * groupW + groupW * 0.15;
    group.bars.forEach((bar, si) => {
      const x = x0 + si * barW;
      const mid = x + barW / 2;
      out.push(`<rect x="${x}" y="${y(bar.value)}" width="${barW - 2}" height="${y(0) - y(bar.value)}" fill="${series[si].color}"><title>${escape(`${series[si].name}, ${group.label}: ${bar.value.toFixed(0)} ${unit}`)}</title></rect>`);
      out.push(`<line x1="${mid - 1}" x2="${mid - 1}" y1="${y(bar.low)}" y2="${y(bar.high)}" stroke="black"/>`);
      out.push(`<text x="${mid - 1}" y="${y(Math.max(bar.value, bar.high)) - 4}" text-anchor="middle" font-size="11">${bar.value.toFixed(0)}</text>`);
    });
    out.push(`<text x="${margin.left + gi * groupW + groupW / 2}" y="${height - margin.bottom + 18}" text-anchor="middle">${escape(group.label)}</text>`);
  });
  series.forEach((s, si) => {
    const x = margin.left + si * 180;
    out.push(`<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${x + 18}" y="${height - 12}">${escape(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}
