//! The look shared by every chart: the embedded font, the colour-blind-safe
//! Okabe–Ito palette with one colour per series everywhere, text sizes, and
//! the legend drawn in its own column beside the plot so it never covers
//! data.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera licence, see fonts/LICENSE), embedded so
/// text renders without system font libraries.
const FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font for plotters' text (once per process).
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in, so it parses; a failure would show as
        // missing text, not a crash.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Renders a chart's SVG to PNG with resvg and the embedded font: the same
/// drawing as the SVG, with properly shaped and kerned text.
pub fn rasterize(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_font_data(FONT.to_vec());
    fonts.set_sans_serif_family("DejaVu Sans");
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty chart")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}

// Okabe & Ito (2008), safe for the common colour-vision deficiencies.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
pub const BLUISH_GREEN: RGBColor = RGBColor(0, 158, 115);
#[allow(dead_code)] // part of the palette, for charts that need it
pub const YELLOW: RGBColor = RGBColor(240, 228, 66);
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const REDDISH_PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const LIGHT_GREY: RGBColor = RGBColor(225, 225, 225);
pub const WHITE_ISH: RGBColor = RGBColor(250, 250, 250);

/// The colour of each series, the same in every chart.
pub mod series {
    use super::*;
    /// First attempts (offered load).
    pub const OFFERED: RGBColor = BLUE;
    pub const RETRIES: RGBColor = ORANGE;
    pub const GOODPUT: RGBColor = BLUISH_GREEN;
    pub const CAPACITY: RGBColor = BLACK;
    pub const P50: RGBColor = SKY_BLUE;
    pub const P99: RGBColor = VERMILLION;
    pub const OBJECTIVE: RGBColor = BLACK;
    pub const RTO: RGBColor = BLUE;
    pub const RPO: RGBColor = REDDISH_PURPLE;
    /// Lines of a sweep chart, one per value of the second parameter.
    pub const CYCLE: [RGBColor; 7] = [BLUE, VERMILLION, BLUISH_GREEN, REDDISH_PURPLE, ORANGE, SKY_BLUE, BLACK];
}

/// The colours of node states on the timeline: a palette of its own that
/// no series uses, light for the healthy states and dark for the bad ones,
/// so a state is never mistaken for a line.
pub mod state {
    use super::*;
    pub const UP: RGBColor = RGBColor(171, 221, 164);
    pub const WARMING: RGBColor = RGBColor(254, 224, 139);
    pub const DRAINING: RGBColor = RGBColor(198, 219, 239);
    pub const UNHEALTHY: RGBColor = RGBColor(253, 174, 97);
    pub const EJECTED: RGBColor = RGBColor(190, 174, 212);
    pub const RESTARTING: RGBColor = RGBColor(118, 42, 131);
    pub const DOWN: RGBColor = RGBColor(165, 0, 38);
    pub const FAILED: RGBColor = RGBColor(64, 64, 64);
}

/// Shading behind the data: the warm-up, and SLO breach episodes.
pub const WARMUP_SHADE: RGBColor = RGBColor(232, 232, 232);
pub const BREACH_SHADE: RGBColor = RGBColor(250, 218, 204);
/// Scale-in drawn apart from scale-out.
pub const SCALE_OUT: RGBColor = BLUE;
pub const SCALE_IN: RGBColor = ORANGE;

/// The unit of a time axis: seconds for short windows, minutes beyond
/// 20 minutes, hours beyond 3 hours. Charts are built in that unit, so
/// plotters picks round tick steps in it (10 min, not 600 s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub seconds_per_unit: f64,
    pub unit: &'static str,
}

impl TimeAxis {
    pub fn for_span(span_s: f64) -> TimeAxis {
        if span_s > 3.0 * 3600.0 {
            TimeAxis { seconds_per_unit: 3600.0, unit: "h" }
        } else if span_s > 20.0 * 60.0 {
            TimeAxis { seconds_per_unit: 60.0, unit: "min" }
        } else {
            TimeAxis { seconds_per_unit: 1.0, unit: "s" }
        }
    }

    /// Seconds on this axis.
    pub fn x(&self, t_s: f64) -> f64 {
        t_s / self.seconds_per_unit
    }

