//! Charts of a sweep: a headline metric against the first parameter with
//! 95% confidence-interval error bars (one line per combination of the
//! other parameters; points without joining lines when the parameter is a
//! category such as a DR tier), success on a "nines" axis so 99.86% and
//! 99.91% are apart, the success of each request class the same way, a
//! heatmap of P(cascade) over two numeric parameters, RTO and RPO side by
//! side per disaster-recovery tier, and a capacity plan's P(SLO met).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{Axis, Scale, YOptions, time_unit};
use super::data::SweepData;
use super::style::{self, Mark, number_label, series};
use super::{Chart, DrawResult, axes_chart, with_legend_column};

/// Headline metrics drawn against the swept parameter: (metric, axis title).
const METRICS: [(&str, &str); 5] = [
    ("success_fraction", "success fraction"),
    ("latency_p99_ms", "p99 latency [ms]"),
    ("p_cascade", "P(cascade)"),
    ("rto_s", "RTO [s]"),
    ("retry_amplification", "retry amplification"),
];

const DR_PATH: &str = "disaster_recovery.strategy";

/// The chart of every request class's success (`class.NAME.success_fraction`).
const CLASSES: &str = "class success fraction";

/// The request classes whose success the sweep's summary holds, in order.
fn class_metrics(s: &SweepData) -> Vec<&str> {
    let mut metrics: Vec<&str> = Vec::new();
    for stat in &s.stats {
        let m = stat.metric.as_str();
        if m.starts_with("class.") && m.ends_with(".success_fraction") && !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    metrics
}

pub fn short_name(metric: &str) -> &str {
    match metric {
        "success_fraction" => "success",
        "latency_p99_ms" => "p99",
        "p_cascade" => "cascade",
        "rto_s" => "rto",
        "retry_amplification" => "amplification",
        CLASSES => "classes",
        other => other,
    }
}

fn numeric(values: &[String]) -> Option<Vec<f64>> {
    values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect()
}

pub fn charts_for(s: &SweepData) -> Vec<Chart> {
    let mut charts = Vec::new();
    if s.parameters.is_empty() {
        return charts;
    }
    for (metric, _) in METRICS {
        // Only metrics some point has, and retry amplification only when it varies from 1.
        let values: Vec<f64> = s.stats.iter().filter(|x| x.metric == metric).map(|x| x.mean).collect();
        let informative = match metric {
            "retry_amplification" => values.iter().any(|v| (v - 1.0).abs() > 1e-9),
            _ => !values.is_empty(),
        };
        if informative {
            charts.push(Chart::SweepMetric(metric));
        }
    }
    if !class_metrics(s).is_empty() {
        charts.push(Chart::SweepMetric(CLASSES));
    }
    if s.parameters.len() == 2 && s.parameters.iter().all(|p| numeric(&p.values).is_some()) {
        charts.push(Chart::Heatmap);
    }
    if s.parameters.iter().any(|p| p.path == DR_PATH) {
        charts.push(Chart::Dr);
    }
    charts
}

pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &SweepData,
    chart: &Chart,
    y_options: &YOptions,
    title: &dyn Fn(&str) -> String,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    match chart {
        Chart::SweepMetric(CLASSES) => {
            // One line per class (and combination of the other parameters).
            let lines = class_metrics(s)
                .into_iter()
                .flat_map(|m| {
                    let class = m.trim_start_matches("class.").trim_end_matches(".success_fraction");
                    lines_of(s, m, Some(class))
                })
                .collect();
            let desc = "success fraction by class";
            metric_chart(
                root,
                s,
                lines,
                (desc, Scale::Nines, y_options),
                &title(&format!("{desc} vs {}", style::clip(&s.parameters[0].path, style::NAME_CHARS))),
            )
        }
        Chart::SweepMetric(metric) => {
            let desc = METRICS.iter().find(|m| m.0 == *metric).map_or(*metric, |m| m.1);
            let scale = if *metric == "success_fraction" { Scale::Nines } else { Scale::Linear };
            metric_chart(
                root,
                s,
                lines_of(s, metric, None),
                (desc, scale, y_options),
                &title(&format!("{desc} vs {}", style::clip(&s.parameters[0].path, style::NAME_CHARS))),
            )
        }
        Chart::Heatmap => heatmap(root, s, &title("P(cascade)")),
        Chart::Dr => dr(root, s, y_options, &title("RTO and RPO per disaster-recovery tier")),
        _ => Err("not a sweep chart".into()),
    }
}

