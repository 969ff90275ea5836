//! Charts of a single run: the thundering herd (offered load, first
//! attempts and retries stacked, against capacity, with goodput and event
//! markers), the node timeline (each node's state over time, with a
//! utilization strip) and latency (p50 and p99 per bin with the SLO).

use plotters::coord::Shift;
use plotters::prelude::*;

use std::collections::HashMap;

use super::data::{Event, NodeSeries, RunBin, RunData};
use super::style::{self, Mark, TimeAxis, number_label, series};
use super::{DrawResult, Window, with_legend_column};
use crate::time::parse_duration;

/// The bins overlapping the window, as steps clipped to it.
fn steps(bins: &[RunBin], win: &Window, value: impl Fn(&RunBin) -> f64) -> Vec<(f64, f64)> {
    bins.iter()
        .filter(|b| b.t1 > win.from && b.t0 < win.to)
        .flat_map(|b| {
            let v = value(b);
            [(b.t0.max(win.from), v), (b.t1.min(win.to), v)]
        })
        .collect()
}

/// Runs of consecutive values, split where a value is missing (so lines
/// show gaps instead of bridging them).
fn segments(points: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    points
        .split(Option::is_none)
        .filter(|run| !run.is_empty())
        .map(|run| run.iter().flatten().copied().collect())
        .collect()
}

/// A line with gaps where values are missing; a lone value between gaps is
/// a dot, since a line needs two points.
fn draw_broken_line<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, super::Plot2d>,
    points: &[Option<(f64, f64)>],
    colour: RGBColor,
    width: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for segment in segments(points) {
        if segment.len() == 1 {
            chart.draw_series(segment.iter().map(|p| Circle::new(*p, width + 1, colour.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(segment, colour.stroke_width(width)))?;
        }
    }
    Ok(())
}

/// What a labelled moment of the run is, which sets its colour, the line
/// drawn through the plot and its priority for a place in the label strip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NoteKind {
    Fault,
    Traffic,
    Failover,
    Restored,
    ScaleOut,
    ScaleIn,
    Crash,
}

impl NoteKind {
    fn colour(self) -> RGBColor {
        match self {
            NoteKind::Fault | NoteKind::Failover => style::BLACK,
            NoteKind::Traffic => series::OFFERED,
            NoteKind::Restored => style::BLUISH_GREEN,
            NoteKind::ScaleOut => style::SCALE_OUT,
            NoteKind::ScaleIn => style::SCALE_IN,
            NoteKind::Crash => style::VERMILLION,
        }
    }

    /// Lower comes first when the strip has too little room for all.
    fn priority(self) -> usize {
        match self {
            NoteKind::Fault => 0,
            NoteKind::Restored => 1,
            NoteKind::Failover => 2,
            NoteKind::Traffic => 3,
            NoteKind::ScaleOut | NoteKind::ScaleIn => 4,
            NoteKind::Crash => 5,
        }
    }
}

/// A labelled moment of the run: "app[1], app[2] crashed" at 120 s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    pub t: f64,
    pub text: String,
    pub kind: NoteKind,
    /// Lower comes first when the strip has too little room for all: the
    /// kind's, or a fault's for the crashes a fault caused.
    pub priority: usize,
}

/// The nodes of one service as a label: "app[1], app[2]", or the count
/// when more than three would not fit ("api: 4 nodes").
fn node_list(service: &str, nodes: &[u32]) -> String {
    if nodes.len() <= 3 {
        nodes.iter().map(|n| format!("{service}[{n}]")).collect::<Vec<_>>().join(", ")
    } else {
        format!("{service}: {} nodes", nodes.len())
    }
}

/// The run's story from events.csv, in time order: faults named by
/// service and kind, crashes at one instant merged into one label per
/// service and cause, failovers, scale events (▲ out, ▼ in), traffic
/// changes, and each SLO restoration.
pub(crate) fn notes(r: &RunData, win: &Window) -> Vec<Note> {
    let mut out: Vec<Note> = Vec::new();
    let events: Vec<&Event> = r.events.iter().filter(|e| e.t >= win.from && e.t <= win.to).collect();
    let mut i = 0;
    while i < events.len() {
        let e = events[i];
        let svc = style::clip(&e.service, style::NAME_CHARS);
        let arrow = |d: &str| d.replace("->", "→");
        let note = |text: String, kind: NoteKind| Some(Note { t: e.t, text, kind, priority: kind.priority() });
        let made = match e.event.as_str() {
            "crash" => {
                // Crashes of this service at this instant with this cause.
                let cause = e.detail.split(':').next().unwrap_or("").trim().to_string();
                let mut nodes = Vec::new();
                let mut j = i;
                while j < events.len() && events[j].t == e.t {
                    let c = events[j];
                    if c.event == "crash"
                        && c.service == e.service
                        && c.detail.split(':').next().unwrap_or("").trim() == cause
                    {
                        nodes.extend(c.node);
                    }
                    j += 1;
                }
                // Skip the later rows of this group (they were merged).
                if out.iter().any(|n| n.t == e.t && n.kind == NoteKind::Crash && n.text.contains(&svc)) {
                    None
                } else {
                    let primary = events.iter().any(|p| {
                        p.event == "primary-lost"
                            && p.t == e.t
                            && p.service == e.service
                            && nodes.contains(&p.node.unwrap_or(u32::MAX))
                    });
                    let who = if primary { format!("{svc} primary") } else { node_list(&svc, &nodes) };
                    let text = match cause.as_str() {
                        "fault" => format!("{who} crashed"),
                        "initial state" => format!("{who} down at the start"),
                        c => format!("{who} crashed ({c})"),
                    };
                    // The crashes a fault caused are that fault's label
                    // (the fault-start row of a crash fault has none).
                    let priority =
                        if cause == "fault" { NoteKind::Fault.priority() } else { NoteKind::Crash.priority() };
                    Some(Note { t: e.t, text, kind: NoteKind::Crash, priority })
                }
            }
            "fault-start" => {
                let kind = e.detail.split_whitespace().next().unwrap_or("fault");
                if kind == "crash" {
                    // The crash rows that follow name the nodes.
                    None
                } else if let Some(rest) = e.detail.strip_prefix("region-outage of ") {
                    let region = rest.split_whitespace().next().unwrap_or(rest);
                    note(format!("region {region} outage"), NoteKind::Fault)
                } else {
                    let what = e.detail.split(':').next().unwrap_or(&e.detail);
                    note(format!("{svc}: {what}"), NoteKind::Fault)
                }
            }
            "partition-start" => {
                let sides = e.detail.split(':').next().unwrap_or("").replace("service ", "");
                note(format!("partition {sides}"), NoteKind::Fault)
            }
            "failover-start" => note(format!("{svc} failover started"), NoteKind::Failover),
            "promoted" => {
                note(format!("{svc}: {}", e.detail.replace(" is the primary", " promoted")), NoteKind::Failover)
            }
            "dr-detected" | "dr-shift" => note(format!("{svc}: {}", e.detail), NoteKind::Failover),
            "scale-out" | "scale-in" => {
                let (mark, kind) =
                    if e.event == "scale-out" { ("▲", NoteKind::ScaleOut) } else { ("▼", NoteKind::ScaleIn) };
                let counts = e.detail.split(" nodes").next().unwrap_or("").replace("from ", "").replace(" to ", "→");
                note(format!("{mark} {svc} {counts} nodes"), kind)
            }
            "traffic-change" => note(format!("{svc} {}", arrow(&e.detail)), NoteKind::Traffic),
            "traffic-burst" => note(format!("{svc} burst of {}", e.detail), NoteKind::Traffic),
            "trace-start" => note(format!("{svc} trace starts"), NoteKind::Traffic),
            "trace-end" => note(format!("{svc} trace ends"), NoteKind::Traffic),
            "slo-restored" => {
                let last = r.recovery.recovered_at_s.is_some_and(|t| (t - e.t).abs() < 1e-6);
                match (last, r.recovery.rto_s) {
                    (true, Some(rto)) => {
                        note(format!("SLO restored (RTO {})", duration_label(rto)), NoteKind::Restored)
                    }
                    _ => note("SLO restored".to_string(), NoteKind::Restored),
                }
            }
            _ => None,
        };
        out.extend(made);
        i += 1;
    }
    out
}

