//! Charts of a Monte Carlo batch: offered load, goodput and capacity over
//! time as means with p5–p95 bands across runs, and the distributions of
//! RTO (Kaplan–Meier, censored runs marked) and RPO across runs with their
//! objectives.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Scale, YOptions};
use super::data::{Band, BandBin, BatchData};
use super::style::{self, Mark, number_label, series};
use super::{DrawResult, Window, axes_chart, axis, with_legend_column};

/// Picks one metric's band out of a bin.
type BandOf = fn(&BandBin) -> Option<Band>;

pub fn bands<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, b: &BatchData, win: &Window, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let in_window: Vec<&BandBin> = b.bands.iter().filter(|x| x.t1 > win.from && x.t0 < win.to).collect();
    let highest = |get: BandOf| in_window.iter().filter_map(|x| get(x)).map(|b| b.p95.max(b.mean)).fold(0.0, f64::max);
    let load = highest(|x| x.offered).max(highest(|x| x.goodput)).max(1.0);
    let capacity = highest(|x| x.capacity);
    // As on the herd chart: capacity far above the load is clipped.
    let off_scale = capacity > 2.5 * load;
    let top = if off_scale { load * 1.3 } else { load.max(capacity) * 1.1 };
    let tx = style::TimeAxis::for_span(win.to - win.from);
    let area = plot.titled(&style::clip(title, style::TEXT_CHARS), style::title_style())?;
    let mut chart =
        super::run_charts::time_chart(&area, tx, win, 0.0..top, "requests per second", &|v| number_label(*v))?;
    let mut entries = Vec::new();
    let layers: [(&str, BandOf, RGBColor); 3] = [
        ("offered", |x| x.offered, series::OFFERED),
        ("goodput", |x| x.goodput, series::GOODPUT),
        ("capacity", |x| x.capacity, series::CAPACITY),
    ];
    for (name, get, colour) in layers {
        let mid = |x: &BandBin| tx.x((x.t0 + x.t1) / 2.0);
        let pts: Vec<(f64, Band)> = in_window.iter().filter_map(|x| get(x).map(|band| (mid(x), band))).collect();
        if pts.is_empty() {
            continue;
        }
        // The band as one polygon: p95 forwards, p5 backwards.
        let clip = |v: f64| v.min(top);
        let mut outline: Vec<(f64, f64)> = pts.iter().map(|(t, band)| (*t, clip(band.p95))).collect();
        outline.extend(pts.iter().rev().map(|(t, band)| (*t, clip(band.p5))));
        chart.draw_series(std::iter::once(Polygon::new(outline, style::tint(colour, 0.7).mix(0.6).filled())))?;
        chart
            .draw_series(LineSeries::new(pts.iter().map(|(t, band)| (*t, clip(band.mean))), colour.stroke_width(2)))?;
        let name = if name == "capacity" && off_scale {
            format!("capacity (clipped; up to {} req/s)", number_label(capacity.round()))
        } else {
            name.to_string()
        };
        entries.push((format!("{name}: mean"), Mark::Line(colour)));
        entries.push((format!("{name}: p5–p95"), Mark::Fill(style::tint(colour, 0.7))));
    }
    entries.push((format!("{} runs, seed {}", b.runs, b.seed), Mark::Dot(style::WHITE_ISH)));
    style::legend(&side, &entries)?;
    Ok(())
}

/// Kaplan–Meier estimate of P(recovered by t): steps at each recovery time.
fn recovered_curve(observations: &[(f64, bool)]) -> Vec<(f64, f64)> {
    let mut obs = observations.to_vec();
    obs.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk = obs.len() as f64;
    let mut survival = 1.0;
    let mut curve = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < obs.len() {
        let t = obs[i].0;
        let (mut events, mut leaving) = (0.0, 0.0);
        while i < obs.len() && obs[i].0 == t {
            events += if obs[i].1 { 1.0 } else { 0.0 };
            leaving += 1.0;
            i += 1;
        }
        if events > 0.0 {
            curve.push((t, 1.0 - survival));
            survival *= 1.0 - events / at_risk;
            curve.push((t, 1.0 - survival));
        }
        at_risk -= leaving;
    }
    curve
}

