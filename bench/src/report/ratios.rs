//! `--baseline FILE`: an operation's throughput as ratios to this machine's ceilings,
//! measured by `shoal-bench baseline --json FILE` (DESIGN.md §8: every claim is a
//! ratio against a baseline).
//!
//! - Bytes: average MiB/s, in GB/s, against the loopback TCP stream, the most any S3
//!   server on this host can move over loopback (only when the operation moved bytes).
//! - Operations: average obj/s of single-object requests (GET, PUT, STAT, UPLOADPART)
//!   against the loopback request/response rate of the same shape (PUT for uploads,
//!   GET otherwise) at the payload size nearest the operation's average object size.
//!   That ceiling is per its number of connections (usually one): a ratio above 1
//!   means the run used more connections than the baseline did, not that it beat it.
//!   Batches (DELETE, LIST) and the COMPLETE have no such ratio.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::baseline::ceilings::{Baseline, LOOPBACK_TCP};
use crate::baseline::net::Shape;
use crate::report::record::OpKind;
use crate::units::format_size;

const MIB: f64 = 1_048_576.0;

/// One ratio: `measured / ceiling`, with what the ceiling is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BaselineRatio {
    /// What the ceiling is, e.g. `loopback TCP stream`.
    pub ceiling: String,
    pub unit: String,
    pub ceiling_value: f64,
    pub measured: f64,
    pub ratio: f64,
}

/// What the ratios of one operation kind are computed from: its share of an operation
/// summary (the summary builds it, so this file does not depend on the summary's shape).
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    pub kind: Option<OpKind>,
    pub bytes: u64,
    pub objects: u64,
    pub average_mib_s: f64,
    pub average_obj_s: f64,
}

/// The ratios of one operation kind (see the file header).
pub fn compute(op: &Measured, baseline: &Baseline) -> Vec<BaselineRatio> {
    let mut ratios = Vec::new();
    if op.bytes > 0
        && let Some(ceiling) = baseline.figure(LOOPBACK_TCP)
    {
        ratios.push(ratio(
            "loopback TCP stream".to_owned(),
            "GB/s",
            ceiling,
            op.average_mib_s * MIB / 1e9,
        ));
    }
    let shape = match op.kind {
        Some(OpKind::Put | OpKind::UploadPart) => Some(Shape::Put),
        Some(OpKind::Get | OpKind::Stat) => Some(Shape::Get),
        _ => None,
    };
    let object_bytes = if op.objects > 0 {
        op.bytes as f64 / op.objects as f64
    } else {
        0.0
    };
    if let Some(shape) = shape
        && let Some(rr) = baseline.nearest_request_response(shape, object_bytes)
    {
        let ceiling = format!(
            "loopback request/response, {} {}, {} conn",
            shape.name(),
            format_size(rr.payload_bytes),
            rr.connections
        );
        ratios.push(ratio(ceiling, "op/s", rr.ops_per_sec, op.average_obj_s));
    }
    ratios
}

fn ratio(ceiling: String, unit: &str, ceiling_value: f64, measured: f64) -> BaselineRatio {
    BaselineRatio {
        ceiling,
        unit: unit.to_owned(),
        ceiling_value,
        measured,
        ratio: if ceiling_value > 0.0 {
            measured / ceiling_value
        } else {
            0.0
        },
    }
}

/// The report's lines for `ratios` (nothing when there are none).
pub fn render(ratios: &[BaselineRatio], out: &mut String) {
    if ratios.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nAgainst this machine's baseline:");
    for r in ratios {
        let _ = writeln!(
            out,
            " * {:.3} x {}: {:.2} of {:.2} {}",
            r.ratio, r.ceiling, r.measured, r.ceiling_value, r.unit
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::ceilings::Figure;
    use crate::baseline::net::RequestResponse;

    /// A GET of 1 MiB objects is compared with the stream and with the 10 MiB GET
    /// round trip; a DELETE batch has neither ratio.
    #[test]
    fn ratios_pick_their_ceilings() {
        let rr = |shape, payload_bytes, ops_per_sec| RequestResponse {
            shape,
            payload_bytes,
            connections: 1,
            ops_per_sec,
            payload_gbps: 0.0,
        };
        let baseline = Baseline {
            tool: String::new(),
            seconds_per_figure: 1.0,
            figures: vec![Figure {
                key: LOOPBACK_TCP.to_owned(),
                name: String::new(),
                gbps: 2.0,
            }],
            request_response: vec![
                rr(Shape::Get, 4096, 40_000.0),
                rr(Shape::Get, 10 << 20, 200.0),
            ],
            direct_io: None,
            direct_io_error: None,
        };
        let get = Measured {
            kind: Some(OpKind::Get),
            bytes: 100 << 20,
            objects: 100,
            average_mib_s: 1000.0,
            average_obj_s: 1000.0,
        };
        let ratios = compute(&get, &baseline);
        assert_eq!(ratios.len(), 2);
        assert!((ratios[0].ratio - 1000.0 * MIB / 1e9 / 2.0).abs() < 1e-9);
        assert!(ratios[1].ceiling.contains("GET 10 MiB"));
        assert!((ratios[1].ratio - 5.0).abs() < 1e-9);
        let delete = Measured {
            kind: Some(OpKind::Delete),
            objects: 100,
            ..Measured::default()
        };
        assert!(compute(&delete, &baseline).is_empty());
        let mut text = String::new();
        render(&ratios, &mut text);
        assert!(text.contains("x loopback TCP stream"));
    }
}
