//! Which drives the auditor was given, and what deployment and pool they make: from
//! the drives' own format records, never from the order or form of the arguments. So
//! an operator may pass every node's drive folders of a cluster from one machine, in
//! any order.
//!
//! Rules: each drive is read-only (`ReadOnly`). Its format record is read with the
//! start-up reader (`record::format::read_format`): formatted, blank, unreadable, or
//! holding other files. The deployment audited is the one most formatted drives belong
//! to (ties: the first given); a drive of another deployment, of another layout or
//! drive list, or at a position another drive already holds, is reported and skipped.
//! Positions of the pool that no usable drive fills are reported as not given.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::record::format::{DriveFormat, FormatRecord, read_format};
use crate::tools::audit::read_only::ReadOnly;
use crate::topology::layout::PoolLayout;
use crate::topology::placement::DeploymentId;

/// A drive the auditor reads, as a member of its set.
pub type AuditMember<D> = LocalMember<ReadOnly<D>>;

/// What the auditor found a drive to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveState {
    /// A drive of the audited deployment, at its position.
    Ok,
    /// Its folder does not exist or cannot be opened.
    Missing,
    /// No format record and nothing else: a new drive or a bare mount point.
    Blank,
    /// Its format record is unreadable, or it holds files but no format record.
    Unusable,
    /// Formatted for another deployment.
    Foreign,
    /// This deployment's, but formatted for another layout or drive list.
    Mismatch,
    /// Formatted for a position another given drive holds already.
    Duplicate,
    /// A position of the pool no usable drive was given for.
    NotGiven,
}

impl DriveState {
    pub fn as_str(self) -> &'static str {
        match self {
            DriveState::Ok => "ok",
            DriveState::Missing => "missing",
            DriveState::Blank => "blank",
            DriveState::Unusable => "unusable",
            DriveState::Foreign => "foreign",
            DriveState::Mismatch => "mismatch",
            DriveState::Duplicate => "duplicate",
            DriveState::NotGiven => "not_given",
        }
    }

    /// Whether this leaves a position of the audited pool without its drive (a foreign
    /// or duplicate drive given in addition to the pool's own does not).
    pub fn is_gap(self) -> bool {
        matches!(self, DriveState::NotGiven)
    }
}

/// One line of the drive report.
#[derive(Debug, Clone)]
pub struct DriveReport {
    /// The folder as given (`(not given)` for a position nobody filled).
    pub path: String,
    pub state: DriveState,
    /// Set and drive index in the set (0-based) this drive is, or claims to be.
    pub place: Option<(usize, usize)>,
    /// Why, in words (empty when `Ok`).
    pub detail: String,
}

/// The pool the given drives make.
pub struct AuditPool<D: Drive> {
    pub deployment_id: DeploymentId,
    pub layout: PoolLayout,
    /// Per pool position (set after set): the drive, if given and usable.
    pub members: Vec<Option<AuditMember<D>>>,
    pub reports: Vec<DriveReport>,
}

/// A given drive: its folder, and the drive opened read-only, or why it could not be.
pub struct GivenDrive<D> {
    pub path: String,
    pub drive: Result<D, String>,
}

/// What reading a drive's format record found.
enum Found {
    Formatted(FormatRecord),
    Refused(DriveState, String),
}

/// Reads every given drive's format record and assembles the pool most of them belong
/// to; `Err` when no drive is formatted (nothing to audit).
pub async fn assemble<D: Drive>(
    given: Vec<GivenDrive<D>>,
) -> Result<AuditPool<D>, Vec<DriveReport>> {
    let mut found = Vec::with_capacity(given.len());
    for GivenDrive { path, drive } in given {
        let drive = drive.map(ReadOnly::new);
        let state = match &drive {
            Ok(drive) => classify(drive).await,
            Err(why) => Found::Refused(DriveState::Missing, why.clone()),
        };
        found.push((path, drive.ok(), state));
    }
    let Some((deployment_id, first)) = chosen_deployment(&found) else {
        return Err(found
            .into_iter()
            .map(|(p, _, f)| report_of(p, &f))
            .collect());
    };
    let mut pool = AuditPool {
        deployment_id,
        layout: first.layout,
        members: (0..first.layout.drive_count()).map(|_| None).collect(),
        reports: Vec::new(),
    };
    for (path, drive, state) in found {
        let report = pool.place(&first, path, drive, &state);
        pool.reports.push(report);
    }
    pool.report_gaps();
    Ok(pool)
}

async fn classify<D: Drive>(drive: &D) -> Found {
    match read_format(drive).await {
        Ok(DriveFormat::Formatted(record)) => Found::Formatted(record),
        Ok(DriveFormat::Blank) => Found::Refused(
            DriveState::Blank,
            "no format record and no data (a new drive, or a bare mount point)".to_owned(),
        ),
        Ok(DriveFormat::Offline(why)) => Found::Refused(DriveState::Missing, why),
        Err(e) => Found::Refused(DriveState::Unusable, e.to_string()),
    }
}

