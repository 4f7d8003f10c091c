//! Conditional writes: `If-None-Match: *` (create only if absent) and `If-Match: ETAG`
//! (replace or delete only that version). Evaluated under the key's lock on its owner
//! shard, against the version the set agrees on, so check-and-commit is atomic: of
//! many racing creators of one key, exactly one wins.

use crate::error::{Error, Result};
use crate::record::meta::ObjectInfo;

/// A precondition on the current version of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: only if no version exists.
    IfNoneMatchAny,
    /// `If-Match: "etag"` (or `*`): only if the current version has this ETag.
    IfMatch(String),
}

impl WriteCondition {
    /// From the request's `If-None-Match` / `If-Match` header values.
    pub fn from_headers(if_none_match: Option<&str>, if_match: Option<&str>) -> Result<Self> {
        match (if_none_match.map(str::trim), if_match.map(str::trim)) {
            (Some(_), Some(_)) => Err(Error::InvalidCondition(
                "If-Match and If-None-Match together",
            )),
            (Some("*"), None) => Ok(Self::IfNoneMatchAny),
            (Some(_), None) => Err(Error::InvalidCondition("If-None-Match accepts only *")),
            (None, Some(etag)) => Ok(Self::IfMatch(etag.trim_matches('"').to_owned())),
            (None, None) => Ok(Self::Always),
        }
    }

    /// Checks the condition against the current version (`None`: the key is absent).
    pub fn check(&self, current: Option<&ObjectInfo>) -> Result<()> {
        match (self, current) {
            (Self::Always, _) | (Self::IfNoneMatchAny, None) => Ok(()),
            (Self::IfMatch(_), None) => Err(Error::NoSuchKey),
            (Self::IfMatch(etag), Some(info)) if etag == "*" || *etag == info.etag => Ok(()),
            (Self::IfNoneMatchAny | Self::IfMatch(_), Some(_)) => Err(Error::PreconditionFailed),
        }
    }

    pub fn is_always(&self) -> bool {
        *self == Self::Always
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four outcomes of each condition, and the header parsing rules.
    #[test]
    fn outcomes() {
        let mut info = crate::record::meta::tests::sample().info;
        info.etag = "abc".into();
        let none_match = WriteCondition::from_headers(Some("*"), None).unwrap();
        assert!(none_match.check(None).is_ok());
        assert!(matches!(
            none_match.check(Some(&info)),
            Err(Error::PreconditionFailed)
        ));
        let if_match = WriteCondition::from_headers(None, Some("\"abc\"")).unwrap();
        assert!(if_match.check(Some(&info)).is_ok());
        assert!(matches!(if_match.check(None), Err(Error::NoSuchKey)));
        info.etag = "def".into();
        assert!(matches!(
            if_match.check(Some(&info)),
            Err(Error::PreconditionFailed)
        ));
        assert!(
            WriteCondition::from_headers(None, Some("*"))
                .unwrap()
                .check(Some(&info))
                .is_ok()
        );
        assert!(WriteCondition::from_headers(Some("\"abc\""), None).is_err());
        assert!(WriteCondition::from_headers(Some("*"), Some("x")).is_err());
        assert!(
            WriteCondition::from_headers(None, None)
                .unwrap()
                .is_always()
        );
    }
}
