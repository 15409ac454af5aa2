//! SVG charts of the reports (plotters, SVG backend only: no font or bitmap stack).

use std::path::Path;

use plotters::prelude::*;

use crate::report::{IdleReport, Report};

/// Latency percentiles (p50, p95, p99, max) of every step beside the echo
/// baseline, on a log scale.
///
/// # Errors
/// When the file cannot be written.
pub fn run_chart(r: &Report, path: &Path) -> anyhow::Result<()> {
    let mut series: Vec<(String, [f64; 4])> = Vec::new();
    if let Some(b) = &r.baseline {
        series.push((
            "echo baseline".into(),
            [b.p50_ms, b.p95_ms, b.p99_ms, b.max_ms],
        ));
    }
    for s in &r.steps {
        let l = &s.latency;
        series.push((s.step.clone(), [l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms]));
    }
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let lo = values.clone().fold(f64::INFINITY, f64::min).max(0.01) / 1.5;
    let hi = values.fold(0.0, f64::max).max(lo * 10.0) * 1.5;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "latency by step: {} customers, {} agents, {:.0} consultations/s",
        r.options.customers, r.options.agents, r.consultations.per_sec
    );
    let mut c = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2f64..3.2f64, (lo..hi).log_scale())?;
    let names = ["p50", "p95", "p99", "max"];
    c.configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && (0.0..4.0).contains(&i) {
                names[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .y_desc("milliseconds (log scale)")
        .draw()?;
    for (i, (name, v)) in series.iter().enumerate() {
        let colour = if i == 0 && r.baseline.is_some() {
            BLACK.to_rgba()
        } else {
            Palette99::pick(i).to_rgba()
        };
        let width = if i == 0 && r.baseline.is_some() { 3 } else { 2 };
        let points: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(x, y)| (x as f64, y.max(lo)))
            .collect();
        c.draw_series(LineSeries::new(points, colour.stroke_width(width)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The server's (and the load generator's) RSS as sessions were opened.
///
/// # Errors
/// When the file cannot be written.
pub fn idle_chart(r: &IdleReport, path: &Path) -> anyhow::Result<()> {
    let max_x = r
        .points
        .iter()
        .map(|p| p.sessions)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_y = r
        .points
        .iter()
        .map(|p| p.server_rss_mib.max(p.loadgen_rss_mib))
        .fold(1.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = match r.server_kib_per_session {
        Some(k) => format!("RSS vs idle sessions ({k:.1} KiB per session on the server)"),
        None => "RSS vs idle sessions".to_owned(),
    };
    let mut c = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x * 1.02, 0f64..max_y)?;
    c.configure_mesh()
        .x_desc("sessions open")
        .y_desc("RSS, MiB")
        .draw()?;
    let lines = [
        ("server", RGBColor(200, 40, 40), true),
        ("load generator", RGBColor(40, 90, 200), false),
    ];
    for (label, colour, server) in lines {
        let points: Vec<(f64, f64)> = r
            .points
            .iter()
            .map(|p| {
                let y = if server {
                    p.server_rss_mib
                } else {
                    p.loadgen_rss_mib
                };
                (p.sessions as f64, y)
            })
            .collect();
        c.draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}