/// A distribution across runs, as drawn by [`cdf_chart`].
struct Cdf<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// The step curve, (x, share of runs).
    curve: Vec<(f64, f64)>,
    /// Censored runs, drawn as crosses on the curve.
    censored: Vec<(f64, f64)>,
    objective: Option<f64>,
    colour: RGBColor,
    entries: Vec<(String, Mark)>,
}

fn cdf_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, cdf: Cdf, y_options: &YOptions) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Cdf { title, x_desc, y_desc, curve, censored, objective, colour, entries } = cdf;
    let (plot, side) = with_legend_column(root);
    let longest = curve.iter().map(|p| p.0).chain(censored.iter().map(|p| p.0)).chain(objective).fold(1.0, f64::max);
    // Recovery times of a backup restore run to hours: the axis says
    // minutes or hours then, not thousands of seconds.
    let (unit, unit_name) = axis::time_unit(longest);
    let x_axis = Axis::time(longest * 1.05, unit);
    let right = x_axis.range().end;
    let last = curve.last().map_or(0.0, |p| p.1);
    let mut curve = curve;
    curve.push((right, last));
    let y_axis = y_options.apply(0.0..1.0, Scale::Linear)?.in_percent();
    let (top, label_height) = (y_axis.range().end, y_axis.at(0.95));
    let x_desc = format!("{x_desc} [{unit_name}]");
    let mut chart = axes_chart(&plot, title, (x_axis, y_axis), (&x_desc, &format!("{y_desc} [%]")))?;
    chart.draw_series(LineSeries::new(curve, colour.stroke_width(3)))?;
    if !censored.is_empty() {
        chart.draw_series(censored.iter().map(|&(t, y)| Cross::new((t, y), 7, style::BLACK.stroke_width(2))))?;
    }
    if let Some(o) = objective {
        let bottom = chart.y_range().start;
        chart.draw_series(DashedLineSeries::new(
            vec![(o, bottom), (o, top)],
            10,
            6,
            series::OBJECTIVE.stroke_width(2),
        ))?;
        // Labelled at the line, inside the plot, so the legend holds only
        // the data.
        let label = format!("objective {} {unit_name}", number_label(o / unit));
        chart.draw_series(std::iter::once(Text::new(label, (o + right * 0.01, label_height), style::small_style())))?;
    }
    style::legend(&side, &entries)?;
    Ok(())
}

pub fn rto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    b: &BatchData,
    y_options: &YOptions,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let curve = recovered_curve(&b.rto);
    // Censored runs sit on the curve at the time observation stopped.
    let level = |t: f64| curve.iter().rev().find(|p| p.0 <= t).map_or(0.0, |p| p.1);
    let censored: Vec<(f64, f64)> = b.rto.iter().filter(|o| !o.1).map(|o| (o.0, level(o.0))).collect();
    let recovered = b.rto.iter().filter(|o| o.1).count();
    let mut entries =
        vec![(format!("recovered: {recovered} of {} (Kaplan–Meier)", b.rto.len()), Mark::Line(series::RTO))];
    if !censored.is_empty() {
        entries.push((format!("never recovered: {}", censored.len()), Mark::Cross(style::BLACK)));
    }
    cdf_chart(
        root,
        Cdf {
            title,
            x_desc: "time from disruption to restored SLO",
            y_desc: "disrupted runs recovered",
            curve,
            censored,
            objective: b.slo.rto_objective_s,
            colour: series::RTO,
            entries,
        },
        y_options,
    )
}

pub fn rpo<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    b: &BatchData,
    y_options: &YOptions,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut values = b.rpo.clone();
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let mut curve = vec![(0.0, 0.0)];
    for (i, v) in values.iter().enumerate() {
        curve.push((*v, i as f64 / n));
        curve.push((*v, (i + 1) as f64 / n));
    }
    let entries = vec![(format!("runs with data loss: {}", values.len()), Mark::Line(series::RPO))];
    cdf_chart(
        root,
        Cdf {
            title,
            x_desc: "data-loss window (RPO)",
            y_desc: "runs with RPO at most x",
            curve,
            censored: Vec::new(),
            objective: b.slo.rpo_objective_s,
            colour: series::RPO,
            entries,
        },
        y_options,
    )
}
