//! The PNG chart of latency against concurrent calls (plotters, bitmap backend). Text needs a
//! TrueType font: one from the system (DejaVu, Liberation) is read at run time when present,
//! else the chart is drawn without text and the markdown carries the labels.

use std::path::Path;

use plotters::prelude::*;

/// One plotted series: name, colour index, points (calls, milliseconds).
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Why the chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("chart: {0}")]
pub struct ChartError(String);

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a system font for plotters' `sans-serif` once; whether text can be drawn.
fn font_available() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        for path in FONT_CANDIDATES {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps the font for the process's lifetime.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws `series` (x = concurrent calls on a log axis, y = ms) into `path` (800×480 PNG).
pub fn latency_vs_calls(path: &Path, title: &str, series: &[Series]) -> Result<(), ChartError> {
    line_chart(path, title, ("concurrent calls", "ms"), true, series)
}

/// Draws `series` into `path` (800×480 PNG), x on a log axis when `log_x`; `axes` are the x
/// and y descriptions.
pub fn line_chart(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    log_x: bool,
    series: &[Series],
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let text = font_available();
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        .max(2.0);
    if !log_x {
        return draw(
            &root,
            title,
            axes,
            text,
            0.0..max_x * 1.05,
            series,
            max_y(series),
        );
    }
    draw(
        &root,
        title,
        axes,
        text,
        (1.0..max_x * 1.2).log_scale(),
        series,
        max_y(series),
    )
}

fn max_y(series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(10.0, f64::max)
        * 1.15
}

fn draw<X>(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    axes: (&str, &str),
    text: bool,
    x_range: X,
    series: &[Series],
    max_y: f64,
) -> Result<(), ChartError>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(20)
        .x_label_area_size(if text { 40 } else { 10 })
        .y_label_area_size(if text { 60 } else { 10 });
    if text {
        builder.caption(title, ("sans-serif", 22));
    }
    let mut chart = builder
        .build_cartesian_2d(x_range, 0.0..max_y)
        .map_err(|e| err(&e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(axes.0).y_desc(axes.1);
    } else {
        mesh.disable_x_mesh().x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(s.points.clone(), colour.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if text {
            let legend_colour = colour;
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], legend_colour.stroke_width(2))
            });
        }
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(|e| err(&e))?;
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_a_small_png() {
        let path = std::env::temp_dir().join(format!("bench-chart-{}.png", std::process::id()));
        latency_vs_calls(
            &path,
            "test",
            &[Series {
                name: "p50".into(),
                points: vec![(1.0, 500.0), (10.0, 520.0), (100.0, 700.0)],
            }],
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() < 200 * 1024, "{} bytes", bytes.len());
    }
}