    pub fn desc(&self) -> String {
        format!("time [{}]", self.unit)
    }
}

/// Success as "nines", −log10(1 − success), capped at [`NINES_CAP`]: an
/// axis on which 99.86% and 99.91% lie apart, where a linear percent
/// axis draws both on the 100% line.
pub const NINES_CAP: f64 = 4.0;

pub fn nines(success: f64) -> f64 {
    let failure = (1.0 - success).max(10f64.powf(-NINES_CAP));
    (-failure.log10()).clamp(0.0, NINES_CAP)
}

/// A nines axis value as a success percentage with as many decimals as
/// its nines need ("90%", "99.86%", "99.911%"); the cap reads "≥99.99%".
pub fn nines_label(v: f64) -> String {
    if v >= NINES_CAP - 1e-9 {
        return format!("≥{}%", number_label(100.0 * (1.0 - 10f64.powf(-NINES_CAP))));
    }
    // 3 nines reads "99.9%", 2.85 nines "99.86%".
    let whole = (v - v.round()).abs() < 1e-9;
    let decimals = if whole { (v.round() as usize).saturating_sub(2) } else { (v.ceil() as usize).saturating_sub(1) };
    format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-v)))
}

/// A colour lightened towards white (for filled areas behind lines).
pub fn tint(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (v as f64 + (255.0 - v as f64) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

pub fn title_style() -> TextStyle<'static> {
    (FAMILY, 26).into_font().color(&BLACK)
}

pub fn label_style() -> TextStyle<'static> {
    (FAMILY, 18).into_font().color(&BLACK)
}

/// Event labels in the strip above a plot.
pub fn note_style() -> TextStyle<'static> {
    (FAMILY, 14).into_font().color(&BLACK)
}

pub fn small_style() -> TextStyle<'static> {
    (FAMILY, 15).into_font().color(&BLACK)
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub enum Mark {
    Line(RGBColor),
    Dashed(RGBColor),
    Fill(RGBColor),
    Dot(RGBColor),
    Cross(RGBColor),
    Triangle(RGBColor),
    /// A triangle pointing down (scale-in, apart from scale-out's ▲).
    TriangleDown(RGBColor),
}

/// Longest user-given name (service, class, scenario, parameter, value)
/// shown inside a chart's text.
pub const NAME_CHARS: usize = 40;

/// Longest text drawn anywhere on a chart (a title, an axis description,
/// a legend entry, a marker label): room for a clipped name and the words
/// around it.
pub const TEXT_CHARS: usize = 80;

/// `text` cut to at most `max` characters (at least 1), the cut marked
/// with "…". Every text drawn on a chart passes through here before
/// plotters measures it: laying out text costs more than linearly in its
/// length (a 100,000-character service name took a minute to draw), and a
/// name wider than the chart is unreadable anyway. Cuts fall on character
/// boundaries, so any UTF-8 is safe.
pub fn clip(text: &str, max: usize) -> String {
    let max = max.max(1);
    // Only the first max + 1 characters are looked at, however long the text.
    if text.char_indices().nth(max).is_none() {
        return text.to_string();
    }
    let cut = text.char_indices().nth(max - 1).map_or(text.len(), |(i, _)| i);
    format!("{}…", &text[..cut])
}

