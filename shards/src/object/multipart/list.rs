//! ListMultipartUploads: every upload of a bucket whose record read quorum agrees on,
//! paged in key order, then age, with prefix, delimiter and markers as S3 has them.

use std::collections::BTreeMap;
use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::Result;
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::store::Store;
use crate::set::quorum::{self, Answer, Strategy};

use super::record::{UploadInfo, valid_upload_id};

/// What ListMultipartUploads asks for.
#[derive(Debug, Clone, Default)]
pub struct UploadsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub max_uploads: usize,
}

/// A page of ListMultipartUploads, in key order, then upload age.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key and upload id on this page (continuation markers when truncated).
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// A page of the bucket's uploads in progress.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        query: &UploadsQuery,
    ) -> Result<UploadsPage> {
        self.require_bucket(bucket).await?;
        let mut uploads = self.bucket_uploads(bucket).await;
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        // After the key marker; with an upload id marker, also the key marker's own
        // uploads after that id. A key marker that is a common prefix (a previous page
        // ended on it) skips everything under it.
        let (key_marker, id_marker) = (query.key_marker.as_str(), query.upload_id_marker.as_str());
        let marker_is_prefix =
            !key_marker.is_empty() && delimiter.is_some_and(|d| key_marker.ends_with(d));
        uploads.retain(|u| {
            let after = if id_marker.is_empty() {
                u.key.as_str() > key_marker
            } else {
                (u.key.as_str(), u.upload_id.as_str()) > (key_marker, id_marker)
            };
            let under_marker = marker_is_prefix && u.key.starts_with(key_marker);
            after && !under_marker && u.key.starts_with(&query.prefix)
        });
        let mut page = UploadsPage::default();
        if query.max_uploads == 0 {
            return Ok(page);
        }
        let mut last: Option<(String, String)> = None;
        for upload in uploads {
            let rolled_up = delimiter.and_then(|d| {
                let rest = &upload.key[query.prefix.len()..];
                rest.find(d)
                    .map(|at| format!("{}{}", query.prefix, &rest[..at + d.len()]))
            });
            if rolled_up.is_some() && page.common_prefixes.last() == rolled_up.as_ref() {
                continue; // already on this page
            }
            if page.uploads.len() + page.common_prefixes.len() == query.max_uploads {
                page.is_truncated = true;
                break;
            }
            if let Some(prefix) = rolled_up {
                // The next page starts after the whole prefix.
                last = Some((prefix.clone(), String::new()));
                page.common_prefixes.push(prefix);
            } else {
                last = Some((upload.key.clone(), upload.upload_id.clone()));
                page.uploads.push(upload);
            }
        }
        if page.is_truncated
            && let Some((key, id)) = last
        {
            page.next_key_marker = Some(key);
            page.next_upload_id_marker = Some(id);
        }
        Ok(page)
    }

    /// Every upload of `bucket` whose record read-quorum members agree on, sorted by
    /// key, then age.
    pub(super) async fn bucket_uploads(&self, bucket: &str) -> Vec<UploadInfo> {
        let mut uploads = Vec::new();
        for (id, holders) in self.upload_holders(bucket).await {
            if !valid_upload_id(&id) {
                continue;
            }
            if let Some(upload) = self.find_upload(bucket, &id, &holders).await {
                uploads.push(upload);
            }
        }
        uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        uploads
    }

    /// Every upload id of `bucket` any member of any set holds, with the indexes (in
    /// `members`) of the members that hold it. Asks every member: an upload is on one
    /// set, and the listing does not know which before reading its record.
    pub(super) async fn upload_holders(&self, bucket: &str) -> BTreeMap<String, Vec<usize>> {
        let bucket: Rc<str> = bucket.into();
        let strategy = Strategy::all(Verb::ListUploads, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let bucket = Rc::clone(&bucket);
            async move { member.list_uploads(&bucket).await }
        })
        .await;
        let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, answer) in answers.into_iter().enumerate() {
            for id in answer.into_ok().unwrap_or_default() {
                holders.entry(id).or_default().push(index);
            }
        }
        holders
    }

    /// An upload found by id alone (listing): its record from a member that holds it
    /// names the key, which places it; then it must hold on its set like any other
    /// read. `holders` are asked first, one at a time.
    pub(super) async fn find_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        holders: &[usize],
    ) -> Option<UploadInfo> {
        let (bucket_rc, id_rc): (Rc<str>, Rc<str>) = (bucket.into(), upload_id.into());
        let rest = (0..self.members.len()).filter(|i| !holders.contains(i));
        let prefer: Vec<usize> = holders.iter().copied().chain(rest).collect();
        let strategy = Strategy::read(Verb::ReadUpload, 1, self.config.member_deadline);
        let members = &self.members;
        let answers =
            quorum::call_preferring(&self.env, members, &prefer, strategy, |_, member| {
                let (bucket, upload_id) = (Rc::clone(&bucket_rc), Rc::clone(&id_rc));
                async move {
                    let bytes = member.read_upload(&bucket, &upload_id).await?;
                    // A copy that does not decode is no answer: ask another member.
                    UploadInfo::decode(&bytes).map_err(|e| MemberError::Corrupt(e.to_string()))
                }
            })
            .await;
        let record = answers.into_iter().find_map(Answer::into_ok)?;
        self.upload_info(bucket, &record.key, upload_id).await.ok()
    }
}
