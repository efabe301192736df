//! Small inline SVG bar charts, drawn on the server so the dashboard needs no chart library and
//! no script to show them (and they print and screenshot as they look).

use super::esc;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

/// One bar: its label under the axis and its value (`None`: nothing to draw, e.g. no calls).
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: Option<f64>,
}

/// A bar chart with a titled `<figure>`; `unit` follows each value in the tooltips, `max` fixes
/// the scale (percentages) instead of fitting the largest value.
pub(crate) fn bar_chart(
    title: &str,
    bars: &[Bar],
    unit: &str,
    max: Option<f64>,
    color: &str,
) -> String {
    let top_value = max
        .unwrap_or_else(|| bars.iter().filter_map(|b| b.value).fold(0.0_f64, f64::max))
        .max(1.0);
    let scale_top = nice_ceiling(top_value);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - 8.0;
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(2.0);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    // Horizontal grid lines at 0, ½ and the top of the scale, labelled on the left.
    for frac in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - frac);
        svg.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eceef2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#8a8f99\">{}</text>",
            WIDTH - 8.0,
            LEFT - 4.0,
            y + 3.0,
            fmt_value(scale_top * frac)
        ));
    }
    let label_every = (bars.len() / 7).max(1);
    for (i, b) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        if let Some(v) = b.value {
            let h = (v / scale_top * plot_h).clamp(0.0, plot_h);
            let y = TOP + plot_h - h;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" rx=\"2\" fill=\"{color}\">\
                 <title>{}: {}{}</title></rect>",
                esc(&b.label),
                fmt_value(v),
                esc(unit)
            ));
        }
        if i % label_every == 0 || i + 1 == bars.len() {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text>",
                x + bar_w / 2.0,
                HEIGHT - 8.0,
                esc(&b.label)
            ));
        }
    }
    svg.push_str("</svg>");
    format!(
        "<figure class=\"card\" style=\"margin:0\"><figcaption><b>{}</b></figcaption>{svg}</figure>",
        esc(title)
    )
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `v`, so the axis shows round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * base)
}

fn fmt_value(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_draws_one_rect_per_measured_day_and_escapes_labels() {
        let bars = vec![
            Bar {
                label: "03-01".into(),
                value: Some(4.0),
            },
            Bar {
                label: "<x>".into(),
                value: None,
            },
            Bar {
                label: "03-03".into(),
                value: Some(10.0),
            },
        ];
        let svg = bar_chart("Calls per day", &bars, " calls", None, "#1f5fa8");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert!(svg.contains("03-03: 10 calls"));
    }

    #[test]
    fn axis_tops_are_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1800.0), 2000.0);
    }
}