/// Draws a legend in its own area (a column right of the plot). Entries
/// that would run past the bottom are counted in a last line instead, so
/// a fleet of many services cannot push the legend off the chart.
pub fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Mark)]) -> super::DrawResult
where
    DB::ErrorType: 'static,
{
    let style = small_style();
    let bottom = area.dim_in_pixel().1 as i32 - 2 * LINE_HEIGHT;
    let mut y = 70;
    for (k, (label, mark)) in entries.iter().enumerate() {
        let lines = wrap(&clip(label, TEXT_CHARS), LEGEND_CHARS);
        if y + LINE_HEIGHT * lines.len() as i32 > bottom {
            let more = format!("… and {} more", entries.len() - k);
            area.draw(&Text::new(more, (16, y - 8), style.clone()))?;
            break;
        }
        let (x0, x1) = (6, 36);
        match *mark {
            Mark::Line(c) => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], c.stroke_width(3)))?,
            Mark::Dashed(c) => {
                for k in 0..3 {
                    area.draw(&PathElement::new(vec![(x0 + k * 11, y), (x0 + k * 11 + 7, y)], c.stroke_width(2)))?;
                }
            }
            Mark::Fill(c) => area.draw(&Rectangle::new([(x0, y - 8), (x1, y + 8)], c.filled()))?,
            Mark::Dot(c) => area.draw(&Circle::new(((x0 + x1) / 2, y), 5, c.filled()))?,
            Mark::Cross(c) => area.draw(&Cross::new(((x0 + x1) / 2, y), 6, c.stroke_width(2)))?,
            Mark::Triangle(c) => area.draw(&TriangleMarker::new(((x0 + x1) / 2, y), 7, c.filled()))?,
            Mark::TriangleDown(c) => {
                let x = (x0 + x1) / 2;
                area.draw(&Polygon::new(vec![(x - 6, y - 5), (x + 6, y - 5), (x, y + 6)], c.filled()))?
            }
        }
        for line in lines {
            area.draw(&Text::new(line, (x1 + 10, y - 8), style.clone()))?;
            y += LINE_HEIGHT;
        }
        y += 9;
    }
    Ok(())
}

/// Height of a legend line [px].
const LINE_HEIGHT: i32 = 19;

/// Characters per legend line (the column is 240 px wide).
const LEGEND_CHARS: usize = 24;

/// Breaks text at spaces into lines of at most `width` characters; a word
/// longer than a line is split, so it stays inside the column.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(width).map(|c| c.iter().collect::<String>()).chain(chars.is_empty().then(String::new))
        {
            match lines.last_mut() {
                Some(line) if line.chars().count() + 1 + piece.chars().count() <= width => {
                    line.push(' ');
                    line.push_str(&piece);
                }
                _ => lines.push(piece),
            }
        }
    }
    lines
}

/// Seconds as an axis label: "90", "1m30s" style is left to the unit in the
/// axis title; here trailing zeros are trimmed.
pub fn number_label(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.1e}", v)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_bounds_any_text_on_a_character_boundary() {
        let long = "é".repeat(100_000);
        let clipped = clip(&long, NAME_CHARS);
        assert_eq!(clipped.chars().count(), NAME_CHARS);
        assert!(clipped.ends_with('…') && clipped.starts_with("éé"));
        assert_eq!(clip("app", NAME_CHARS), "app");
        assert_eq!(clip(&"a".repeat(NAME_CHARS), NAME_CHARS), "a".repeat(NAME_CHARS));
        assert_eq!(clip("abcdef", 3), "ab…");
        assert_eq!(clip("🦀🦀🦀🦀", 2), "🦀…");
    }

    #[test]
    fn time_axis_uses_minutes_past_20_minutes_and_hours_past_3_hours() {
        assert_eq!(TimeAxis::for_span(1200.0).unit, "s");
        assert_eq!(TimeAxis::for_span(1800.0).unit, "min");
        assert_eq!(TimeAxis::for_span(1800.0).x(900.0), 15.0);
        assert_eq!(TimeAxis::for_span(10800.0).unit, "min");
        assert_eq!(TimeAxis::for_span(4.0 * 3600.0).desc(), "time [h]");
    }

    #[test]
    fn the_nines_axis_tells_99_86_from_99_91() {
        let (a, b) = (nines(0.9986), nines(0.9991));
        assert!(b - a > 0.15, "{a} vs {b}");
        assert_eq!(nines_label(a), "99.86%");
        assert_ne!(nines_label(a), nines_label(b));
        assert!(nines_label(b).starts_with("99.91"));
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(nines(1.0)), "≥99.99%");
        assert_eq!(nines(0.0), 0.0);
    }

    #[test]
    fn wrap_splits_words_longer_than_a_line() {
        assert_eq!(wrap("first attempts", 24), vec!["first attempts"]);
        let lines = wrap(&"s".repeat(60), 24);
        assert_eq!(lines.iter().map(|l| l.chars().count()).collect::<Vec<_>>(), vec![24, 24, 12]);
    }
}