/// Seconds as a duration label ("90s" as "1m30s").
fn duration_label(s: f64) -> String {
    crate::time::SimDuration((s.max(0.0) * 1e9).round() as u64).to_string()
}

/// Where a label of the strip went: its box in pixels and its lane
/// (0 is the lane nearest the plot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Placed {
    pub x0: i32,
    pub x1: i32,
    pub lane: usize,
}

/// Gap kept between labels of a lane [px].
const LABEL_GAP: i32 = 8;

/// Places labels, given as (anchor x, width) in priority order, into
/// `lanes` lanes between `left` and `right`: a label starts at its anchor
/// (or ends at `right` when it would run past it), never overlaps another
/// in its lane, and neither covers a leader line (drawn from a label down
/// through the lanes below it to the plot) nor sits where its own leader
/// would cross a label below. A label with no room is left out (`None`);
/// a label is never left out to make room for one later in the order.
pub(crate) fn place_labels(labels: &[(i32, i32)], left: i32, right: i32, lanes: usize) -> Vec<Option<Placed>> {
    // Only so many labels fit the strip at all; the rest of a long list
    // is never tried, so the retries below stay cheap for any run.
    let tried = labels.len().min(MAX_TRIED_LABELS);
    let mut kept: Vec<usize> = (0..tried).collect();
    let mut out = stack_right_to_left(labels, &kept, left, right, lanes);
    // A label that found no room while one later in the order did: drop
    // the later label nearest it and place again, until every label left
    // out is behind all the placed ones in the order.
    while let Some(&missing) = kept.iter().find(|&&i| out[i].is_none()) {
        let later = kept.iter().copied().filter(|&i| i > missing && out[i].is_some());
        let Some(drop) = later.min_by_key(|&i| ((labels[i].0 - labels[missing].0).abs(), std::cmp::Reverse(i))) else {
            break;
        };
        kept.retain(|&i| i != drop);
        out = stack_right_to_left(labels, &kept, left, right, lanes);
    }
    // Give each dropped label, in order, another try: it stays if every
    // label placed before still is.
    for i in 0..tried {
        if kept.contains(&i) {
            continue;
        }
        let mut with: Vec<usize> = kept.iter().copied().chain([i]).collect();
        with.sort_unstable();
        let again = stack_right_to_left(labels, &with, left, right, lanes);
        if again[i].is_some() && kept.iter().all(|&k| out[k].is_none() || again[k].is_some()) {
            kept = with;
            out = again;
        }
    }
    out
}

/// Labels tried for the strip: far more than its lanes can hold.
const MAX_TRIED_LABELS: usize = 200;

/// One placement of the labels `which` (indices into `labels`), right to
/// left: a label sits right of its anchor, so one placed later (further
/// left) can stack in a higher lane without its leader crossing the boxes
/// already placed (left to right, every crowded label's anchor would lie
/// under the box before it and no lane above 0 would be used). Labels at
/// one anchor go in their order.
fn stack_right_to_left(
    labels: &[(i32, i32)],
    which: &[usize],
    left: i32,
    right: i32,
    lanes: usize,
) -> Vec<Option<Placed>> {
    let mut placed: Vec<(i32, Placed)> = Vec::new();
    let mut out = vec![None; labels.len()];
    let mut order = which.to_vec();
    order.sort_by_key(|&i| (std::cmp::Reverse(labels[i].0), i));
    for i in order {
        let (anchor, width) = labels[i];
        let width = width.min(right - left);
        let mut x0 = anchor + 3;
        if x0 + width > right {
            x0 = right - width;
        }
        x0 = x0.max(left);
        let x1 = x0 + width;
        let fits = |lane: usize| {
            placed.iter().all(|(a, p)| {
                let overlaps = p.lane == lane && p.x0 < x1 + LABEL_GAP && x0 < p.x1 + LABEL_GAP;
                let covers_leader = p.lane > lane && (x0 - 2..=x1 + 2).contains(a);
                let crosses = p.lane < lane && (p.x0 - 2..=p.x1 + 2).contains(&anchor);
                !(overlaps || covers_leader || crosses)
            })
        };
        let spot = (0..lanes).find(|&l| fits(l)).map(|lane| Placed { x0, x1, lane });
        if let Some(p) = spot {
            placed.push((anchor, p));
        }
        out[i] = spot;
    }
    out
}

