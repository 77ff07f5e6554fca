//! Server-rendered SVG pictures for every console page: a status grid, a horizontal pipeline, a
//! bar chart, a time series with a goal line and a timeline (bars on one time axis).
//!
//! Pure functions from plain data to an SVG string: no I/O, no state, no script, nothing from
//! the store. Every text is escaped; every picture has a `viewBox` (it scales with its box), a
//! `<title>` and a `<desc>` for screen readers, and says "No data" in words when there is none.
//! Colour is never the only signal: each [`Tone`] also has its own mark (✓ ✕ ! ▶ –), a stroke
//! pattern and a word, so a picture reads in black-and-white print and for colour-blind readers.
//! Pages embed the string as it is (askama's `|safe`), which is sound only because everything
//! here escapes what it is given.

use std::fmt::Write as _;

/// How a cell, stage or bar reads: its colour, its mark and its stroke always go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Bad,
    Warn,
    Info,
    Idle,
}

impl Tone {
    /// The tone of a badge's CSS class (`good`, `bad`, `warn`, `info`; anything else is idle), so
    /// a picture and the table beside it read a state alike.
    pub(crate) fn of_class(class: &str) -> Tone {
        match class {
            "good" => Tone::Good,
            "bad" => Tone::Bad,
            "warn" => Tone::Warn,
            "info" => Tone::Info,
            _ => Tone::Idle,
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Tone::Good => "#ecfdf3",
            Tone::Bad => "#fef3f2",
            Tone::Warn => "#fffaeb",
            Tone::Info => "#eff4ff",
            Tone::Idle => "#f5f7fa",
        }
    }

    fn ink(self) -> &'static str {
        match self {
            Tone::Good => "#067647",
            Tone::Bad => "#b42318",
            Tone::Warn => "#93370d",
            Tone::Info => "#1d4ed8",
            Tone::Idle => "#52606d",
        }
    }

    /// A mark that differs by shape, for readers who cannot tell the colours apart.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Tone::Good => "✓",
            Tone::Bad => "✕",
            Tone::Warn => "!",
            Tone::Info => "▶",
            Tone::Idle => "–",
        }
    }

    /// The outline differs too: solid, heavy, dashed, dotted, thin.
    fn stroke(self) -> &'static str {
        match self {
            Tone::Good => r#"stroke-width="1.5""#,
            Tone::Bad => r#"stroke-width="3""#,
            Tone::Warn => r#"stroke-width="2" stroke-dasharray="6 3""#,
            Tone::Info => r#"stroke-width="2" stroke-dasharray="2 2""#,
            Tone::Idle => r#"stroke-width="1""#,
        }
    }
}

/// What every picture says about itself: its accessible name and its description.
pub(crate) struct Caption<'a> {
    pub title: &'a str,
    pub description: &'a str,
}

/// Escape text for SVG content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// [`escape`], appended to `out`: a text with nothing to escape (printable ASCII but `&<>"'`,
/// the common case) is copied whole, without a walk over its characters.
fn escape_into(out: &mut String, text: &str) {
    let plain =
        |b: &u8| matches!(b, b' '..=b'~') && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    if text.bytes().all(|b| plain(&b)) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// At most `max` characters, with an ellipsis when cut; the whole text goes in a tooltip.
fn clip(text: &str, max: usize) -> String {
    clipped(text, max).into_owned()
}

/// [`clip`], borrowing the text when it fits (most do).
fn clipped(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= max {
        std::borrow::Cow::Borrowed(text)
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        std::borrow::Cow::Owned(format!("{kept}…"))
    }
}

fn open(caption: &Caption, width: u32, height: u32) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" font-family="system-ui, sans-serif" font-size="13"><title>{}</title><desc>{}</desc>"#,
        escape(caption.title),
        escape(caption.description)
    )
}

