//! A batch's run timeline: its runs as bars from start to end on one time axis (24 hours or 7
//! days), each coloured and marked by its outcome, and its fire times that were started late or
//! missed marked above the lane; a legend in words under it. Pure, like the rest of `charts`.

use std::fmt::Write as _;

use super::{close, escape, no_data, open_wide, Caption, Tone};

/// One run, in seconds after the window's start (clamped to the window when drawn).
pub(crate) struct RunBar {
    pub start: f64,
    pub end: f64,
    pub tone: Tone,
    pub tooltip: String,
}

/// A fire time worth a mark: started late (`Warn`) or missed (`Bad`).
pub(crate) struct FireMark {
    pub at: f64,
    pub tone: Tone,
    pub tooltip: String,
}

pub(crate) struct RunTimeline<'a> {
    pub caption: Caption<'a>,
    /// The window's length in seconds.
    pub span: f64,
    /// Labels along the axis, at seconds after the start.
    pub ticks: Vec<(f64, String)>,
    pub runs: Vec<RunBar>,
    pub fires: Vec<FireMark>,
}

const LEFT: f64 = 10.0;
const AREA: f64 = 700.0;
const AXIS_Y: u32 = 16;
const MARKS_Y: u32 = 30;
const LANE_Y: u32 = 44;
const LANE_H: u32 = 26;

/// Runs and marked fire times over one window.
pub(crate) fn run_timeline(t: &RunTimeline) -> String {
    if t.runs.is_empty() && t.fires.is_empty() {
        return no_data(&t.caption);
    }
    let span = if t.span.is_finite() && t.span > 0.0 {
        t.span
    } else {
        1.0
    };
    let x_of = |secs: f64| LEFT + (secs / span).clamp(0.0, 1.0) * AREA;
    let width = (LEFT + AREA + 10.0) as u32;
    let height = LANE_Y + LANE_H + 30;
    let mut svg = open_wide(&t.caption, width, height);
    for (secs, label) in &t.ticks {
        let x = x_of(*secs);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#d9e2ec"/><text x="{x:.1}" y="{AXIS_Y}" text-anchor="middle" fill="#52606d" font-size="10">{label}</text>"##,
            top = AXIS_Y + 4,
            bottom = LANE_Y + LANE_H,
            label = escape(label),
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{LANE_Y}" width="{AREA}" height="{LANE_H}" fill="#f5f7fa" stroke="#d9e2ec"/>"##
    );
    for run in &t.runs {
        let (x0, x1) = (x_of(run.start), x_of(run.end));
        let _ = write!(
            svg,
            r##"<g><title>{tip}</title><rect x="{x0:.1}" y="{y}" width="{w:.1}" height="{h}" fill="{fill}" stroke="{ink}" {stroke}/></g>"##,
            tip = escape(&run.tooltip),
            w = (x1 - x0).max(3.0),
            y = LANE_Y + 3,
            h = LANE_H - 6,
            fill = run.tone.fill(),
            ink = run.tone.ink(),
            stroke = run.tone.stroke(),
        );
    }
    for fire in &t.fires {
        let x = x_of(fire.at);
        let _ = write!(
            svg,
            r##"<g><title>{tip}</title><circle cx="{x:.1}" cy="{MARKS_Y}" r="6" fill="#ffffff" stroke="{ink}" stroke-width="2"/><text x="{x:.1}" y="{ty}" text-anchor="middle" fill="{ink}" font-size="9">{mark}</text></g>"##,
            tip = escape(&fire.tooltip),
            ty = MARKS_Y + 3,
            ink = fire.tone.ink(),
            mark = fire.tone.mark(),
        );
    }
    let count = |tone: Tone| t.runs.iter().filter(|r| r.tone == tone).count();
    let marks = |tone: Tone| t.fires.iter().filter(|f| f.tone == tone).count();
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{y}" fill="#1f2933" font-size="11">{} {} succeeded · {} {} failed · {} {} running · {} {} started late · {} {} missed</text>"##,
        Tone::Good.mark(),
        count(Tone::Good),
        Tone::Bad.mark(),
        count(Tone::Bad),
        Tone::Info.mark(),
        count(Tone::Info),
        Tone::Warn.mark(),
        marks(Tone::Warn),
        Tone::Bad.mark(),
        marks(Tone::Bad),
        y = LANE_Y + LANE_H + 20,
    );
    close(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(runs: Vec<RunBar>, fires: Vec<FireMark>) -> String {
        run_timeline(&RunTimeline {
            caption: Caption {
                title: "Runs of <export>, last 24 hours",
                description: "d",
            },
            span: 86_400.0,
            ticks: vec![(0.0, "00:00".into()), (43_200.0, "12:00".into())],
            runs,
            fires,
        })
    }

    #[test]
    fn runs_are_bars_and_late_or_missed_fires_are_marked_with_a_legend_in_words() {
        let svg = timeline(
            vec![
                RunBar {
                    start: 3_600.0,
                    end: 7_200.0,
                    tone: Tone::Good,
                    tooltip: "ok".into(),
                },
                RunBar {
                    start: 43_200.0,
                    end: 43_260.0,
                    tone: Tone::Bad,
                    tooltip: "failed with exit code 1 <stderr>".into(),
                },
            ],
            vec![FireMark {
                at: 50_000.0,
                tone: Tone::Bad,
                tooltip: "missed".into(),
            }],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Runs of &lt;export&gt;"), "{svg}");
        assert!(svg.contains("exit code 1 &lt;stderr&gt;"), "{svg}");
        assert_eq!(
            svg.matches("<rect").count(),
            3,
            "the lane and two runs: {svg}"
        );
        // A run of an hour out of 24 is 1/24 of the 700 px area.
        assert!(svg.contains(r#"width="29.2""#), "{svg}");
        assert!(
            svg.contains(
                "✓ 1 succeeded · ✕ 1 failed · ▶ 0 running · ! 0 started late · ✕ 1 missed"
            ),
            "{svg}"
        );
    }

    #[test]
    fn nothing_to_draw_says_so() {
        assert!(timeline(Vec::new(), Vec::new()).contains("No data"));
    }
}