/// Lanes of labels above the plot, their height, and the marker row.
const LANES: usize = 4;
const LANE_HEIGHT: i32 = 19;
const MARKER_ROW: i32 = 22;

/// Markers in the row above the plot: which events, drawn how.
const MARKERS: [(&str, &[&str], Mark); 6] = [
    ("node crash", &["crash", "join-failed"], Mark::Cross(style::VERMILLION)),
    ("ejection", &["ejected"], Mark::Dot(style::REDDISH_PURPLE)),
    ("node up", &["up"], Mark::Triangle(style::BLUISH_GREEN)),
    ("scale-out ▲", &["scale-out"], Mark::Triangle(style::SCALE_OUT)),
    ("scale-in ▼", &["scale-in"], Mark::TriangleDown(style::SCALE_IN)),
    ("failover", &["failover-start", "promoted", "dr-detected", "dr-shift"], Mark::Dot(style::BLACK)),
];

/// Horizontal slots of a chart's plot for markers: about one per pixel,
/// so a marker kept per slot looks the same as all of them.
const SLOTS: usize = 1000;

/// The first event in each of [`SLOTS`] slots of the window: markers of
/// 100,000 crashes at one instant are drawn once, not 100,000 times on top
/// of each other, so the chart's size does not grow with the fleet.
fn one_per_slot<'a>(events: &[&'a Event], win: &Window) -> Vec<&'a Event> {
    let width = (win.to - win.from) / SLOTS as f64;
    let mut taken = vec![false; SLOTS + 1];
    let mut kept = Vec::new();
    for e in events {
        let slot = (((e.t - win.from) / width).floor().max(0.0) as usize).min(SLOTS);
        if !taken[slot] {
            taken[slot] = true;
            kept.push(*e);
        }
    }
    kept
}

/// A time-series chart in the shared look over `area`, its x axis in the
/// unit of `tx` (no caption: the caller draws the title above its strip).
pub(crate) fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    tx: TimeAxis,
    win: &Window,
    y: std::ops::Range<f64>,
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<ChartContext<'a, DB, super::Plot2d>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // The x axis is in the chart's time unit; the y axis is the chart's
    // range, or what the user asked for (--y-min/--y-max/--log-y), whose
    // ticks then label themselves.
    let x_axis = super::axis::Axis::exact(tx.x(win.from), tx.x(win.to), super::axis::Scale::Linear);
    let user_y = !win.y.is_default();
    let y_axis = if user_y {
        win.y.apply(y, super::axis::Scale::Linear)?
    } else {
        super::axis::Axis::with_headroom(y.start, y.end)
    };
    let (x_labels, y_labels) = (x_axis.clone(), y_axis.clone());
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .margin_top(4)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x_axis, y_axis)?;
    let y_text = |v: &f64| if user_y { y_labels.label(*v) } else { y_label(v) };
    chart
        .configure_mesh()
        .x_desc(tx.desc())
        .y_desc(style::clip(y_desc, style::TEXT_CHARS))
        .axis_desc_style(style::label_style())
        .label_style(style::small_style())
        .x_labels(100)
        .y_labels(100)
        .x_label_formatter(&|v| x_labels.label(*v))
        .y_label_formatter(&y_text)
        .light_line_style(style::LIGHT_GREY.mix(0.5))
        .draw()?;
    Ok(chart)
}

/// Splits a plot column into the title, the strip of event labels and
/// markers (when the run has any), and the chart below.
fn framed<DB: DrawingBackend>(
    plot: &DrawingArea<DB, Shift>,
    title: &str,
    with_strip: bool,
) -> Result<DrawingArea<DB, Shift>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let body = plot.titled(&style::clip(title, style::TEXT_CHARS), style::title_style())?;
    let strip = if with_strip { LANES as i32 * LANE_HEIGHT + MARKER_ROW } else { 0 };
    Ok(body.split_vertically(strip).1)
}

/// Shades the warm-up and the SLO breach episodes behind the data and
/// draws each restoration as a green line; returns their legend entries.
fn shade_run<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, super::Plot2d>,
    r: &RunData,
    win: &Window,
    tx: TimeAxis,
    (y0, y1): (f64, f64),
) -> Result<Vec<(String, Mark)>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let mut entries = Vec::new();
    let span = |a: f64, b: f64| (a.max(win.from), b.min(win.to));
    let (a, b) = span(0.0, r.warmup_s);
    if r.warmup_s > 0.0 && b > a {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(tx.x(a), y0), (tx.x(b), y1)],
            style::WARMUP_SHADE.filled(),
        )))?;
        entries.push((format!("warm-up {} (not judged)", duration_label(r.warmup_s)), Mark::Fill(style::WARMUP_SHADE)));
    }
    let end = r.bins.last().map_or(win.to, |b| b.t1);
    let mut breached = false;
    for (start, stop) in &r.recovery.episodes {
        let (a, b) = span(*start, stop.unwrap_or(end));
        if b > a {
            breached = true;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(tx.x(a), y0), (tx.x(b), y1)],
                style::BREACH_SHADE.filled(),
            )))?;
        }
    }
    if breached {
        entries.push(("SLO breached".to_string(), Mark::Fill(style::BREACH_SHADE)));
    }
    let restorations: Vec<f64> =
        r.recovery.episodes.iter().filter_map(|e| e.1).filter(|t| *t >= win.from && *t <= win.to).collect();
    for t in &restorations {
        chart.draw_series(LineSeries::new([(tx.x(*t), y0), (tx.x(*t), y1)], style::BLUISH_GREEN.stroke_width(2)))?;
    }
    if !restorations.is_empty() {
        entries.push(("SLO restored".to_string(), Mark::Line(style::BLUISH_GREEN)));
    }
    Ok(entries)
}