/// The x position of each value of the first parameter: its number, or its
/// index for text values.
fn x_positions(s: &SweepData) -> (Vec<f64>, bool) {
    let values = &s.parameters[0].values;
    match numeric(values) {
        Some(xs) if s.parameters[0].path != DR_PATH => (xs, true),
        _ => ((0..values.len()).map(|i| i as f64).collect(), false),
    }
}

/// Label of the other parameters' values at a point.
fn others_label(s: &SweepData, point: usize) -> String {
    s.parameters
        .iter()
        .zip(&s.points[point])
        .skip(1)
        .map(|(p, v)| {
            let name = p.path.rsplit('.').next().unwrap_or(&p.path);
            format!("{}={}", style::clip(name, style::NAME_CHARS), style::clip(v, style::NAME_CHARS))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A line of a metric chart: its label and (x, mean, CI low, CI high).
type Line = (String, Vec<(f64, f64, f64, f64)>);

/// A metric's lines against the first parameter, one per combination of
/// the other parameters, labelled (after `prefix`) by their values.
fn lines_of(s: &SweepData, metric: &str, prefix: Option<&str>) -> Vec<Line> {
    let (xs, _) = x_positions(s);
    let first = &s.parameters[0];
    let mut lines: Vec<Line> = Vec::new();
    for (k, values) in s.points.iter().enumerate() {
        let Some(stat) = s.stat(k, metric) else { continue };
        let xi = first.values.iter().position(|v| *v == values[0]).unwrap_or(0);
        let others = others_label(s, k);
        let label = match (prefix, others.is_empty()) {
            (Some(p), true) => style::clip(p, style::NAME_CHARS),
            (Some(p), false) => format!("{}, {others}", style::clip(p, style::NAME_CHARS)),
            (None, _) => others,
        };
        let low = stat.low.unwrap_or(stat.mean);
        let high = stat.high.unwrap_or(stat.mean);
        let point = (xs[xi], stat.mean, low, high);
        match lines.iter_mut().find(|l| l.0 == label) {
            Some(l) => l.1.push(point),
            None => lines.push((label, vec![point])),
        }
    }
    lines
}

fn metric_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &SweepData,
    lines: Vec<Line>,
    (desc, scale, y_options): (&str, Scale, &YOptions),
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let (xs, is_numeric) = x_positions(s);
    let first = &s.parameters[0];
    let (xmin, xmax) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let pad = if xmax > xmin { (xmax - xmin) * 0.05 } else { 0.5 };
    // Text values (a DR tier, a policy) are categories: one tick each, by
    // name; whole numbers (nodes, replicas, retries) get whole ticks only.
    let x_axis = if !is_numeric {
        Axis::categories(&first.values)
    } else if xs.iter().all(|x| x.fract() == 0.0) {
        Axis::integers(xmin, xmax).padded(pad)
    } else {
        Axis::exact(xmin, xmax, Scale::Linear).padded(pad)
    };
    let all = lines.iter().flat_map(|l| l.1.iter());
    let (ylo, yhi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.2), b.max(p.3)));
    let (ylo, yhi) = if ylo.is_finite() { (ylo, yhi) } else { (0.0, 1.0) };
    let (ylo, yhi) = match scale {
        // An interval reaching a perfect 1 (every run fully successful)
        // would stretch a nines axis without end: the means set the top then.
        Scale::Nines => {
            let top =
                lines.iter().flat_map(|l| l.1.iter()).map(|p| if p.3 < 1.0 { p.3 } else { p.1 }).fold(ylo, f64::max);
            (ylo, top)
        }
        Scale::Linear => {
            let ypad = if yhi > ylo { (yhi - ylo) * 0.08 } else { ylo.abs().max(1.0) * 0.1 };
            (ylo - ypad, yhi + ypad)
        }
        Scale::Log => (ylo, yhi),
    };
    let y_axis = y_options.apply(ylo..yhi, scale)?;
    let y_desc = match y_axis.scale() {
        Scale::Nines => format!("{desc}, nines scale (mean, 95% CI)"),
        _ => format!("{desc} (mean, 95% CI)"),
    };
    let mut chart =
        axes_chart(&plot, title, (x_axis, y_axis), (&style::clip(&first.path, style::TEXT_CHARS), &y_desc))?;
    let mut entries = Vec::new();
    // Lines are nudged apart a little so equal values do not hide each other.
    let count = lines.len() as f64;
    let nudge = if is_numeric { (xmax - xmin).max(1.0) * 0.006 } else { 0.06f64.min(0.6 / count) };
    for (i, (label, mut points)) in lines.into_iter().enumerate() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let shift = (i as f64 - (count - 1.0) / 2.0) * nudge;
        for p in points.iter_mut() {
            p.0 += shift;
        }
        let colour = series::CYCLE[i % series::CYCLE.len()];
        // A line between categories would claim values between them.
        if is_numeric {
            chart.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), colour.stroke_width(2)))?;
        }
        chart.draw_series(
            points.iter().map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, colour.stroke_width(2), 12)),
        )?;
        chart.draw_series(points.iter().map(|p| Circle::new((p.0, p.1), 5, colour.filled())))?;
        let name = if label.is_empty() { desc.to_string() } else { label };
        entries.push((name, if is_numeric { Mark::Line(colour) } else { Mark::Dot(colour) }));
    }
    entries.push((format!("{} runs per point", s.runs), Mark::Dot(style::WHITE_ISH)));
    style::legend(&side, &entries)?;
    Ok(())
}

