//! The fills of replaced drives (`object/fill/`): one sample per drive being filled
//! (or filled since the process started), with the `drive` label. Counts of work done
//! are the fill's persisted record's, so they never go back across a restart; what is
//! left is counted at the start of each run.

use crate::front::metrics::node::ShardSnapshot;
use crate::front::metrics::render::Exposition;
use crate::object::fill::FillProgress;

/// A per-drive fill series: name, type, help, and its value in one fill's figures.
type FillFamily<'a> = (&'a str, &'a str, &'a str, fn(&FillProgress) -> u64);

pub(super) fn render_fill(x: &mut Exposition<'_>, shards: &[ShardSnapshot]) {
    let fills: Vec<&FillProgress> = shards.iter().flat_map(|s| &s.fill).collect();
    let families: [FillFamily<'_>; 9] = [
        (
            "shoal_drive_fill_objects_done_total",
            "counter",
            "objects of the drive's set the fill took through healing (kept across restarts)",
            |p| p.objects_done,
        ),
        (
            "shoal_drive_fill_objects_left",
            "gauge",
            "objects the fill has left (counted when it started or resumed)",
            FillProgress::objects_left,
        ),
        (
            "shoal_drive_fill_bytes_done_total",
            "counter",
            "object bytes of the objects done (kept across restarts)",
            |p| p.bytes_done,
        ),
        (
            "shoal_drive_fill_bytes_left",
            "gauge",
            "object bytes of the objects left",
            FillProgress::bytes_left,
        ),
        (
            "shoal_drive_fill_written_bytes_total",
            "counter",
            "chunk bytes the fill's heals rebuilt",
            |p| p.bytes_written,
        ),
        (
            "shoal_drive_fill_failed_total",
            "counter",
            "objects whose heal failed during the fill (left to the heal queue)",
            |p| p.objects_failed,
        ),
        (
            "shoal_drive_fill_bytes_per_second",
            "gauge",
            "object bytes done per second over the last 30 s",
            |p| p.bytes_per_second,
        ),
        (
            "shoal_drive_fill_eta_seconds",
            "gauge",
            "seconds left at that rate (absent before a rate is known)",
            |p| p.eta_seconds.unwrap_or(u64::MAX),
        ),
        (
            "shoal_drive_fill_done",
            "gauge",
            "1 once the drive is filled",
            |p| u64::from(p.state == crate::object::fill::FillState::Done),
        ),
    ];
    for (name, kind, help, value) in families {
        x.family(name, kind, help);
        for fill in &fills {
            if name == "shoal_drive_fill_eta_seconds" && fill.eta_seconds.is_none() {
                continue;
            }
            x.sample(name, &[("drive", &fill.drive)], value(fill));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::front::metrics::node::{NodeMetrics, ShardSnapshot, test_facts};
    use crate::front::metrics::process::ProcessStats;
    use crate::front::metrics::render::render;
    use crate::object::fill::{FillProgress, FillState};

    /// A drive being filled has its series under its drive label.
    #[test]
    fn filled_drives_have_series() {
        let node = NodeMetrics::new(test_facts(), 2, &["/d1".to_owned()]);
        let fill = FillProgress {
            drive: "/d1".to_owned(),
            state: FillState::Filling,
            objects_done: 4,
            objects_total: 10,
            bytes_done: 400,
            bytes_total: 1000,
            bytes_per_second: 100,
            eta_seconds: Some(6),
            ..FillProgress::default()
        };
        node.publish(
            1,
            ShardSnapshot {
                fill: vec![fill],
                ..ShardSnapshot::default()
            },
        );
        let text = render(&node, ProcessStats::default(), Instant::now());
        let labels = r#"{server="127.0.0.1:9000",drive="/d1"}"#;
        for line in [
            format!("shoal_drive_fill_objects_done_total{labels} 4"),
            format!("shoal_drive_fill_objects_left{labels} 6"),
            format!("shoal_drive_fill_bytes_left{labels} 600"),
            format!("shoal_drive_fill_eta_seconds{labels} 6"),
            format!("shoal_drive_fill_done{labels} 0"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing");
        }
    }
}