/// Draws the strip above the plot: the notes' labels in lanes with leader
/// lines to the plot, the markers row, the RTO span, and a dashed line
/// through the plot at each fault and traffic change. Returns legend
/// entries.
fn draw_strip<DB: DrawingBackend>(
    plot: &DrawingArea<DB, Shift>,
    chart: &mut ChartContext<'_, DB, super::Plot2d>,
    r: &RunData,
    win: &Window,
    tx: TimeAxis,
    (y0, y1): (f64, f64),
) -> Result<Vec<(String, Mark)>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (left, right, plot_top) = (px.start, px.end, py.start);
    let to_px = |t: f64| left + ((t - win.from) / (win.to - win.from) * (right - left) as f64).round() as i32;
    let mut entries = Vec::new();
    let mut notes = notes(r, win);
    // Lines through the plot: faults dashed black, traffic changes dashed blue.
    for (kind, colour, name) in
        [(NoteKind::Fault, style::BLACK, "fault injected"), (NoteKind::Traffic, series::OFFERED, "traffic change")]
    {
        // Every injected fault gets its line, a crash fault too (whose
        // label the crash rows give).
        let at: Vec<f64> = if kind == NoteKind::Fault {
            let starts = |e: &&Event| matches!(e.event.as_str(), "fault-start" | "partition-start");
            r.events.iter().filter(starts).map(|e| e.t).filter(|t| *t >= win.from && *t <= win.to).collect()
        } else {
            notes.iter().filter(|n| n.kind == kind).map(|n| n.t).collect()
        };
        for t in &at {
            chart.draw_series(DashedLineSeries::new(
                vec![(tx.x(*t), y0), (tx.x(*t), y1)],
                8,
                6,
                colour.stroke_width(1),
            ))?;
        }
        if !at.is_empty() {
            entries.push((name.to_string(), Mark::Dashed(colour)));
        }
    }
    notes.sort_by_key(|n| n.priority);
    let font = style::note_style();
    let sized: Vec<(i32, i32)> = notes
        .iter()
        .map(|n| (to_px(n.t), plot.estimate_text_size(&n.text, &font).map_or(100, |s| s.0 as i32)))
        .collect();
    let placed = place_labels(&sized, left, right, LANES);
    let marker_y = plot_top - MARKER_ROW / 2;
    let lane_top = |lane: usize| plot_top - MARKER_ROW - (lane as i32 + 1) * LANE_HEIGHT;
    let mut unplaced = 0;
    for ((note, (anchor, _)), spot) in notes.iter().zip(&sized).zip(&placed) {
        let Some(p) = spot else {
            unplaced += 1;
            continue;
        };
        let top = lane_top(p.lane);
        plot.draw(&PathElement::new(
            vec![(*anchor, top + 2), (*anchor, plot_top)],
            style::tint(note.kind.colour(), 0.4).stroke_width(1),
        ))?;
        plot.draw(&Text::new(note.text.clone(), (p.x0 + 2, top + 2), font.clone().color(&note.kind.colour())))?;
    }
    if unplaced > 0 {
        entries.push((format!("{unplaced} more events marked, not labelled"), Mark::Dot(style::WHITE_ISH)));
    }
    // The marker row: one symbol per event kind and pixel slot.
    let in_time = |e: &&Event| e.t >= win.from && e.t <= win.to;
    for (label, kinds, mark) in MARKERS {
        let events: Vec<&Event> =
            r.events.iter().filter(in_time).filter(|e| kinds.contains(&e.event.as_str())).collect();
        let at: Vec<i32> = one_per_slot(&events, win).iter().map(|e| to_px(e.t)).collect();
        if at.is_empty() {
            continue;
        }
        for x in at {
            match mark {
                Mark::Cross(c) => plot.draw(&Cross::new((x, marker_y), 5, c.stroke_width(2)))?,
                Mark::Triangle(c) => plot.draw(&Polygon::new(
                    vec![(x - 5, marker_y + 4), (x + 5, marker_y + 4), (x, marker_y - 5)],
                    c.filled(),
                ))?,
                Mark::TriangleDown(c) => plot.draw(&Polygon::new(
                    vec![(x - 5, marker_y - 4), (x + 5, marker_y - 4), (x, marker_y + 5)],
                    c.filled(),
                ))?,
                Mark::Dot(c) | Mark::Line(c) | Mark::Dashed(c) | Mark::Fill(c) => {
                    plot.draw(&Circle::new((x, marker_y), 4, c.filled()))?
                }
            }
        }
        entries.push((label.to_string(), mark));
    }
    // The RTO: a bar from the disruption to the restoration in the plot's top.
    if let Some(d) = r.recovery.disrupted_at_s.filter(|d| *d <= win.to) {
        let end = r.recovery.recovered_at_s.unwrap_or(win.to).min(win.to);
        let (a, b) = (to_px(d.max(win.from)), to_px(end));
        // Clear of the plot's top edge, where a clipped capacity line runs.
        let y = plot_top + 12;
        plot.draw(&PathElement::new(vec![(a, y), (b, y)], style::BLACK.stroke_width(2)))?;
        plot.draw(&PathElement::new(vec![(a, y - 4), (a, y + 4)], style::BLACK.stroke_width(2)))?;
        plot.draw(&PathElement::new(vec![(b, y - 4), (b, y + 4)], style::BLACK.stroke_width(2)))?;
        let text = match (r.recovery.rto_s, r.recovery.censored) {
            (Some(rto), false) => format!("RTO {}", duration_label(rto)),
            _ => "RTO: not restored by the end".to_string(),
        };
        let w = plot.estimate_text_size(&text, &font).map_or(100, |s| s.0 as i32);
        // Beside the bar's end, or below its start when the bar runs to the edge.
        let at = if b + 6 + w <= right { (b + 6, y - 7) } else { (a + 6, y + 5) };
        plot.draw(&Text::new(text, at, font.clone()))?;
    }
    Ok(entries)
}