/// Viridis at t in [0, 1] (a perceptually uniform, colour-blind-safe map),
/// by linear interpolation of five anchors.
fn viridis(t: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &SweepData, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let (px, py) = (&s.parameters[0], &s.parameters[1]);
    let (nx, ny) = (px.values.len(), py.values.len());
    // Each cell sits on its category's tick, named by its value.
    let axes = (Axis::categories(&px.values), Axis::categories(&py.values));
    let mut chart = axes_chart(
        &plot,
        title,
        axes,
        (&style::clip(&px.path, style::TEXT_CHARS), &style::clip(&py.path, style::TEXT_CHARS)),
    )?;
    let annotate = nx * ny <= 400;
    for (k, values) in s.points.iter().enumerate() {
        let (Some(i), Some(j)) =
            (px.values.iter().position(|v| *v == values[0]), py.values.iter().position(|v| *v == values[1]))
        else {
            continue;
        };
        let Some(stat) = s.stat(k, "p_cascade") else { continue };
        let (x, y) = (i as f64 - 0.5, j as f64 - 0.5);
        chart
            .draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1.0, y + 1.0)], viridis(stat.mean).filled())))?;
        if annotate {
            let ink = if stat.mean > 0.6 { style::BLACK } else { WHITE };
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.2}", stat.mean),
                (x + 0.5, y + 0.5),
                style::small_style().color(&ink).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                )),
            )))?;
        }
    }
    // The colour scale in the legend column.
    let entries: Vec<(String, Mark)> =
        [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|&p| (format!("P(cascade) = {p:.2}"), Mark::Fill(viridis(p)))).collect();
    let mut entries = entries;
    entries.push((format!("{} runs per cell", s.runs), Mark::Dot(style::WHITE_ISH)));
    style::legend(&side, &entries)?;
    Ok(())
}

