//! The picture: `/health` latency and the executor's lag over time, inline
//! against offloaded, one row per executor, as an SVG file.

use std::path::Path;

use plotters::prelude::*;

use crate::load::Outcome;

/// One executor's two scenarios.
pub struct Row<'a> {
    pub executor: &'a str,
    pub inline: &'a Outcome,
    pub offloaded: &'a Outcome,
}

const INLINE: RGBColor = RGBColor(214, 39, 40);
const OFFLOADED: RGBColor = RGBColor(31, 119, 180);

/// Writes the plot to `path`: per executor, `/health` latency (left) and
/// the lag probe's `overdue` (right), both in ms on a log scale, against
/// seconds into the scenario.
pub fn write(path: &Path, secs: f64, rows: &[Row<'_>]) -> Result<(), Box<dyn std::error::Error>> {
    let height = 320 * rows.len() as u32 + 40;
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "A blocking call inside an async handler: inline stalls the executor, offloaded does not",
        ("sans-serif", 18),
    )?;
    let panels = body.split_evenly((rows.len(), 2));
    for (i, row) in rows.iter().enumerate() {
        let series = [
            (
                "/health latency (ms)",
                &row.inline.health_series,
                &row.offloaded.health_series,
            ),
            (
                "executor lag: lag_probe overdue (ms)",
                &row.inline.lag_series,
                &row.offloaded.lag_series,
            ),
        ];
        for (j, (what, inline, offloaded)) in series.into_iter().enumerate() {
            let top = inline
                .iter()
                .chain(offloaded.iter())
                .map(|p| p.1)
                .fold(10.0f64, f64::max)
                * 2.0;
            let mut chart = ChartBuilder::on(&panels[i * 2 + j])
                .caption(format!("{}: {what}", row.executor), ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..secs, (0.01f64..top).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("seconds into the scenario")
                .y_desc("ms")
                .draw()?;
            for (name, points, color) in [
                ("inline", inline, INLINE),
                ("offloaded", offloaded, OFFLOADED),
            ] {
                chart
                    .draw_series(LineSeries::new(
                        points.iter().map(|&(t, ms)| (t, ms.max(0.01))),
                        color.stroke_width(2),
                    ))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::MiddleRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}