pub fn herd<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let tx = TimeAxis::for_span(win.to - win.from);
    let in_window: Vec<&RunBin> = r.bins.iter().filter(|b| b.t1 > win.from && b.t0 < win.to).collect();
    let load = in_window.iter().map(|b| b.attempts_rps.max(b.goodput_rps)).fold(1.0, f64::max);
    let capacity = in_window.iter().map(|b| b.capacity_rps).fold(0.0, f64::max);
    // Capacity far above the load (a database counted in the fleet, say)
    // would flatten the load: then the axis follows the load and the
    // capacity line is clipped, which the legend says.
    let off_scale = capacity > 2.5 * load;
    let top = if off_scale { load } else { load.max(capacity) };
    // Headroom above the data for the RTO bar.
    let ymax = top * 1.12;
    let area = framed(&plot, title, true)?;
    let mut chart = time_chart(&area, tx, win, 0.0..ymax, "requests per second", &|v| number_label(*v))?;
    let shading = shade_run(&mut chart, r, win, tx, (0.0, ymax))?;
    let at = |pts: Vec<(f64, f64)>| pts.into_iter().map(|(t, v)| (tx.x(t), v)).collect::<Vec<_>>();
    // Retries stacked on top of first attempts: the attempts area first,
    // then the first attempts over it.
    chart.draw_series(AreaSeries::new(
        at(steps(&r.bins, win, |b| b.attempts_rps)),
        0.0,
        style::tint(series::RETRIES, 0.35).filled(),
    ))?;
    chart.draw_series(AreaSeries::new(
        at(steps(&r.bins, win, |b| b.offered_rps)),
        0.0,
        style::tint(series::OFFERED, 0.55).filled(),
    ))?;
    chart.draw_series(LineSeries::new(at(steps(&r.bins, win, |b| b.goodput_rps)), series::GOODPUT.stroke_width(2)))?;
    chart.draw_series(LineSeries::new(
        at(steps(&r.bins, win, |b| b.capacity_rps.min(ymax))),
        series::CAPACITY.stroke_width(3),
    ))?;
    let marks = draw_strip(&plot, &mut chart, r, win, tx, (0.0, ymax))?;
    let mut entries = vec![("first attempts".to_string(), Mark::Fill(style::tint(series::OFFERED, 0.55)))];
    if in_window.iter().any(|b| b.attempts_rps > b.offered_rps) {
        entries.push(("retries".to_string(), Mark::Fill(style::tint(series::RETRIES, 0.35))));
    }
    entries.push(("goodput".to_string(), Mark::Line(series::GOODPUT)));
    // A service graph's capacity is that of its bottleneck for the request mix.
    let name = if r.graph { "capacity (bottleneck for the request mix)" } else { "capacity" };
    entries.push(if off_scale {
        (format!("{name} (clipped; up to {} req/s)", number_label(capacity.round())), Mark::Line(series::CAPACITY))
    } else {
        (name.to_string(), Mark::Line(series::CAPACITY))
    });
    entries.extend(shading);
    entries.extend(marks);
    style::legend(&side, &entries)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_overlap_cross_leaders_or_reach_the_legend_column() {
        let (left, right) = (110, super::super::WIDTH as i32 - 240 - 20);
        // Crowded: twenty labels within 100 px, and some at the right edge.
        let labels: Vec<(i32, i32)> =
            (0..20).map(|k| (left + 5 * k, 120 + 7 * k)).chain((0..5).map(|k| (right - k, 200))).collect();
        let placed = place_labels(&labels, left, right, LANES);
        let boxes: Vec<(usize, Placed)> = placed.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i, p))).collect();
        assert!(boxes.len() >= LANES, "the lanes are used: {boxes:?}");
        for (i, a) in &boxes {
            assert!(a.x0 >= left && a.x1 <= right, "{a:?} inside the plot, left of the legend column");
            for (j, b) in &boxes {
                if i == j {
                    continue;
                }
                assert!(!(a.lane == b.lane && a.x0 < b.x1 && b.x0 < a.x1), "{a:?} overlaps {b:?}");
                // A leader goes down from a label through the lanes below it.
                let anchor = labels[*i].0;
                assert!(!(b.lane < a.lane && (b.x0..=b.x1).contains(&anchor)), "leader of {a:?} crosses {b:?}");
            }
        }
        // A label is never left out for one later in the order: the
        // first here (a fault, say) sits left of a crowd placed after it.
        let mut first_then_crowd = vec![(left + 40, 300)];
        first_then_crowd.extend((0..30).map(|k| (left + 50 + 9 * k, 150)));
        let placed = place_labels(&first_then_crowd, left, right, LANES);
        assert!(placed[0].is_some(), "the first label is placed: {placed:?}");
        let later = placed.iter().skip(1).filter(|p| p.is_some()).count();
        assert!(later >= LANES - 1, "the crowd still uses the other lanes: {placed:?}");
        // Labels apart in time all get lane 0.
        let spread = place_labels(&[(120, 100), (300, 100), (500, 100)], left, right, LANES);
        assert!(spread.iter().all(|p| p.is_some_and(|p| p.lane == 0)));
    }
}

/// A node's state, as the timeline colours it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Off,
    Up,
    Warming,
    Unhealthy,
    Ejected,
    Draining,
    Restarting,
    Down,
    Failed,
}

impl State {
    const DRAWN: [State; 8] = [
        State::Up,
        State::Warming,
        State::Unhealthy,
        State::Ejected,
        State::Draining,
        State::Restarting,
        State::Down,
        State::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            State::Off => "not provisioned",
            State::Up => "up",
            State::Warming => "warming up",
            State::Unhealthy => "up, failing checks",
            State::Ejected => "ejected",
            State::Draining => "draining",
            State::Restarting => "restarting",
            State::Down => "down",
            State::Failed => "failed to join",
        }
    }

    fn colour(self) -> RGBColor {
        match self {
            State::Off => style::WHITE_ISH,
            State::Up => style::state::UP,
            State::Warming => style::state::WARMING,
            State::Unhealthy => style::state::UNHEALTHY,
            State::Ejected => style::state::EJECTED,
            State::Draining => style::state::DRAINING,
            State::Restarting => style::state::RESTARTING,
            State::Down => style::state::DOWN,
            State::Failed => style::state::FAILED,
        }
    }
}