/// A picture whose text must stay legible: drawn at its own width, its box scrolls sideways on a
/// narrow screen instead of shrinking it to a smudge (`.chart.wide` in console.css).
fn open_wide(caption: &Caption, width: u32, height: u32) -> String {
    open(caption, width, height).replacen(r#"class="chart""#, r#"class="chart wide""#, 1)
}

/// The picture of nothing: the same frame, saying so in words.
fn no_data(caption: &Caption) -> String {
    let mut svg = open(caption, 320, 60);
    svg.push_str(r##"<rect x="0.5" y="0.5" width="319" height="59" fill="#ffffff" stroke="#d9e2ec"/><text x="160" y="35" text-anchor="middle" fill="#52606d">No data</text></svg>"##);
    svg
}

/// End a picture. One that holds links is a group of controls, not an image: an image's parts are
/// presentational, and links inside one are lost to assistive technology (axe: nested-interactive).
fn close(mut svg: String) -> String {
    svg.push_str("</svg>");
    if svg.contains("<a href=") {
        svg = svg.replacen(r#"role="img""#, r#"role="group""#, 1);
    }
    svg
}

/// A link around part of a picture, when there is somewhere to go.
fn linked(href: Option<&str>, inner: &str) -> String {
    match href {
        Some(h) => format!(r#"<a href="{}">{inner}</a>"#, escape(h)),
        None => inner.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Status grid

/// One cell of a status grid: a word (with the tone's mark), a second line, and a tooltip.
pub(crate) struct GridCell {
    pub tone: Tone,
    pub label: String,
    pub detail: String,
    pub tooltip: String,
    pub href: Option<String>,
}

pub(crate) struct GridRow {
    pub label: String,
    pub href: Option<String>,
    /// One per column; `None` is an empty cell.
    pub cells: Vec<Option<GridCell>>,
}

pub(crate) struct StatusGrid<'a> {
    pub caption: Caption<'a>,
    pub columns: Vec<String>,
    pub rows: Vec<GridRow>,
}

const GRID_CELL_WIDTH: u32 = 180;
const GRID_ROW_HEIGHT: u32 = 48;
const GRID_HEAD: u32 = 28;

/// Rows × columns of coloured, marked cells with labels (releases × environments, …).
pub(crate) fn status_grid(grid: &StatusGrid) -> String {
    if grid.rows.is_empty() || grid.columns.is_empty() {
        return no_data(&grid.caption);
    }
    let label_width = grid
        .rows
        .iter()
        .map(|r| r.label.chars().count().min(24))
        .max()
        .unwrap_or(0) as u32
        * 8
        + 16;
    let label_width = label_width.max(80);
    let columns = grid.columns.len() as u32;
    let width = label_width + columns * GRID_CELL_WIDTH;
    let height = GRID_HEAD + grid.rows.len() as u32 * GRID_ROW_HEIGHT;
    let mut svg = open(&grid.caption, width, height);
    for (i, column) in grid.columns.iter().enumerate() {
        let x = label_width + i as u32 * GRID_CELL_WIDTH + GRID_CELL_WIDTH / 2;
        let _ = write!(
            svg,
            r##"<text x="{x}" y="18" text-anchor="middle" font-weight="600" fill="#1f2933">{}<title>{}</title></text>"##,
            escape(&clip(column, 18)),
            escape(column)
        );
    }
    for (r, row) in grid.rows.iter().enumerate() {
        let y = GRID_HEAD + r as u32 * GRID_ROW_HEIGHT;
        let label = format!(
            r##"<text x="6" y="{}" font-weight="600" fill="#1f2933">{}<title>{}</title></text>"##,
            y + GRID_ROW_HEIGHT / 2 + 4,
            escape(&clip(&row.label, 24)),
            escape(&row.label)
        );
        svg.push_str(&linked(row.href.as_deref(), &label));
        for (c, cell) in row.cells.iter().take(grid.columns.len()).enumerate() {
            let x = label_width + c as u32 * GRID_CELL_WIDTH;
            grid_cell(&mut svg, cell.as_ref(), x + 3, y + 3);
        }
    }
    close(svg)
}

/// One cell, written into the picture (2 000 cells on the dashboard: no string of its own).
fn grid_cell(svg: &mut String, cell: Option<&GridCell>, x: u32, y: u32) {
    let (w, h) = (GRID_CELL_WIDTH - 6, GRID_ROW_HEIGHT - 6);
    let Some(cell) = cell else {
        let _ = write!(
            svg,
            r##"<g><title>nothing here</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#ffffff" stroke="#d9e2ec"/><text x="{}" y="{}" text-anchor="middle" fill="#52606d">–</text></g>"##,
            x + w / 2,
            y + h / 2 + 4
        );
        return;
    };
    // What `linked` makes, without the copy of the inner part.
    if let Some(href) = &cell.href {
        svg.push_str(r#"<a href=""#);
        escape_into(svg, href);
        svg.push_str(r#"">"#);
    }
    let tone = cell.tone;
    svg.push_str("<g><title>");
    escape_into(svg, &cell.tooltip);
    let _ = write!(
        svg,
        r##"</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="{ink}" {stroke}/><text x="{tx}" y="{ly}" fill="{ink}" font-weight="600">{mark} "##,
        fill = tone.fill(),
        ink = tone.ink(),
        stroke = tone.stroke(),
        tx = x + 8,
        ly = y + 17,
        mark = tone.mark(),
    );
    escape_into(svg, &clipped(&cell.label, 20));
    let _ = write!(
        svg,
        r##"</text><text x="{tx}" y="{dy}" fill="#1f2933" font-size="11">"##,
        tx = x + 8,
        dy = y + 33,
    );
    escape_into(svg, &clipped(&cell.detail, 28));
    svg.push_str("</text></g>");
    if cell.href.is_some() {
        svg.push_str("</a>");
    }
}

// ---------------------------------------------------------------------------------------------
// Pipeline

/// One stage of a pipeline: its name, and its state in words.
pub(crate) struct Stage {
    pub name: String,
    pub tone: Tone,
    pub state: String,
    pub href: Option<String>,
}

const STAGE_WIDTH: u32 = 150;
const STAGE_GAP: u32 = 26;

/// Stages left to right, joined by arrows (a release's lifecycle, a deployment's steps).
pub(crate) fn pipeline(caption: &Caption, stages: &[Stage]) -> String {
    if stages.is_empty() {
        return no_data(caption);
    }
    let n = stages.len() as u32;
    let width = n * STAGE_WIDTH + (n - 1) * STAGE_GAP + 4;
    let height = 64;
    let mut svg = open(caption, width, height);
    for (i, stage) in stages.iter().enumerate() {
        let x = 2 + i as u32 * (STAGE_WIDTH + STAGE_GAP);
        if i > 0 {
            let from = x - STAGE_GAP + 2;
            let to = x - 4;
            let _ = write!(
                svg,
                r##"<path d="M{from} 32 H{to} M{} 27 L{to} 32 L{} 37" fill="none" stroke="#52606d" stroke-width="2"/>"##,
                to - 5,
                to - 5
            );
        }
        let tone = stage.tone;
        let inner = format!(
            r##"<g><title>{name}: {state}</title><rect x="{x}" y="6" width="{STAGE_WIDTH}" height="52" rx="26" fill="{fill}" stroke="{ink}" {stroke}/><text x="{cx}" y="28" text-anchor="middle" font-weight="600" fill="#1f2933">{short_name}</text><text x="{cx}" y="46" text-anchor="middle" fill="{ink}" font-size="12">{mark} {short_state}</text></g>"##,
            name = escape(&stage.name),
            state = escape(&stage.state),
            fill = tone.fill(),
            ink = tone.ink(),
            stroke = tone.stroke(),
            cx = x + STAGE_WIDTH / 2,
            short_name = escape(&clip(&stage.name, 18)),
            mark = tone.mark(),
            short_state = escape(&clip(&stage.state, 18)),
        );
        svg.push_str(&linked(stage.href.as_deref(), &inner));
    }
    close(svg)
}

// ---------------------------------------------------------------------------------------------
// Bar chart

// Wave-2 pages (insights, quality, health) draw with it; the console's own pages do not yet.
#[allow(dead_code)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    pub tone: Tone,
}

/// A number in few characters: no needless decimals, and no "NaN" on screen.
fn number(v: f64) -> String {
    if !v.is_finite() {
        "—".to_string()
    } else if v.abs() >= 1e9 {
        format!("{v:.3e}")
    } else if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

const BAR_HEIGHT: u32 = 24;
/// The label column: wide enough for the longest label up to [`BAR_LABEL_CHARS`] characters
/// (DORA's "Deployment-days per week" is 24), never narrower than this.
const BAR_LABEL_WIDTH: u32 = 160;
const BAR_LABEL_CHARS: usize = 32;
/// About one character of the 13 px sans-serif the charts use.
const BAR_CHAR_WIDTH: u32 = 7;
const BAR_AREA: u32 = 360;

/// Horizontal bars, one per label, each with its value written at its end; `unit` follows
/// every value ("deployments", "min").
pub(crate) fn bar_chart(caption: &Caption, unit: &str, bars: &[Bar]) -> String {
    let finite: Vec<&Bar> = bars.iter().filter(|b| b.value.is_finite()).collect();
    if finite.is_empty() {
        return no_data(caption);
    }
    let max = finite.iter().map(|b| b.value.abs()).fold(0.0_f64, f64::max);
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count().min(BAR_LABEL_CHARS))
        .max()
        .unwrap_or(0) as u32;
    let label_width = (longest * BAR_CHAR_WIDTH + 16).max(BAR_LABEL_WIDTH);
    let width = label_width + BAR_AREA + 140;
    let height = 8 + bars.len() as u32 * (BAR_HEIGHT + 8);
    let mut svg = open(caption, width, height);
    for (i, bar) in bars.iter().enumerate() {
        let y = 8 + i as u32 * (BAR_HEIGHT + 8);
        let share = if max > 0.0 && bar.value.is_finite() {
            (bar.value.abs() / max).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let length = (share * f64::from(BAR_AREA)).round().max(2.0);
        let tone = bar.tone;
        // A bar without a number says so in words, without a unit ("no data", not "— %").
        let value = if bar.value.is_finite() {
            format!("{} {}", number(bar.value), escape(unit))
        } else {
            "no data".to_string()
        };
        let _ = write!(
            svg,
            r##"<g><title>{label}: {value}</title><text x="{lx}" y="{ty}" text-anchor="end" fill="#1f2933">{short}</text><rect x="{label_width}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{fill}" stroke="{ink}" {stroke}/><text x="{vx}" y="{ty}" fill="#1f2933">{mark} {value}</text></g>"##,
            label = escape(&bar.label),
            lx = label_width - 8,
            ty = y + BAR_HEIGHT / 2 + 5,
            short = escape(&clip(&bar.label, BAR_LABEL_CHARS)),
            fill = tone.fill(),
            ink = tone.ink(),
            stroke = tone.stroke(),
            vx = f64::from(label_width) + length + 6.0,
            mark = tone.mark(),
        );
    }
    close(svg)
}

// ---------------------------------------------------------------------------------------------
// Time series

// Wave-2 pages (insights, quality, health) draw with it; the console's own pages do not yet.
#[allow(dead_code)]
/// A value at a moment, with the moment's label for the axis and tooltips ("Nov 29").
pub(crate) struct Point {
    pub label: String,
    pub value: f64,
}

// Wave-2 pages (insights, quality, health) draw with it; the console's own pages do not yet.
#[allow(dead_code)]
pub(crate) struct Series<'a> {
    pub caption: Caption<'a>,
    pub unit: &'a str,
    /// In time order, evenly spaced (one per day, per week…).
    pub points: Vec<Point>,
    /// The line to stay under (or over), drawn dashed and labelled.
    pub goal: Option<f64>,
}

const PLOT_LEFT: f64 = 56.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_WIDTH: f64 = 520.0;
const PLOT_HEIGHT: f64 = 180.0;

// Wave-2 pages (insights, quality, health) draw with it; the console's own pages do not yet.
#[allow(dead_code)]
/// A line through the points, each marked and labelled on hover, with an optional goal line.
pub(crate) fn time_series(series: &Series) -> String {
    let points: Vec<&Point> = series
        .points
        .iter()
        .filter(|p| p.value.is_finite())
        .collect();
    if points.is_empty() {
        return no_data(&series.caption);
    }
    let goal = series.goal.filter(|g| g.is_finite());
    let values = points.iter().map(|p| p.value).chain(goal);
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let low = low.min(0.0);
    let span = if high - low > 0.0 && (high - low).is_finite() {
        high - low
    } else {
        1.0
    };
    let y_of = |v: f64| PLOT_TOP + PLOT_HEIGHT - ((v - low) / span).clamp(0.0, 1.0) * PLOT_HEIGHT;
    let step = if points.len() > 1 {
        PLOT_WIDTH / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x_of = |i: usize| {
        if points.len() > 1 {
            PLOT_LEFT + i as f64 * step
        } else {
            PLOT_LEFT + PLOT_WIDTH / 2.0
        }
    };
    let width = (PLOT_LEFT + PLOT_WIDTH + 90.0) as u32;
    let height = (PLOT_TOP + PLOT_HEIGHT + 34.0) as u32;
    let mut svg = open(&series.caption, width, height);
    let bottom = PLOT_TOP + PLOT_HEIGHT;
    let _ = write!(
        svg,
        // The unit beside the axis's top, not before the number: a long unit ("deployments")
        // would run out of the picture on the left.
        r##"<path d="M{PLOT_LEFT} {PLOT_TOP} V{bottom} H{}" fill="none" stroke="#9fb3c8"/><text x="{}" y="{}" text-anchor="end" font-size="11" fill="#52606d">{}</text><text x="{}" y="{}" font-size="11" fill="#52606d">{}</text><text x="{}" y="{}" text-anchor="end" font-size="11" fill="#52606d">{}</text>"##,
        PLOT_LEFT + PLOT_WIDTH,
        PLOT_LEFT - 6.0,
        PLOT_TOP + 8.0,
        // The axis's top is what the scale reaches, not the highest point: a series of zeros
        // is drawn on 0 to 1, and labelling its top "0" would read as two zero lines.
        escape(&number(low + span)),
        PLOT_LEFT + 6.0,
        PLOT_TOP + 8.0,
        escape(series.unit),
        PLOT_LEFT - 6.0,
        bottom,
        escape(&number(low)),
    );
    if let Some(g) = goal {
        let y = y_of(g);
        let _ = write!(
            svg,
            r##"<g><title>goal: {v} {u}</title><path d="M{PLOT_LEFT} {y:.1} H{}" stroke="#b54708" stroke-width="2" stroke-dasharray="8 4"/><text x="{}" y="{:.1}" font-size="11" fill="#93370d">goal {v}</text></g>"##,
            PLOT_LEFT + PLOT_WIDTH,
            PLOT_LEFT + PLOT_WIDTH + 6.0,
            y + 4.0,
            v = escape(&number(g)),
            u = escape(series.unit),
        );
    }
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1} {:.1}", x_of(i), y_of(p.value)))
        .collect();
    let _ = write!(
        svg,
        r##"<path d="M{}" fill="none" stroke="#1d4ed8" stroke-width="2"/>"##,
        path.join(" L")
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#ffffff" stroke="#1d4ed8" stroke-width="2"><title>{}: {} {}</title></circle>"##,
            x_of(i),
            y_of(p.value),
            escape(&p.label),
            escape(&number(p.value)),
            escape(series.unit)
        );
    }
    let ends = [(0, "start"), (points.len() - 1, "end")];
    for (i, anchor) in ends.iter().take(if points.len() > 1 { 2 } else { 1 }) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="{anchor}" font-size="11" fill="#52606d">{}</text>"##,
            x_of(*i),
            bottom + 18.0,
            escape(&clip(&points[*i].label, 20))
        );
    }
    close(svg)
}

// ---------------------------------------------------------------------------------------------
// Timeline

/// One row of a timeline: a task (a step on a target), placed by when it started and ended.
pub(crate) struct Span {
    /// "2. Migrate · app-01".
    pub label: String,
    /// Seconds after the timeline's start; `None` while it has not started.
    pub start: Option<f64>,
    /// Seconds after the timeline's start; `None` while it runs (drawn to `now`).
    pub end: Option<f64>,
    pub tone: Tone,
    /// The state in a word ("failed"), written after the bar with its duration.
    pub word: String,
    /// The whole story, shown on hover: state, attempt, summary.
    pub tooltip: String,
}

const LANE_HEIGHT: u32 = 22;
const LANE_GAP: u32 = 6;
const LANE_LABEL_WIDTH: u32 = 230;
const LANE_AREA: f64 = 470.0;
const LANE_AXIS: u32 = 26;

/// Spans as bars on one time axis (a Gantt chart): which step ran on which target when, for how
/// long, and where it failed. `now` is the right end of the axis for spans still running, in
/// seconds after the start.
pub(crate) fn timeline(caption: &Caption, spans: &[Span], now: f64) -> String {
    if spans.is_empty() {
        return no_data(caption);
    }
    let last = spans
        .iter()
        .filter_map(|s| s.end.or(s.start.map(|_| now)))
        .fold(0.0_f64, f64::max);
    let total = if last.is_finite() && last > 0.0 {
        last
    } else {
        1.0
    };
    let x_of = |secs: f64| f64::from(LANE_LABEL_WIDTH) + (secs / total).clamp(0.0, 1.0) * LANE_AREA;
    let width = LANE_LABEL_WIDTH + LANE_AREA as u32 + 150;
    let height = LANE_AXIS + spans.len() as u32 * (LANE_HEIGHT + LANE_GAP) + 4;
    let mut svg = open_wide(caption, width, height);
    // The axis: the start, a quarter, half, three quarters and the end, in readable durations.
    for quarter in 0..=4 {
        let secs = total * f64::from(quarter) / 4.0;
        let x = x_of(secs);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#d9e2ec"/><text x="{x:.1}" y="14" text-anchor="middle" fill="#52606d" font-size="11">{label}</text>"##,
            top = LANE_AXIS - 6,
            bottom = height - 2,
            label = escape(&short_duration(secs)),
        );
    }
    for (i, span) in spans.iter().enumerate() {
        let y = LANE_AXIS + i as u32 * (LANE_HEIGHT + LANE_GAP);
        let ty = y + LANE_HEIGHT / 2 + 5;
        let tone = span.tone;
        let bar = match span.start {
            Some(start) => {
                let end = span.end.unwrap_or(now).max(start);
                let (x0, x1) = (x_of(start), x_of(end));
                let after = format!(
                    "{} {} · {}",
                    tone.mark(),
                    escape(&span.word),
                    escape(&short_duration(end - start))
                );
                format!(
                    r##"<rect x="{x0:.1}" y="{y}" width="{w:.1}" height="{LANE_HEIGHT}" fill="{fill}" stroke="{ink}" {stroke}/><text x="{tx:.1}" y="{ty}" fill="#1f2933">{after}</text>"##,
                    w = (x1 - x0).max(3.0),
                    fill = tone.fill(),
                    ink = tone.ink(),
                    stroke = tone.stroke(),
                    tx = (x1 - x0).max(3.0) + x0 + 6.0,
                )
            }
            None => format!(
                r##"<text x="{LANE_LABEL_WIDTH}" y="{ty}" fill="#52606d">{} {}</text>"##,
                tone.mark(),
                escape(&span.word)
            ),
        };
        let _ = write!(
            svg,
            r##"<g><title>{tooltip}</title><text x="{lx}" y="{ty}" text-anchor="end" fill="#1f2933">{label}</text>{bar}</g>"##,
            tooltip = escape(&span.tooltip),
            lx = LANE_LABEL_WIDTH - 8,
            label = escape(&clip(&span.label, 30)),
        );
    }
    close(svg)
}

/// "0 s", "40 ms", "2.5 s", "1 min 05 s", "1 h 02 min": short enough for an axis.
fn short_duration(secs: f64) -> String {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    if secs == 0.0 {
        "0 s".into()
    } else if secs < 1.0 {
        format!("{} ms", (secs * 1000.0).round().max(1.0))
    } else if secs < 10.0 {
        let text = format!("{secs:.1}");
        format!("{} s", text.trim_end_matches(".0"))
    } else if secs < 60.0 {
        format!("{} s", secs.round())
    } else if secs < 3600.0 {
        let whole = secs.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        let whole = secs.round() as u64;
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar strips

/// A band on a calendar lane, in hours from the strip's start.
pub(crate) struct Band {
    pub from: f64,
    pub to: f64,
    /// `Good` for a window's opening, `Bad` for a freeze.
    pub tone: Tone,
    pub tooltip: String,
}

/// A moment on a calendar lane: a deployment that happened or a promotion planned.
pub(crate) struct Marker {
    pub at: f64,
    pub tone: Tone,
    pub tooltip: String,
    pub href: Option<String>,
}

/// One environment's row of the calendar.
pub(crate) struct Lane {
    pub label: String,
    pub bands: Vec<Band>,
    pub markers: Vec<Marker>,
}

/// The strip's days, and where "now" falls.
pub(crate) struct CalendarStrip<'a> {
    pub caption: Caption<'a>,
    /// One label per day ("Mon 14"); the strip spans `24 × days.len()` hours.
    pub days: Vec<String>,
    pub now: f64,
    pub lanes: Vec<Lane>,
}

const CAL_LABEL_WIDTH: u32 = 120;
const CAL_DAY_WIDTH: f64 = 40.0;
const CAL_LANE_HEIGHT: u32 = 30;
const CAL_HEADER: u32 = 34;

/// Environments as lanes over days: windows shaded, freezes as hatched bands across them,
/// deployments and planned promotions as marks, and a line at now.
pub(crate) fn calendar_strip(strip: &CalendarStrip) -> String {
    if strip.days.is_empty() || strip.lanes.is_empty() {
        return no_data(&strip.caption);
    }
    let hours = 24.0 * strip.days.len() as f64;
    let area = CAL_DAY_WIDTH * strip.days.len() as f64;
    let x_of = |h: f64| f64::from(CAL_LABEL_WIDTH) + (h / hours).clamp(0.0, 1.0) * area;
    let width = CAL_LABEL_WIDTH + area as u32 + 10;
    let height = CAL_HEADER + strip.lanes.len() as u32 * (CAL_LANE_HEIGHT + 6) + 8;
    let mut svg = open_wide(&strip.caption, width, height);
    svg.push_str(r##"<defs><pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fef3f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b42318" stroke-width="2"/></pattern></defs>"##);
    for (i, day) in strip.days.iter().enumerate() {
        let x = x_of(24.0 * i as f64);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#d9e2ec"/><text x="{tx:.1}" y="{ty}" text-anchor="middle" fill="#52606d" font-size="10">{label}</text>"##,
            top = CAL_HEADER - 4,
            bottom = height - 4,
            tx = x + CAL_DAY_WIDTH / 2.0,
            ty = if i % 2 == 0 { 14 } else { 26 },
            label = escape(day),
        );
    }
    for (i, lane) in strip.lanes.iter().enumerate() {
        let y = CAL_HEADER + i as u32 * (CAL_LANE_HEIGHT + 6);
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" fill="#1f2933">{label}</text><rect x="{CAL_LABEL_WIDTH}" y="{y}" width="{area:.1}" height="{CAL_LANE_HEIGHT}" fill="#f5f7fa" stroke="#d9e2ec"/>"##,
            lx = CAL_LABEL_WIDTH - 8,
            ty = y + CAL_LANE_HEIGHT / 2 + 5,
            label = escape(&clip(&lane.label, 16)),
        );
        // Openings first, freezes over them: a frozen evening reads frozen.
        let mut bands: Vec<&Band> = lane.bands.iter().collect();
        bands.sort_by_key(|b| b.tone == Tone::Bad);
        for band in bands {
            let (x0, x1) = (x_of(band.from), x_of(band.to));
            let (fill, inset) = if band.tone == Tone::Bad {
                ("url(#frozen)".to_string(), 0)
            } else {
                (band.tone.fill().to_string(), 4)
            };
            let _ = write!(
                svg,
                r##"<g><title>{tip}</title><rect x="{x0:.1}" y="{by}" width="{w:.1}" height="{bh}" fill="{fill}" stroke="{ink}" {stroke}/></g>"##,
                tip = escape(&band.tooltip),
                w = (x1 - x0).max(1.5),
                by = y + inset,
                bh = CAL_LANE_HEIGHT - 2 * inset,
                ink = band.tone.ink(),
                stroke = if band.tone == Tone::Bad {
                    r#"stroke-width="1""#
                } else {
                    band.tone.stroke()
                },
            );
        }
        for marker in &lane.markers {
            let x = x_of(marker.at);
            let inner = format!(
                r##"<g><title>{tip}</title><circle cx="{x:.1}" cy="{cy}" r="6" fill="#ffffff" stroke="{ink}" stroke-width="2"/><text x="{x:.1}" y="{ty}" text-anchor="middle" fill="{ink}" font-size="9">{mark}</text></g>"##,
                tip = escape(&marker.tooltip),
                cy = y + CAL_LANE_HEIGHT / 2,
                ty = y + CAL_LANE_HEIGHT / 2 + 3,
                ink = marker.tone.ink(),
                mark = marker.tone.mark(),
            );
            svg.push_str(&linked(marker.href.as_deref(), &inner));
        }
    }
    if (0.0..=hours).contains(&strip.now) {
        let x = x_of(strip.now);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#1d4ed8" stroke-width="2"/><text x="{x:.1}" y="{bottom}" text-anchor="middle" fill="#1d4ed8" font-size="10">now</text>"##,
            top = CAL_HEADER - 6,
            bottom = height - 1,
        );
    }
    close(svg)
}

// ---------------------------------------------------------------------------------------------
// Run trend

/// One run of a suite: how many of its tests passed, failed (or errored) and were skipped.
pub(crate) struct RunColumn {
    /// Under the column (the release's version).
    pub label: String,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Drawn outlined: the runs of the release the page is about.
    pub current: bool,
    pub tooltip: String,
    pub href: Option<String>,
}

const TREND_COLUMN: u32 = 26;
const TREND_HEIGHT: u32 = 140;
const TREND_TOP: u32 = 18;
const TREND_LEFT: u32 = 44;

/// A suite's runs side by side, oldest on the left: each column stacks passed (bottom), failed
/// and skipped tests, scaled to the largest run, so a drop in passing or a jump in failures shows.
pub(crate) fn run_trend(caption: &Caption, columns: &[RunColumn]) -> String {
    let most = columns
        .iter()
        .map(|c| c.passed + c.failed + c.skipped)
        .max()
        .unwrap_or(0);
    if most == 0 {
        return no_data(caption);
    }
    let width = TREND_LEFT + columns.len() as u32 * TREND_COLUMN + 8;
    let height = TREND_TOP + TREND_HEIGHT + 44;
    let base = TREND_TOP + TREND_HEIGHT;
    let mut svg = open_wide(caption, width.max(240), height);
    let _ = write!(
        svg,
        r##"<text x="{x}" y="{top}" text-anchor="end" fill="#52606d">{most}</text><text x="{x}" y="{base}" text-anchor="end" fill="#52606d">0</text><line x1="{TREND_LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#9aa5b1"/>"##,
        x = TREND_LEFT - 6,
        top = TREND_TOP + 10,
        right = width - 4,
    );
    for (i, column) in columns.iter().enumerate() {
        let x = TREND_LEFT + i as u32 * TREND_COLUMN + 3;
        let w = TREND_COLUMN - 6;
        let scale = |n: u64| (n as f64 / most as f64 * f64::from(TREND_HEIGHT)).round();
        let mut inner = format!("<title>{}</title>", escape(&column.tooltip));
        let mut top = f64::from(base);
        for (count, tone) in [
            (column.passed, Tone::Good),
            (column.failed, Tone::Bad),
            (column.skipped, Tone::Idle),
        ] {
            if count == 0 {
                continue;
            }
            let h = scale(count).max(2.0);
            top -= h;
            let _ = write!(
                inner,
                r#"<rect x="{x}" y="{top}" width="{w}" height="{h}" fill="{}" stroke="{}" {}/>"#,
                tone.fill(),
                tone.ink(),
                tone.stroke(),
            );
        }
        if column.current {
            let _ = write!(
                inner,
                r##"<rect x="{ox}" y="{oy}" width="{ow}" height="{oh}" fill="none" stroke="#1d4ed8" stroke-width="2" stroke-dasharray="2 2"/>"##,
                ox = x - 2,
                oy = top - 2.0,
                ow = w + 4,
                oh = f64::from(base) - top + 4.0,
            );
        }
        if column.failed > 0 {
            let _ = write!(
                inner,
                r##"<text x="{cx}" y="{ty}" text-anchor="middle" fill="{ink}" font-size="11">{mark}</text>"##,
                cx = x + w / 2,
                ty = top - 4.0,
                ink = Tone::Bad.ink(),
                mark = Tone::Bad.mark(),
            );
        }
        let _ = write!(
            inner,
            r##"<text transform="translate({lx} {ly}) rotate(-40)" text-anchor="end" fill="#1f2933" font-size="11"{weight}>{label}</text>"##,
            lx = x + w / 2 + 4,
            ly = base + 14,
            weight = if column.current {
                r#" font-weight="bold""#
            } else {
                ""
            },
            label = escape(&clip(&column.label, 8)),
        );
        svg.push_str(&linked(column.href.as_deref(), &format!("<g>{inner}</g>")));
    }
    close(svg)
}

// ---------------------------------------------------------------------------------------------
// History strip

/// One run of a test in a history strip.
pub(crate) struct Tick {
    pub tone: Tone,
    pub tooltip: String,
}

const TICK: u32 = 16;

/// A test's outcome run by run, oldest on the left: one marked square per run.
pub(crate) fn history_strip(caption: &Caption, ticks: &[Tick]) -> String {
    if ticks.is_empty() {
        return no_data(caption);
    }
    let width = ticks.len() as u32 * (TICK + 2) + 2;
    let mut svg = open(caption, width, TICK + 4);
    for (i, tick) in ticks.iter().enumerate() {
        let x = 2 + i as u32 * (TICK + 2);
        let _ = write!(
            svg,
            r##"<g><title>{tooltip}</title><rect x="{x}" y="2" width="{TICK}" height="{TICK}" fill="{fill}" stroke="{ink}" {stroke}/><text x="{cx}" y="{ty}" text-anchor="middle" fill="{ink}" font-size="11">{mark}</text></g>"##,
            tooltip = escape(&tick.tooltip),
            fill = tick.tone.fill(),
            ink = tick.tone.ink(),
            stroke = tick.tone.stroke(),
            cx = x + TICK / 2,
            ty = 2 + TICK - 4,
            mark = tick.tone.mark(),
        );
    }
    close(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small well-formedness check: every tag closes in order, attributes are quoted, and text
    /// holds no raw `<` and no `&` that does not start an entity.
    fn assert_well_formed(svg: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert_text(text);
            let end = rest[start..].find('>').expect("every tag closes") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "a raw < inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "closing order in {svg}");
            } else {
                let name: String = tag
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                assert!(!name.is_empty(), "a tag without a name");
                assert_eq!(
                    tag.matches('"').count() % 2,
                    0,
                    "unbalanced quotes in <{tag}>"
                );
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        assert_text(rest);
        assert!(open.is_empty(), "unclosed tags {open:?}");
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("viewBox=\"0 0 "), "{svg}");
    }

    fn assert_text(text: &str) {
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "a raw & in {text}"
            );
        }
    }

    fn caption<'a>(title: &'a str) -> Caption<'a> {
        Caption {
            title,
            description: "what the picture shows",
        }
    }

    fn cell(tone: Tone, label: &str) -> Option<GridCell> {
        Some(GridCell {
            tone,
            label: label.to_string(),
            detail: "3 min ago".to_string(),
            tooltip: format!("{label} in DEV"),
            href: Some("/deployments/1?a=1&b=2".to_string()),
        })
    }

    #[test]
    fn a_status_grid_is_well_formed_names_itself_and_marks_every_tone() {
        let svg = status_grid(&StatusGrid {
            caption: caption("Dashboard"),
            columns: vec!["DEV".into(), "INT".into(), "PROD".into()],
            rows: vec![GridRow {
                label: "pets".into(),
                href: Some("/projects/pets".into()),
                cells: vec![cell(Tone::Good, "1.0.0"), None, cell(Tone::Bad, "1.1.0")],
            }],
        });
        assert_well_formed(&svg);
        assert!(svg.contains("<title>Dashboard</title>"), "{svg}");
        assert!(svg.contains("<desc>what the picture shows</desc>"), "{svg}");
        assert!(svg.contains("✓ 1.0.0") && svg.contains("✕ 1.1.0"), "{svg}");
        assert!(svg.contains("href=\"/deployments/1?a=1&amp;b=2\""), "{svg}");
        assert!(svg.contains("nothing here"), "an empty cell says so: {svg}");
    }

    #[test]
    fn every_text_is_escaped_so_no_label_can_inject_markup() {
        let evil = "<script>alert('x')</script> & \"q\" \u{0}";
        let svg = status_grid(&StatusGrid {
            caption: Caption {
                title: evil,
                description: evil,
            },
            columns: vec![evil.into()],
            rows: vec![GridRow {
                label: evil.into(),
                href: Some(evil.into()),
                cells: vec![Some(GridCell {
                    tone: Tone::Warn,
                    label: evil.into(),
                    detail: evil.into(),
                    tooltip: evil.into(),
                    href: Some("\"><script>".into()),
                })],
            }],
        });
        assert_well_formed(&svg);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains('\u{0}'), "control characters are replaced");
        for picture in [
            pipeline(
                &caption(evil),
                &[Stage {
                    name: evil.into(),
                    tone: Tone::Info,
                    state: evil.into(),
                    href: Some(evil.into()),
                }],
            ),
            bar_chart(
                &caption(evil),
                evil,
                &[Bar {
                    label: evil.into(),
                    value: 1.0,
                    tone: Tone::Good,
                }],
            ),
            time_series(&Series {
                caption: caption(evil),
                unit: evil,
                points: vec![Point {
                    label: evil.into(),
                    value: 1.0,
                }],
                goal: Some(2.0),
            }),
        ] {
            assert_well_formed(&picture);
            assert!(!picture.contains("<script"), "{picture}");
        }
    }

    #[test]
    fn empty_data_says_no_data_in_words() {
        let pictures = [
            status_grid(&StatusGrid {
                caption: caption("grid"),
                columns: vec!["DEV".into()],
                rows: vec![],
            }),
            status_grid(&StatusGrid {
                caption: caption("grid"),
                columns: vec![],
                rows: vec![GridRow {
                    label: "pets".into(),
                    href: None,
                    cells: vec![],
                }],
            }),
            pipeline(&caption("pipeline"), &[]),
            bar_chart(&caption("bars"), "min", &[]),
            bar_chart(
                &caption("bars"),
                "min",
                &[Bar {
                    label: "x".into(),
                    value: f64::NAN,
                    tone: Tone::Good,
                }],
            ),
            time_series(&Series {
                caption: caption("line"),
                unit: "min",
                points: vec![],
                goal: Some(5.0),
            }),
        ];
        for svg in pictures {
            assert_well_formed(&svg);
            assert!(svg.contains(">No data</text>"), "{svg}");
            assert!(svg.contains("<title>"), "{svg}");
        }
    }

    #[test]
    fn a_pipeline_joins_its_stages_in_order_with_arrows() {
        let stages: Vec<Stage> = ["DEV", "INT", "PROD"]
            .iter()
            .zip([Tone::Good, Tone::Warn, Tone::Idle])
            .map(|(name, tone)| Stage {
                name: name.to_string(),
                tone,
                state: format!("{name} state"),
                href: None,
            })
            .collect();
        let svg = pipeline(&caption("Lifecycle"), &stages);
        assert_well_formed(&svg);
        let dev = svg.find(">DEV<").expect("DEV is drawn");
        let int = svg.find(">INT<").expect("INT is drawn");
        let prod = svg.find(">PROD<").expect("PROD is drawn");
        assert!(dev < int && int < prod, "{svg}");
        assert_eq!(svg.matches("<path ").count(), 2, "two arrows: {svg}");
        assert!(
            svg.contains("! INT state") && svg.contains("– PROD state"),
            "{svg}"
        );
    }

    #[test]
    fn bars_scale_to_the_largest_and_survive_extremes() {
        let svg = bar_chart(
            &caption("Deployments per week"),
            "deployments",
            &[
                Bar {
                    label: "big".into(),
                    value: f64::MAX,
                    tone: Tone::Good,
                },
                Bar {
                    label: "zero".into(),
                    value: 0.0,
                    tone: Tone::Idle,
                },
                Bar {
                    label: "negative".into(),
                    value: -5.0,
                    tone: Tone::Bad,
                },
                Bar {
                    label: "unbounded".into(),
                    value: f64::INFINITY,
                    tone: Tone::Warn,
                },
            ],
        );
        assert_well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(
            svg.contains("width=\"360\""),
            "the largest bar fills the area: {svg}"
        );
        assert!(
            svg.contains("no data</text>") && !svg.contains("— deployments"),
            "a value that is not a number says so in words: {svg}"
        );

        let halves = bar_chart(
            &caption("halves"),
            "min",
            &[
                Bar {
                    label: "a".into(),
                    value: 10.0,
                    tone: Tone::Good,
                },
                Bar {
                    label: "b".into(),
                    value: 5.0,
                    tone: Tone::Good,
                },
            ],
        );
        assert!(
            halves.contains("width=\"360\"") && halves.contains("width=\"180\""),
            "{halves}"
        );
    }

    #[test]
    fn a_time_series_draws_its_goal_and_every_point() {
        let svg = time_series(&Series {
            caption: caption("Lead time"),
            unit: "h",
            points: (0..30)
                .map(|i| Point {
                    label: format!("day {i}"),
                    value: f64::from(i % 7),
                })
                .collect(),
            goal: Some(4.0),
        });
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<circle ").count(), 30);
        assert!(svg.contains("goal 4"), "{svg}");
        assert!(svg.contains("day 0") && svg.contains("day 29"), "{svg}");

        let flat = time_series(&Series {
            caption: caption("flat"),
            unit: "h",
            points: vec![Point {
                label: "only".into(),
                value: 1e308,
            }],
            goal: Some(f64::NAN),
        });
        assert_well_formed(&flat);
        assert!(!flat.contains("NaN") && !flat.contains("goal"), "{flat}");

        let zeros = time_series(&Series {
            caption: caption("none deployed"),
            unit: "deployments",
            points: (0..6)
                .map(|i| Point {
                    label: format!("week {i}"),
                    value: 0.0,
                })
                .collect(),
            goal: None,
        });
        assert_well_formed(&zeros);
        let axis_labels: Vec<&str> = zeros
            .split("text-anchor=\"end\" font-size=\"11\" fill=\"#52606d\">")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap_or_default())
            .collect();
        // The axis's top and bottom come first; the last point's label follows them.
        assert_eq!(axis_labels[..2], ["1", "0"], "{zeros}");
    }

    #[test]
    fn a_bar_label_of_the_dora_widget_is_shown_whole() {
        let svg = bar_chart(
            &caption("dora"),
            "",
            &[
                Bar {
                    label: "Deployment-days per week".into(),
                    value: 2.5,
                    tone: Tone::Info,
                },
                Bar {
                    label: "Recovery time, median (min)".into(),
                    value: f64::NAN,
                    tone: Tone::Idle,
                },
            ],
        );
        assert_well_formed(&svg);
        for whole in [
            ">Deployment-days per week<",
            ">Recovery time, median (min)<",
        ] {
            assert!(svg.contains(whole), "{whole} in {svg}");
        }
        assert!(!svg.contains('…'), "{svg}");
    }

    #[test]
    fn long_labels_are_clipped_with_the_whole_text_in_a_tooltip() {
        let long = "a-very-long-environment-name-that-goes-on";
        let svg = status_grid(&StatusGrid {
            caption: caption("grid"),
            columns: vec![long.into()],
            rows: vec![GridRow {
                label: long.into(),
                href: None,
                cells: vec![cell(Tone::Info, long)],
            }],
        });
        assert_well_formed(&svg);
        assert!(svg.contains(&format!("<title>{long}</title>")), "{svg}");
        assert!(svg.contains('…'), "{svg}");
    }

    #[test]
    fn a_timeline_places_each_task_on_one_axis_and_marks_the_failure() {
        let spans = vec![
            Span {
                label: "1. Warm up · app-01".into(),
                start: Some(0.0),
                end: Some(2.0),
                tone: Tone::Good,
                word: "succeeded".into(),
                tooltip: "succeeded, attempt 1".into(),
            },
            Span {
                label: "2. Migrate <db> · app-01".into(),
                start: Some(2.0),
                end: Some(4.0),
                tone: Tone::Bad,
                word: "failed".into(),
                tooltip: "failed: exit 1".into(),
            },
            Span {
                label: "3. Smoke · app-01".into(),
                start: None,
                end: None,
                tone: Tone::Idle,
                word: "pending".into(),
                tooltip: "pending".into(),
            },
        ];
        let svg = timeline(&caption("Deployment 1 as a timeline"), &spans, 5.0);
        assert_well_formed(&svg);
        assert!(svg.contains("✕ failed · 2 s"), "{svg}");
        assert!(svg.contains("✓ succeeded · 2 s"), "{svg}");
        assert!(svg.contains("– pending"), "{svg}");
        assert!(svg.contains("2. Migrate &lt;db&gt; · app-01"), "{svg}");
        // The second bar starts half-way along the axis (2 s of 4).
        assert!(svg.contains(r#"<rect x="465.0""#), "{svg}");
        assert!(timeline(&caption("nothing"), &[], 0.0).contains("No data"));
        assert_eq!(short_duration(0.0), "0 s");
        assert_eq!(short_duration(0.0404), "40 ms");
        assert_eq!(short_duration(0.0001), "1 ms");
        assert_eq!(short_duration(2.54), "2.5 s");
        assert_eq!(short_duration(65.0), "1 min 05 s");
        assert_eq!(short_duration(3725.0), "1 h 02 min");
    }

    #[test]
    fn a_calendar_strip_shades_openings_hatches_freezes_and_links_marks() {
        let strip = CalendarStrip {
            caption: caption("The next two days"),
            days: vec!["Mon 14".into(), "Tue 15".into()],
            now: 12.0,
            lanes: vec![Lane {
                label: "PROD-EU".into(),
                bands: vec![
                    Band {
                        from: 20.0,
                        to: 23.0,
                        tone: Tone::Good,
                        tooltip: "open 20:00–23:00".into(),
                    },
                    Band {
                        from: 24.0,
                        to: 48.0,
                        tone: Tone::Bad,
                        tooltip: "freeze: year-end <all>".into(),
                    },
                ],
                markers: vec![Marker {
                    at: 10.0,
                    tone: Tone::Good,
                    tooltip: "deployment 4 succeeded".into(),
                    href: Some("/deployments/4".into()),
                }],
            }],
        };
        let svg = calendar_strip(&strip);
        assert_well_formed(&svg);
        assert!(svg.contains("url(#frozen)"), "{svg}");
        assert!(svg.contains("freeze: year-end &lt;all&gt;"), "{svg}");
        assert!(svg.contains(r#"<a href="/deployments/4">"#), "{svg}");
        assert!(svg.contains(">now</text>"), "{svg}");
        // The freeze is drawn after the opening, so it lies on top.
        assert!(svg.find("open 20:00").unwrap() < svg.find("freeze: year-end").unwrap());
        let empty = CalendarStrip {
            caption: caption("none"),
            days: Vec::new(),
            now: 0.0,
            lanes: Vec::new(),
        };
        assert!(calendar_strip(&empty).contains("No data"));
    }

    #[test]
    fn a_run_trend_stacks_each_run_and_marks_the_current_release() {
        let column = |label: &str, passed, failed, current| RunColumn {
            label: label.into(),
            passed,
            failed,
            skipped: 1,
            current,
            tooltip: format!("{label}: {passed} passed, {failed} failed <run>"),
            href: Some(format!("/runs/{label}")),
        };
        let svg = run_trend(
            &caption("e2e in MET"),
            &[column("1.0.0", 9, 0, false), column("1.1.0", 6, 3, true)],
        );
        assert_well_formed(&svg);
        assert!(
            svg.contains("1.1.0: 6 passed, 3 failed &lt;run&gt;"),
            "{svg}"
        );
        assert!(svg.contains(r#"<a href="/runs/1.1.0">"#), "{svg}");
        assert!(svg.contains(r#"role="group""#), "{svg}");
        assert_eq!(svg.matches("stroke-dasharray=\"2 2\"").count(), 1, "{svg}");
        assert_eq!(svg.matches(">✕</text>").count(), 1, "{svg}");
        assert!(run_trend(&caption("none"), &[]).contains("No data"));
    }

    #[test]
    fn a_history_strip_has_one_marked_square_per_run() {
        let ticks = [Tone::Good, Tone::Bad, Tone::Warn].map(|tone| Tick {
            tone,
            tooltip: "run & more".into(),
        });
        let svg = history_strip(&caption("test_login"), &ticks);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(
            svg.contains(">✓</text>") && svg.contains(">✕</text>") && svg.contains(">!</text>")
        );
        assert!(svg.contains("run &amp; more"));
        assert!(history_strip(&caption("none"), &[]).contains("No data"));
    }
}

// ---------------------------------------------------------------------------------------------
// Run timeline

mod run_timeline;

pub(crate) use run_timeline::{run_timeline, FireMark, RunBar, RunTimeline};
