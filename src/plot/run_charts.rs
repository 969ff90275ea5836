//! Charts of a single run: the thundering herd (offered load, first
//! attempts and retries stacked, against capacity, with goodput and event
//! markers), the node timeline (each node's state over time, with a
//! utilization strip) and latency (p50 and p99 per bin with the SLO).

use plotters::coord::Shift;
use plotters::prelude::*;

use std::collections::HashMap;

use super::data::{Event, NodeSeries, RunBin, RunData};
use super::style::{self, Mark, number_label, series};
use super::{DrawResult, Window, chart_with_axes, with_legend_column};
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

/// Event markers on the herd chart: which events, drawn how, in which lane
/// (fraction of the y range from the top).
const MARKERS: [(&str, &[&str], Mark, f64); 5] = [
    ("node crash", &["crash", "join-failed"], Mark::Cross(style::VERMILLION), 0.04),
    ("ejection", &["ejected"], Mark::Dot(style::REDDISH_PURPLE), 0.08),
    ("node up", &["up"], Mark::Triangle(style::BLUISH_GREEN), 0.12),
    ("scale event", &["scale-out", "scale-in"], Mark::Triangle(style::BLUE), 0.16),
    ("failover", &["failover-start", "promoted", "dr-detected", "dr-shift"], Mark::Dot(style::BLACK), 0.20),
];

/// Horizontal slots of a chart's plot for markers: about one per pixel,
/// so a marker kept per slot looks the same as all of them.
const SLOTS: usize = 1000;

/// Most fault lines labelled on the herd chart (more would overprint).
const MAX_FAULT_LABELS: usize = 12;

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