/// A node's states over [0, end): (from, to, state), from its own events.
fn node_states(events: &[&Event], initially_up: bool, end: f64) -> Vec<(f64, f64, State)> {
    let mut changes: Vec<(f64, State)> = vec![(0.0, if initially_up { State::Up } else { State::Off })];
    let mut warm_until: Option<f64> = None;
    for e in events {
        let now = changes.last().map_or(State::Off, |c| c.1);
        // A warm-up that ended before this event.
        if let Some(t) = warm_until.take() {
            if t <= e.t && now == State::Warming {
                changes.push((t, State::Up));
            } else if t > e.t {
                warm_until = Some(t);
            }
        }
        let now = changes.last().map_or(State::Off, |c| c.1);
        let next = match e.event.as_str() {
            "crash" => Some(State::Down),
            "restart-scheduled" | "stopped" => Some(State::Restarting),
            "up" => {
                let warm = e.detail.split("warming up for ").nth(1).and_then(|d| parse_duration(d.trim()).ok());
                match warm {
                    Some(d) => {
                        warm_until = Some(e.t + d.as_secs_f64());
                        Some(State::Warming)
                    }
                    None => Some(State::Up),
                }
            }
            "join-failed" => Some(State::Failed),
            "unhealthy" if matches!(now, State::Up | State::Warming) => Some(State::Unhealthy),
            "healthy" if now == State::Unhealthy => Some(State::Up),
            "ejected" if !matches!(now, State::Down | State::Restarting | State::Failed) => Some(State::Ejected),
            "returned" if now == State::Ejected => Some(State::Up),
            "drain" => Some(State::Draining),
            "removed" => Some(State::Off),
            _ => None,
        };
        if let Some(s) = next {
            changes.push((e.t, s));
        }
    }
    if let Some(t) = warm_until
        && changes.last().is_some_and(|c| c.1 == State::Warming)
    {
        changes.push((t.min(end), State::Up));
    }
    let mut out: Vec<(f64, f64, State)> = Vec::new();
    for (i, (t, s)) in changes.iter().enumerate() {
        let until = changes.get(i + 1).map_or(end, |n| n.0).min(end);
        if until > *t {
            out.push((*t, until, *s));
        }
    }
    out
}

/// Most rows the timeline draws: a larger fleet is drawn in groups of
/// consecutive nodes, so the chart stays legible and its size bounded.
const MAX_ROWS: usize = 30;

/// Most state segments drawn in a row; a row that changes state more often
/// (a flapping node, a large group) is drawn at the resolution of
/// [`ROW_SLOTS`] slots instead, each showing its worst state.
const MAX_SEGMENTS: usize = 400;
const ROW_SLOTS: usize = 400;

/// Longest service name in a row label: the labels sit left of the rows,
/// in a column at most [`MAX_LABEL_AREA`] px wide.
const ROW_NAME_CHARS: usize = 16;
const MAX_LABEL_AREA: u32 = 240;

/// A row of the timeline: one node, or a group of consecutive nodes drawn
/// with the worst state of any of them at each moment.
struct Row {
    label: String,
    nodes: std::ops::Range<usize>,
}

/// The ranges of consecutive nodes of each service (nodes come service by
/// service, in order of first appearance).
fn service_runs(nodes: &[NodeSeries]) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if nodes[run.start].service == n.service => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

/// The timeline's rows: one per node when they fit in [`MAX_ROWS`];
/// otherwise groups of k consecutive nodes, within a service when there
/// are few enough services, with k the smallest size that fits.
fn rows(nodes: &[NodeSeries]) -> Vec<Row> {
    let name = |i: usize| format!("{}/{}", style::clip(&nodes[i].service, ROW_NAME_CHARS), nodes[i].node);
    if nodes.len() <= MAX_ROWS {
        return (0..nodes.len()).map(|i| Row { label: name(i), nodes: i..i + 1 }).collect();
    }
    let runs = service_runs(nodes);
    let chunks = |runs: &[std::ops::Range<usize>], k: usize| -> Vec<std::ops::Range<usize>> {
        runs.iter().flat_map(|run| run.clone().step_by(k).map(move |s| s..(s + k).min(run.end))).collect()
    };
    let mut k = nodes.len().div_ceil(MAX_ROWS);
    let groups = if runs.len() <= MAX_ROWS {
        while runs.iter().map(|run| run.len().div_ceil(k)).sum::<usize>() > MAX_ROWS {
            k += 1;
        }
        chunks(&runs, k)
    } else {
        // More services than rows: groups may span services.
        chunks(std::slice::from_ref(&(0..nodes.len())), k)
    };
    groups
        .into_iter()
        .map(|g| {
            let (first, last) = (g.start, g.end - 1);
            let label = if first == last {
                name(first)
            } else if nodes[first].service == nodes[last].service {
                format!("{}–{}", name(first), nodes[last].node)
            } else {
                format!("{}–{}", name(first), name(last))
            };
            Row { label, nodes: g }
        })
        .collect()
}

/// States from mildest to worst, for a group's worst state (not
/// provisioned is the mildest: a group with any node up shows up).
const BY_SEVERITY: [State; 9] = [
    State::Off,
    State::Up,
    State::Warming,
    State::Draining,
    State::Unhealthy,
    State::Ejected,
    State::Restarting,
    State::Down,
    State::Failed,
];

fn severity(s: State) -> usize {
    BY_SEVERITY.iter().position(|x| *x == s).unwrap_or(0)
}