/// The deployment most formatted drives hold (ties: the first given), and the first
/// record of it, whose layout and drive list the others must match.
fn chosen_deployment<D>(
    found: &[(String, Option<D>, Found)],
) -> Option<(DeploymentId, FormatRecord)> {
    let records: Vec<&FormatRecord> = found
        .iter()
        .filter_map(|(_, _, f)| match f {
            Found::Formatted(record) => Some(record),
            Found::Refused(..) => None,
        })
        .collect();
    let count = |id: &DeploymentId| records.iter().filter(|r| r.deployment_id == *id).count();
    let mut best: Option<(&FormatRecord, usize)> = None;
    for record in &records {
        let votes = count(&record.deployment_id);
        if best.is_none_or(|(_, most)| votes > most) {
            best = Some((record, votes));
        }
    }
    best.map(|(record, _)| (record.deployment_id, *record))
}

fn report_of(path: String, found: &Found) -> DriveReport {
    match found {
        Found::Formatted(record) => DriveReport {
            path,
            state: DriveState::Foreign,
            place: Some((record.set_index.into(), record.drive_index.into())),
            detail: format!(
                "formatted for deployment {}",
                hex::encode(record.deployment_id)
            ),
        },
        Found::Refused(state, why) => DriveReport {
            path,
            state: *state,
            place: None,
            detail: why.clone(),
        },
    }
}

impl<D: Drive> AuditPool<D> {
    /// Puts a drive at the position its record names, or says why it is skipped.
    fn place(
        &mut self,
        first: &FormatRecord,
        path: String,
        drive: Option<ReadOnly<D>>,
        found: &Found,
    ) -> DriveReport {
        let (Found::Formatted(record), Some(drive)) = (found, drive) else {
            return report_of(path, found);
        };
        let place = Some((
            usize::from(record.set_index),
            usize::from(record.drive_index),
        ));
        if let Some((state, detail)) = self.misfit(first, record) {
            return DriveReport {
                path,
                state,
                place,
                detail,
            };
        }
        let position = self.position_of(record);
        self.members[position] = Some(LocalMember::new(drive));
        DriveReport {
            path,
            state: DriveState::Ok,
            place,
            detail: String::new(),
        }
    }

    /// Why a formatted drive does not fit the pool `first` describes, if it does not.
    fn misfit(&self, first: &FormatRecord, record: &FormatRecord) -> Option<(DriveState, String)> {
        if record.deployment_id != self.deployment_id {
            return Some((
                DriveState::Foreign,
                format!(
                    "formatted for deployment {}",
                    hex::encode(record.deployment_id)
                ),
            ));
        }
        let drive_list = |r: &FormatRecord| r.cluster.map(|c| (c.node_count, c.endpoints_hash));
        let set_size = self.layout.set.set_size();
        if record.layout != first.layout
            || drive_list(record) != drive_list(first)
            || record.pool_index != 0
            || usize::from(record.drive_index) >= set_size
            || usize::from(record.set_index) >= self.layout.set_count
        {
            return Some((
                DriveState::Mismatch,
                format!(
                    "formatted for another layout or drive list of this deployment ({} set(s) \
                     of {}+{}), not this pool's",
                    record.layout.set_count,
                    record.layout.set.data_chunks,
                    record.layout.set.parity_chunks
                ),
            ));
        }
        let position = self.position_of(record);
        if self.members[position].is_some() {
            let holder = self
                .reports
                .iter()
                .find(|r| r.state == DriveState::Ok && r.place == Some(self.place_of(position)))
                .map_or("another drive", |r| r.path.as_str());
            return Some((
                DriveState::Duplicate,
                format!("the same position as {holder} (the same folder given twice, or a copy)"),
            ));
        }
        None
    }

    fn position_of(&self, record: &FormatRecord) -> usize {
        usize::from(record.set_index) * self.layout.set.set_size() + usize::from(record.drive_index)
    }

    fn place_of(&self, position: usize) -> (usize, usize) {
        let set_size = self.layout.set.set_size();
        (position / set_size, position % set_size)
    }

    /// A report line for every position of the pool no usable drive fills.
    fn report_gaps(&mut self) {
        for position in 0..self.members.len() {
            if self.members[position].is_none() {
                let place = Some(self.place_of(position));
                self.reports.push(DriveReport {
                    path: "(not given)".to_owned(),
                    state: DriveState::NotGiven,
                    place,
                    detail: "no usable drive of this deployment was given for this position"
                        .to_owned(),
                });
            }
        }
    }
}