pub fn herd<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let in_window: Vec<&RunBin> = r.bins.iter().filter(|b| b.t1 > win.from && b.t0 < win.to).collect();
    let load = in_window.iter().map(|b| b.attempts_rps.max(b.goodput_rps)).fold(1.0, f64::max);
    let capacity = in_window.iter().map(|b| b.capacity_rps).fold(0.0, f64::max);
    // Capacity far above the load (a database counted in the fleet, say)
    // would flatten the load: then the axis follows the load and the
    // capacity line is clipped, which the legend says.
    let off_scale = capacity > 2.5 * load;
    let top = if off_scale { load } else { load.max(capacity) };
    // Headroom above the data for the marker lanes.
    let ymax = top * 1.3;
    let mut chart =
        chart_with_axes(&plot, title, (win.from..win.to, 0.0..ymax), ("time [s]", "requests per second"), &win.y)?;
    // Retries stacked on top of first attempts: the attempts area first,
    // then the first attempts over it.
    chart.draw_series(AreaSeries::new(
        steps(&r.bins, win, |b| b.attempts_rps),
        0.0,
        style::tint(series::RETRIES, 0.35).filled(),
    ))?;
    chart.draw_series(AreaSeries::new(
        steps(&r.bins, win, |b| b.offered_rps),
        0.0,
        style::tint(series::OFFERED, 0.55).filled(),
    ))?;
    chart.draw_series(LineSeries::new(steps(&r.bins, win, |b| b.goodput_rps), series::GOODPUT.stroke_width(2)))?;
    chart.draw_series(LineSeries::new(
        steps(&r.bins, win, |b| b.capacity_rps.min(ymax)),
        series::CAPACITY.stroke_width(3),
    ))?;

    // Faults: a dashed vertical line and a label beside its top.
    let in_time = |e: &&Event| e.t >= win.from && e.t <= win.to;
    let is_fault = |e: &&Event| e.event == "fault-start" || e.event == "partition-start";
    let faults: Vec<&Event> = r.events.iter().filter(in_time).filter(is_fault).collect();
    for (k, e) in one_per_slot(&faults, win).into_iter().enumerate() {
        chart.draw_series(DashedLineSeries::new(vec![(e.t, 0.0), (e.t, ymax)], 8, 6, style::BLACK.stroke_width(1)))?;
        if k >= MAX_FAULT_LABELS {
            continue;
        }
        let label = if e.detail.is_empty() { "fault" } else { e.detail.as_str() };
        let label = style::clip(label, 48);
        let x = e.t + (win.to - win.from) * 0.006;
        // Successive labels step down so faults close in time stay legible.
        let y = ymax * (0.985 - 0.035 * (k % 3) as f64);
        chart.draw_series(std::iter::once(Text::new(label, (x, y), style::small_style())))?;
    }
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
    if r.events.iter().any(|e| e.event == "fault-start" || e.event == "partition-start") {
        entries.push(("fault injected".to_string(), Mark::Dashed(style::BLACK)));
    }
    for (label, kinds, mark, lane) in MARKERS {
        let events: Vec<&Event> =
            r.events.iter().filter(in_time).filter(|e| kinds.contains(&e.event.as_str())).collect();
        let at: Vec<(f64, f64)> = one_per_slot(&events, win).iter().map(|e| (e.t, ymax * (0.93 - lane))).collect();
        if at.is_empty() {
            continue;
        }
        match mark {
            Mark::Cross(c) => chart.draw_series(at.iter().map(|p| Cross::new(*p, 6, c.stroke_width(2))))?,
            Mark::Triangle(c) => chart.draw_series(at.iter().map(|p| TriangleMarker::new(*p, 7, c.filled())))?,
            Mark::Dot(c) | Mark::Line(c) | Mark::Dashed(c) | Mark::Fill(c) => {
                chart.draw_series(at.iter().map(|p| Circle::new(*p, 5, c.filled())))?
            }
        };
        entries.push((label.to_string(), mark));
    }
    style::legend(&side, &entries)?;
    Ok(())
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
            State::Up => style::BLUISH_GREEN,
            State::Warming => style::YELLOW,
            State::Unhealthy => style::ORANGE,
            State::Ejected => style::REDDISH_PURPLE,
            State::Draining => style::SKY_BLUE,
            State::Restarting => style::BLUE,
            State::Down => style::VERMILLION,
            State::Failed => style::BLACK,
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
        .build_cartesian_2d(win.from..win.to, 0.0..rows as f64)?;
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
        chart.draw_series(
            segments
                .into_iter()
                .map(|(from, to, state)| Rectangle::new([(from, y + 0.15), (to, y + 0.85)], state.colour().filled())),
        )?;
    }
    // The strip: mean utilization of the nodes that were up, per service.
    let mut strip = ChartBuilder::on(&bottom)
        .margin(20)
        .margin_top(5)
        .x_label_area_size(55)
        .y_label_area_size(label_area)
        .build_cartesian_2d(win.from..win.to, 0.0..100.0)?;
    strip
        .configure_mesh()
        .x_desc("time [s]")
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
                win.holds_bin(t, t + width).then_some((up > 0.0).then(|| (mid, 100.0 * sum / up)))
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
    // One value per bin in the window, None where no request succeeded.
    let points = |f: fn(&RunBin) -> Option<f64>| -> Vec<Option<(f64, f64)>> {
        r.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(|b| f(b).map(|v| ((b.t0 + b.t1) / 2.0, v))).collect()
    };
    let (p50, p99) = (points(|b| b.p50_ms), points(|b| b.p99_ms));
    let objective = r.slo.latency_p99_ms;
    let top = p99.iter().flatten().map(|p| p.1).chain(objective).fold(1.0, f64::max) * 1.15;
    let mut chart = chart_with_axes(
        &plot,
        title,
        (win.from..win.to, 0.0..top),
        ("time [s]", "latency of successful requests [ms]"),
        &win.y,
    )?;
    for (points, colour) in [(&p50, series::P50), (&p99, series::P99)] {
        draw_broken_line(&mut chart, points, colour, 2)?;
    }
    let mut entries = vec![
        ("p50 per bin".to_string(), Mark::Line(series::P50)),
        ("p99 per bin".to_string(), Mark::Line(series::P99)),
    ];
    if let Some(slo) = objective {
        chart.draw_series(DashedLineSeries::new(
            vec![(win.from, slo), (win.to, slo)],
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
/// succeeded: which classes a failure reaches (bulkheads keep the others
/// at 100%).
pub fn classes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let mut chart = chart_with_axes(
        &plot,
        title,
        (win.from..win.to, 0.0..105.0),
        ("time [s]", "requests finishing in the bin that succeeded [%]"),
        &win.y,
    )?;
    let mut entries = Vec::new();
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
            .map(|(t0, t1, v)| v.map(|v| ((t0 + t1) / 2.0, v * 100.0)))
            .collect();
        draw_broken_line(&mut chart, &points, colour, width)?;
        entries.push((style::clip(&class.class, style::NAME_CHARS), Mark::Line(colour)));
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
    let mut chart =
        chart_with_axes(&plot, title, (win.from..win.to, 0.0..top), ("time [s]", "attempts per second"), &win.y)?;
    let mut entries = Vec::new();
    for (i, service) in r.services.iter().take(MAX_LINES).enumerate() {
        let colour = series::CYCLE[i % series::CYCLE.len()];
        let points: Vec<(f64, f64)> =
            service.bins.iter().filter(|b| win.holds_bin(b.0, b.1)).map(|b| ((b.0 + b.1) / 2.0, b.2)).collect();
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
    style::legend(&side, &entries)?;
    Ok(())
}