/// The worst state of any member at each moment, as segments with equal
/// neighbours merged: a sweep over the members' state changes.
fn worst_states(members: &[Vec<(f64, f64, State)>]) -> Vec<(f64, f64, State)> {
    let mut edges: Vec<(f64, State, i32)> = Vec::new();
    for (from, to, state) in members.iter().flatten() {
        edges.push((*from, *state, 1));
        edges.push((*to, *state, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut count = [0i32; 9];
    let mut out: Vec<(f64, f64, State)> = Vec::new();
    let mut current: Option<(f64, State)> = None;
    let mut i = 0;
    while i < edges.len() {
        let t = edges[i].0;
        while i < edges.len() && edges[i].0 == t {
            count[severity(edges[i].1)] += edges[i].2;
            i += 1;
        }
        let worst = BY_SEVERITY.iter().rev().find(|s| count[severity(**s)] > 0).copied();
        if current.map(|c| c.1) != worst {
            if let Some((from, state)) = current
                && t > from
            {
                out.push((from, t, state));
            }
            current = worst.map(|w| (t, w));
        }
    }
    out
}

/// Segments of a row as drawn in the window: clipped to it and, when there
/// are more than [`MAX_SEGMENTS`], the worst state per slot of the window.
fn drawn_segments(segments: Vec<(f64, f64, State)>, win: &Window) -> Vec<(f64, f64, State)> {
    let clipped: Vec<(f64, f64, State)> = segments
        .into_iter()
        .map(|(from, to, s)| (from.max(win.from), to.min(win.to), s))
        .filter(|(from, to, s)| to > from && *s != State::Off)
        .collect();
    if clipped.len() <= MAX_SEGMENTS {
        return clipped;
    }
    let width = (win.to - win.from) / ROW_SLOTS as f64;
    let mut slots: Vec<Option<State>> = vec![None; ROW_SLOTS];
    for (from, to, state) in clipped {
        let first = (((from - win.from) / width).floor() as usize).min(ROW_SLOTS - 1);
        let last = (((to - win.from) / width).ceil() as usize).clamp(first + 1, ROW_SLOTS);
        for slot in &mut slots[first..last] {
            if slot.is_none_or(|s| severity(s) < severity(state)) {
                *slot = Some(state);
            }
        }
    }
    let mut out: Vec<(f64, f64, State)> = Vec::new();
    for (k, slot) in slots.into_iter().enumerate() {
        let Some(state) = slot else { continue };
        let (from, to) = (win.from + k as f64 * width, win.from + (k + 1) as f64 * width);
        match out.last_mut() {
            Some(last) if last.2 == state && last.1 == from => last.1 = to,
            _ => out.push((from, to, state)),
        }
    }
    out
}

pub fn timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let tx = TimeAxis::for_span(win.to - win.from);
    let (top, bottom) = plot.split_vertically((HEIGHT_SPLIT * super::HEIGHT as f64) as i32);
    let rows_drawn = rows(&r.nodes);
    let rows = rows_drawn.len().max(1);
    let end = r.bins.last().map_or(0.0, |b| b.t1);
    let labels: Vec<&str> = rows_drawn.iter().map(|row| row.label.as_str()).collect();
    let grouped = rows_drawn.len() < r.nodes.len();
    // The label column is as wide as the longest label needs (90 px, the
    // other charts' width, holds the usual "app/0").
    let widest = labels.iter().map(|l| top.estimate_text_size(l, &style::small_style()).map_or(0, |s| s.0)).max();
    let label_area = (widest.unwrap_or(0) + 40).clamp(90, MAX_LABEL_AREA);
    let mut chart = ChartBuilder::on(&top)
        .caption(style::clip(title, style::TEXT_CHARS), style::title_style())
        .margin(20)
        .margin_bottom(5)
        .x_label_area_size(30)
        .y_label_area_size(label_area)
        .build_cartesian_2d(tx.x(win.from)..tx.x(win.to), 0.0..rows as f64)?;
    let label_of = |y: &f64| {
        let i = y.floor() as usize;
        if (y - y.floor() - 0.5).abs() < 1e-6 && i < labels.len() {
            labels[rows - 1 - i].to_string()
        } else {
            String::new()
        }
    };
    let y_desc = if grouped {
        format!("{} nodes in {} groups", r.nodes.len(), rows_drawn.len())
    } else {
        "node (service/index)".to_string()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows * 2 + 1)
        .y_label_formatter(&label_of)
        .x_label_formatter(&|v| number_label(*v))
        .y_desc(y_desc)
        .axis_desc_style(style::label_style())
        .label_style(style::small_style())
        .light_line_style(style::LIGHT_GREY.mix(0.5))
        .draw()?;
    // Each node's events, found once (not by a scan of the log per node).
    let mut events_of: HashMap<(&str, u32), Vec<&Event>> = HashMap::new();
    for e in &r.events {
        if let Some(node) = e.node {
            events_of.entry((e.service.as_str(), node)).or_default().push(e);
        }
    }
    let mut seen: Vec<State> = Vec::new();
    for (i, row) in rows_drawn.iter().enumerate() {
        let members: Vec<Vec<(f64, f64, State)>> = r.nodes[row.nodes.clone()]
            .iter()
            .map(|n| {
                let initially_up = n.bins.first().is_some_and(|b| b.3 > 0.0);
                let events = events_of.get(&(n.service.as_str(), n.node)).map_or(&[][..], Vec::as_slice);
                node_states(events, initially_up, end)
            })
            .collect();
        let y = (rows - 1 - i) as f64;
        let segments = drawn_segments(worst_states(&members), win);
        for (_, _, state) in &segments {
            if !seen.contains(state) {
                seen.push(*state);
            }
        }
        chart.draw_series(segments.into_iter().map(|(from, to, state)| {
            Rectangle::new([(tx.x(from), y + 0.15), (tx.x(to), y + 0.85)], state.colour().filled())
        }))?;
    }
    // The strip: mean utilization of the nodes that were up, per service.
    let mut strip = ChartBuilder::on(&bottom)
        .margin(20)
        .margin_top(5)
        .x_label_area_size(55)
        .y_label_area_size(label_area)
        .build_cartesian_2d(tx.x(win.from)..tx.x(win.to), 0.0..100.0)?;
    strip
        .configure_mesh()
        .x_desc(tx.desc())
        .y_desc("utilization [%]")
        .y_labels(5)
        .y_label_formatter(&|v| number_label(*v))
        .axis_desc_style(style::label_style())
        .label_style(style::small_style())
        .x_label_formatter(&|v| number_label(*v))
        .light_line_style(style::LIGHT_GREY.mix(0.5))
        .draw()?;
    let mut entries: Vec<(String, Mark)> = State::DRAWN
        .iter()
        .filter(|s| seen.contains(s))
        .map(|s| (s.label().to_string(), Mark::Fill(s.colour())))
        .collect();
    if grouped {
        entries.push(("a group shows the worst state of its nodes".to_string(), Mark::Dot(style::WHITE_ISH)));
    }
    let services = service_runs(&r.nodes);
    let width = r.bins.first().map_or(1.0, |b| b.t1 - b.t0);
    for (k, run) in services.iter().take(MAX_LINES).enumerate() {
        let nodes = &r.nodes[run.clone()];
        let bins = nodes[0].bins.len();
        let points: Vec<Option<(f64, f64)>> = (0..bins)
            .filter_map(|b| {
                let t = nodes[0].bins[b].0;
                let (sum, up) = nodes
                    .iter()
                    .filter_map(|n| n.bins.get(b))
                    .filter(|x| x.3 > 0.0)
                    .fold((0.0, 0.0), |(s, c), x| (s + x.1 * x.3, c + x.3));
                let mid = t + width / 2.0;
                // No node up: no utilization to show (a gap, not 0%).
                win.holds_bin(t, t + width).then_some((up > 0.0).then(|| (tx.x(mid), 100.0 * sum / up)))
            })
            .collect();
        let colour = series::CYCLE[k % series::CYCLE.len()];
        for segment in segments(&points) {
            strip.draw_series(LineSeries::new(segment, colour.stroke_width(2)))?;
        }
        let service = style::clip(&nodes[0].service, style::NAME_CHARS);
        entries.push((format!("{service} utilization"), Mark::Line(colour)));
    }
    if services.len() > MAX_LINES {
        entries.push((format!("{} more services not drawn", services.len() - MAX_LINES), Mark::Dot(style::WHITE_ISH)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}

/// Most lines (one per service or class) drawn on a chart: more would
/// repeat colours and grow the drawing with the model; the legend says how
/// many were left out.
const MAX_LINES: usize = 12;

/// Share of the height given to the state rows (the rest is the strip).
const HEIGHT_SPLIT: f64 = 0.68;

pub fn latency<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let tx = TimeAxis::for_span(win.to - win.from);
    // One value per bin in the window, None where no request succeeded.
    let points = |f: fn(&RunBin) -> Option<f64>| -> Vec<Option<(f64, f64)>> {
        r.bins
            .iter()
            .filter(|b| win.holds_bin(b.t0, b.t1))
            .map(|b| f(b).map(|v| (tx.x((b.t0 + b.t1) / 2.0), v)))
            .collect()
    };
    let (p50, p99) = (points(|b| b.p50_ms), points(|b| b.p99_ms));
    let objective = r.slo.latency_p99_ms;
    let top = p99.iter().flatten().map(|p| p.1).chain(objective).fold(1.0, f64::max) * 1.15;
    let area = framed(&plot, title, true)?;
    let mut chart = time_chart(&area, tx, win, 0.0..top, "latency of successful requests [ms]", &|v| number_label(*v))?;
    let mut shading = shade_run(&mut chart, r, win, tx, (0.0, top))?;
    shading.extend(draw_strip(&plot, &mut chart, r, win, tx, (0.0, top))?);
    for (points, colour) in [(&p50, series::P50), (&p99, series::P99)] {
        draw_broken_line(&mut chart, points, colour, 2)?;
    }
    let mut entries = vec![
        ("p50 per bin".to_string(), Mark::Line(series::P50)),
        ("p99 per bin".to_string(), Mark::Line(series::P99)),
    ];
    entries.extend(shading);
    if let Some(slo) = objective {
        chart.draw_series(DashedLineSeries::new(
            vec![(tx.x(win.from), slo), (tx.x(win.to), slo)],
            10,
            6,
            series::OBJECTIVE.stroke_width(2),
        ))?;
        entries.push((format!("SLO p99 {} ms", number_label(slo)), Mark::Dashed(series::OBJECTIVE)));
    }
    if p99.iter().any(Option::is_none) {
        entries.push(("gaps: no request succeeded".to_string(), Mark::Dot(style::WHITE_ISH)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}

/// Per request class, the share of requests finishing in each bin that
/// succeeded, on a nines axis (so 99.86% and 99.91% lie apart): which
/// classes a failure reaches (bulkheads keep the others at the top).
pub fn classes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let tx = TimeAxis::for_span(win.to - win.from);
    let area = framed(&plot, title, true)?;
    // Headroom above the top (all requests succeeded) for the RTO bar and its label.
    let top = style::NINES_CAP * 1.1;
    let mut chart =
        time_chart(&area, tx, win, 0.0..top, "requests finishing in the bin that succeeded [%, nines scale]", &|v| {
            style::nines_label(*v)
        })?;
    let mut entries = shade_run(&mut chart, r, win, tx, (0.0, top))?;
    // Which classes the failure reaches, and when: the run's events above.
    entries.extend(draw_strip(&plot, &mut chart, r, win, tx, (0.0, top))?);
    let n = r.classes.len();
    for (i, class) in r.classes.iter().take(MAX_LINES).enumerate() {
        let colour = series::CYCLE[i % series::CYCLE.len()];
        // Classes often coincide (all at 100%): earlier ones are drawn
        // wider, so coinciding lines show as nested stripes.
        let width = 2 + 2 * (n - 1 - i).min(3) as u32;
        let points: Vec<Option<(f64, f64)>> = class
            .bins
            .iter()
            .filter(|(t0, t1, _)| win.holds_bin(*t0, *t1))
            .map(|(t0, t1, v)| v.map(|v| (tx.x((t0 + t1) / 2.0), style::nines(v))))
            .collect();
        draw_broken_line(&mut chart, &points, colour, width)?;
        entries.insert(i, (style::clip(&class.class, style::NAME_CHARS), Mark::Line(colour)));
    }
    if r.classes.len() > MAX_LINES {
        entries.push((format!("{} more classes not drawn", r.classes.len() - MAX_LINES), Mark::Dot(style::WHITE_ISH)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}

/// Attempts reaching each service per second (clients' and callers',
/// retries included): how retries at every layer above multiply the load
/// on the ones below.
pub fn layers<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let top = r
        .services
        .iter()
        .flat_map(|s| s.bins.iter().filter(|b| win.holds_bin(b.0, b.1)).map(|b| b.2))
        .fold(1.0, f64::max)
        * 1.1;
    let tx = TimeAxis::for_span(win.to - win.from);
    let area = framed(&plot, title, true)?;
    let mut chart = time_chart(&area, tx, win, 0.0..top, "attempts per second", &|v| number_label(*v))?;
    let mut shading = shade_run(&mut chart, r, win, tx, (0.0, top))?;
    shading.extend(draw_strip(&plot, &mut chart, r, win, tx, (0.0, top))?);
    let mut entries = Vec::new();
    for (i, service) in r.services.iter().take(MAX_LINES).enumerate() {
        let colour = series::CYCLE[i % series::CYCLE.len()];
        let points: Vec<(f64, f64)> =
            service.bins.iter().filter(|b| win.holds_bin(b.0, b.1)).map(|b| (tx.x((b.0 + b.1) / 2.0), b.2)).collect();
        chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
        let name = style::clip(&service.service, style::NAME_CHARS);
        let label = match service.amplification {
            Some(a) => format!("{name} ({} per request)", number_label((a * 100.0).round() / 100.0)),
            None => name,
        };
        entries.push((label, Mark::Line(colour)));
    }
    if r.services.len() > MAX_LINES {
        entries
            .push((format!("{} more services not drawn", r.services.len() - MAX_LINES), Mark::Dot(style::WHITE_ISH)));
    }
    entries.extend(shading);
    style::legend(&side, &entries)?;
    Ok(())
}