fn dr<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &SweepData, y_options: &YOptions, title: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let at = s.parameters.iter().position(|p| p.path == DR_PATH).unwrap_or(0);
    let tiers = s.parameters[at].values.clone();
    // One point per tier: the first point with that tier (other parameters
    // at their first values).
    let reference: Vec<&String> = s.points.first().map(|p| p.iter().collect()).unwrap_or_default();
    let point_of = |tier: &String| {
        s.points.iter().position(|p| {
            p.iter().enumerate().all(|(i, v)| if i == at { v == tier } else { Some(&v) == reference.get(i) })
        })
    };
    let (plot, side) = with_legend_column(root);
    let titled = plot.titled(&style::clip(title, style::TEXT_CHARS), style::title_style())?;
    let (left, right) = titled.split_horizontally((WIDTH_HALF) as i32);
    let mut entries = Vec::new();
    for (area, metric, desc, colour, objective) in [
        (&left, "rto_s", "RTO", series::RTO, s.slo.rto_objective_s),
        (&right, "rpo_s", "RPO", series::RPO, s.slo.rpo_objective_s),
    ] {
        let bars: Vec<(usize, f64, f64, f64)> = tiers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                point_of(t)
                    .and_then(|k| s.stat(k, metric))
                    .map(|x| (i, x.mean, x.low.unwrap_or(x.mean), x.high.unwrap_or(x.mean)))
            })
            .collect();
        let longest = bars.iter().map(|b| b.3).chain(objective).fold(1.0, f64::max);
        // Times of a backup restore run to an hour: minutes or hours then.
        let (unit, unit_name) = time_unit(longest);
        let y_axis = if y_options.is_default() {
            Axis::time(longest * 1.1, unit)
        } else {
            y_options.apply(0.0..longest * 1.1, Scale::Linear)?.in_unit(unit)
        };
        let (bottom, top) = (y_axis.range().start, y_axis.range().end);
        let y_labels = y_axis.clone();
        let x_axis = Axis::categories(&tiers);
        let x_labels = x_axis.clone();
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(x_axis, y_axis)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(100)
            .y_labels(100)
            .x_label_formatter(&|v| x_labels.label(*v))
            .y_label_formatter(&|v| y_labels.label(*v))
            .y_desc(format!("{desc} [{unit_name}] (mean, 95% CI)"))
            .axis_desc_style(style::label_style())
            .label_style(style::small_style())
            .light_line_style(style::LIGHT_GREY.mix(0.5))
            .draw()?;
        chart.draw_series(
            bars.iter().map(|b| Rectangle::new([(b.0 as f64 - 0.3, bottom), (b.0 as f64 + 0.3, b.1)], colour.filled())),
        )?;
        chart.draw_series(
            bars.iter().map(|b| ErrorBar::new_vertical(b.0 as f64, b.2, b.1, b.3, style::BLACK.stroke_width(2), 14)),
        )?;
        if let Some(o) = objective {
            chart.draw_series(DashedLineSeries::new(
                vec![(-0.5, o), (tiers.len() as f64 - 0.5, o)],
                10,
                6,
                series::OBJECTIVE.stroke_width(2),
            ))?;
            let label = format!("{desc} objective {} {unit_name}", number_label(o / unit));
            entries.push((label, Mark::Dashed(series::OBJECTIVE)));
        }
        if bars.is_empty() {
            chart.draw_series(std::iter::once(Text::new(
                format!("no {desc} in any run"),
                (0.0, top / 2.0),
                style::label_style(),
            )))?;
        }
        entries.push((format!("{desc} (mean, 95% CI)"), Mark::Fill(colour)));
    }
    entries.push((format!("{} runs per tier", s.runs), Mark::Dot(style::WHITE_ISH)));
    style::legend(&side, &entries)?;
    Ok(())
}

const WIDTH_HALF: u32 = (super::WIDTH - 240) / 2;

/// A capacity plan: P(SLO met) with its Wilson interval per candidate, the
/// confidence target, and the recommendation marked.
pub fn plan<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &super::data::PlanData,
    y_options: &YOptions,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let mut points = p.candidates.clone();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (xmin, xmax) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| (a.min(c.0), b.max(c.0)));
    let (xmin, xmax) = if xmin.is_finite() { (xmin, xmax) } else { (0.0, 1.0) };
    let pad = if xmax > xmin { (xmax - xmin) * 0.08 } else { 1.0 };
    let nodes = p.vary != "rate";
    // Node counts are whole: no 4.5 ticks between candidates.
    let x_axis = if nodes { Axis::integers(xmin, xmax) } else { Axis::exact(xmin, xmax, Scale::Linear) }.padded(pad);
    let y_axis = y_options.apply(0.0..1.0, Scale::Linear)?;
    let x_desc = if nodes { "nodes" } else { "peak offered load [req/s]" };
    let mut chart = axes_chart(&plot, title, (x_axis, y_axis), (x_desc, "P(SLO met) (95% Wilson CI)"))?;
    chart.draw_series(LineSeries::new(points.iter().map(|c| (c.0, c.1)), series::RTO.stroke_width(2)))?;
    chart.draw_series(
        points.iter().map(|c| ErrorBar::new_vertical(c.0, c.2, c.1, c.3, series::RTO.stroke_width(2), 12)),
    )?;
    chart.draw_series(DashedLineSeries::new(
        vec![(xmin - pad, p.confidence), (xmax + pad, p.confidence)],
        10,
        6,
        series::OBJECTIVE.stroke_width(2),
    ))?;
    let mut entries = vec![
        ("P(SLO met) per candidate".to_string(), Mark::Line(series::RTO)),
        (format!("confidence target {}", number_label(p.confidence)), Mark::Dashed(series::OBJECTIVE)),
    ];
    if let Some(r) = points.iter().find(|c| c.4) {
        chart.draw_series(std::iter::once(TriangleMarker::new((r.0, r.1), 10, style::BLUISH_GREEN.filled())))?;
        entries.push((format!("recommended: {}", number_label(r.0)), Mark::Triangle(style::BLUISH_GREEN)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}
