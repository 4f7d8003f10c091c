//! Validation of bucket names and object keys, and the injective, safe mapping from an
//! object key to its folder on a drive (DESIGN.md §5).
//!
//! A key's `/`-separated segments become nested folders, each segment encoded so that:
//! - Shoal's own names (`_meta`, `_d…` data folders) start with `_`, and no encoded
//!   segment does: a leading `_` is written `%5F`, a leading `+` `%2B`, every `%` `%25`;
//! - an empty segment (`a//b`, the folder marker `a/`) is written `%`, which no non-empty
//!   segment can encode to;
//! - the segments `.` and `..` are written `%2E` and `%2E%2E`, so no folder name is a
//!   path step; a `\` anywhere is written `%5C`, so no name means anything to a tool
//!   that reads backslashes as separators;
//! - a segment whose encoding is longer than [`NAME_PIECE_MAX_BYTES`] is split into
//!   pieces, nested as `+piece` folders with the last one written `=piece`; inside a
//!   `+` folder only `+`/`=` names appear, so pieces never meet Shoal's own names.
//!
//! So two keys never share a folder (decoding a folder path gives back the key, so the
//! mapping is injective), and no key leaves its bucket folder. Every UTF-8 key S3 allows
//! is accepted except one with NUL (DESIGN.md §5).

use crate::error::{Error, Result};

/// Longest key S3 allows, in bytes.
pub const KEY_LEN_MAX_BYTES: usize = 1024;
/// Longest piece of an encoded segment in one folder name (filesystems allow 255).
pub const NAME_PIECE_MAX_BYTES: usize = 200;
/// File name of an object's metadata inside its folder.
pub const META_FILE_NAME: &str = "_meta";
/// Prefix of data folder names inside an object's folder.
pub const DATA_DIR_PREFIX: &str = "_d";

/// Checks an object key against S3's limits and Shoal's path rules.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("the key is empty"));
    }
    if key.len() > KEY_LEN_MAX_BYTES {
        return Err(Error::KeyTooLong);
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("the key contains NUL"));
    }
    Ok(())
}

/// Checks a bucket name against the AWS general-purpose bucket naming rules.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidBucketName(format!("{name:?}: {why}")));
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters long");
    }
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-';
    if !name.bytes().all(allowed) {
        return bad("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let bytes = name.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to dots or hyphens");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not be formatted as an IP address");
    }
    let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"];
    let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if reserved_prefix.iter().any(|p| name.starts_with(p))
        || reserved_suffix.iter().any(|s| name.ends_with(s))
    {
        return bad("uses a reserved prefix or suffix");
    }
    Ok(())
}

/// The drive path of an object's folder: `BUCKET/enc(seg1)/enc(seg2)/…`.
/// The key must have passed [`validate_key`].
pub fn object_dir(bucket: &str, key: &str) -> String {
    let mut path = String::with_capacity(bucket.len() + key.len() * 2 + 8);
    path.push_str(bucket);
    for segment in key.split('/') {
        path.push('/');
        push_encoded_segment(&mut path, segment);
    }
    assert_under_bucket(&path, bucket);
    path
}

/// The drive path of an object's metadata file.
pub fn meta_path(bucket: &str, key: &str) -> String {
    format!("{}/{META_FILE_NAME}", object_dir(bucket, key))
}

fn push_encoded_segment(path: &mut String, segment: &str) {
    let encoded = escape_segment(segment);
    if encoded.len() <= NAME_PIECE_MAX_BYTES {
        path.push_str(&encoded);
        return;
    }
    let pieces = split_pieces(&encoded);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            path.push('/');
        }
        path.push(if i + 1 == pieces.len() { '=' } else { '+' });
        path.push_str(piece);
    }
}

fn escape_segment(segment: &str) -> String {
    match segment {
        "" => return "%".to_owned(),
        // Path steps: every character escaped, so the name is neither `.` nor `..`.
        "." => return "%2E".to_owned(),
        ".." => return "%2E%2E".to_owned(),
        _ => {}
    }
    let mut out = String::with_capacity(segment.len() + 2);
    for (i, c) in segment.char_indices() {
        match c {
            '%' => out.push_str("%25"),
            '\\' => out.push_str("%5C"),
            '_' if i == 0 => out.push_str("%5F"),
            '+' if i == 0 => out.push_str("%2B"),
            c => out.push(c),
        }
    }
    out
}

/// Splits at char boundaries, never inside a `%XX` escape.
fn split_pieces(encoded: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = encoded;
    while rest.len() > NAME_PIECE_MAX_BYTES {
        let mut cut = NAME_PIECE_MAX_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // An escape is 3 bytes; back off if the cut lands inside one.
        if let Some(pos) = rest[..cut].rfind('%')
            && pos + 3 > cut
        {
            cut = pos;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    pieces
}

fn assert_under_bucket(path: &str, bucket: &str) {
    // Re-check of the mapping (DESIGN.md §5): every component is a normal name.
    for component in path.split('/') {
        assert!(
            !component.is_empty() && component != "." && component != "..",
            "unsafe component in object path for bucket {bucket}"
        );
    }
    assert!(path.starts_with(bucket) && path.as_bytes().get(bucket.len()) == Some(&b'/'));
}

/// What a folder entry inside an object tree is.
#[derive(Debug, PartialEq, Eq)]
pub enum EntryName {
    /// A whole key segment (decoded).
    Segment(String),
    /// A non-final piece of a long segment (decoded); its folder holds the rest.
    PieceContinued(String),
    /// The final piece of a long segment (decoded).
    PieceLast(String),
    /// One of Shoal's own names (`_meta`, data folders).
    Internal,
}

/// Classifies and decodes one folder entry name. `None` for names Shoal never writes.
pub fn decode_entry_name(name: &str, inside_piece: bool) -> Option<EntryName> {
    if inside_piece {
        return match name.as_bytes().first() {
            Some(b'+') => unescape(&name[1..]).map(EntryName::PieceContinued),
            Some(b'=') => unescape(&name[1..]).map(EntryName::PieceLast),
            _ => None,
        };
    }
    match name.as_bytes().first() {
        Some(b'_') => Some(EntryName::Internal),
        Some(b'+') => unescape(&name[1..]).map(EntryName::PieceContinued),
        _ if name == "%" => Some(EntryName::Segment(String::new())),
        // Only the one spelling Shoal writes: a foreign name never stands for a key.
        Some(_) => unescape(name)
            .filter(|segment| escape_segment(segment) == name)
            .map(EntryName::Segment),
        None => None,
    }
}

/// The segment a folder entry name stands for when it is spelled as itself (no escape,
/// no piece, not one of Shoal's names): most keys' names, decoded without a copy.
/// `None` means "ask [`decode_entry_name`]", not "foreign".
pub fn plain_segment(name: &str, inside_piece: bool) -> Option<&str> {
    let plain = !inside_piece
        && !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with(['_', '+'])
        && !name.contains(['%', '\\']);
    plain.then_some(name)
}

fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        out.push(match rest.get(pos + 1..pos + 3)? {
            "25" => '%',
            "5F" => '_',
            "2B" => '+',
            "2E" => '.',
            "5C" => '\\',
            _ => return None, // never written by escape_segment
        });
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes an object folder path back into its key (test-side inverse of object_dir).
    fn decode_dir(path: &str, bucket: &str) -> Option<String> {
        let rest = path.strip_prefix(bucket)?.strip_prefix('/')?;
        let mut key = String::new();
        let mut inside_piece = false;
        for (i, name) in rest.split('/').enumerate() {
            if inside_piece {
                match decode_entry_name(name, true)? {
                    EntryName::PieceContinued(s) => key.push_str(&s),
                    EntryName::PieceLast(s) => {
                        key.push_str(&s);
                        inside_piece = false;
                    }
                    _ => return None,
                }
                continue;
            }
            if i > 0 {
                key.push('/');
            }
            match decode_entry_name(name, false)? {
                EntryName::Segment(s) => key.push_str(&s),
                EntryName::PieceContinued(s) => {
                    key.push_str(&s);
                    inside_piece = true;
                }
                _ => return None,
            }
        }
        Some(key)
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just(String::new()),
            Just("meta".to_owned()),
            Just("_meta".to_owned()),
            Just("%".to_owned()),
            Just("+x".to_owned()),
            Just("=x".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("...".to_owned()),
            Just("\\".to_owned()),
            Just("%2E".to_owned()),
            Just("%5C".to_owned()),
            "[a-z_%+=.\\\\]{1,6}",
            "[a-z%é]{190,260}",
            "\\PC{1,12}",
        ];
        prop::collection::vec(segment, 1..5)
            .prop_map(|segments| segments.join("/"))
            .prop_filter("valid keys only", |k| validate_key(k).is_ok())
    }

    proptest! {
        /// The copy-free decoding agrees with the full one whenever it answers, on any
        /// name and on the names keys are written as.
        #[test]
        fn plain_segments_decode_as_themselves(
            name in "[ -~]{0,12}",
            key in key_strategy(),
        ) {
            let dir = object_dir("bkt", &key);
            for name in dir.split('/').skip(1).chain([name.as_str()]) {
                for inside_piece in [false, true] {
                    if let Some(segment) = plain_segment(name, inside_piece) {
                        prop_assert_eq!(
                            decode_entry_name(name, inside_piece),
                            Some(EntryName::Segment(segment.to_owned()))
                        );
                    }
                }
            }
        }

        /// The mapping is invertible, hence injective, and every name is a safe file name.
        #[test]
        fn round_trip_and_safe(key in key_strategy()) {
            let dir = object_dir("bkt", &key);
            prop_assert_eq!(decode_dir(&dir, "bkt"), Some(key.clone()));
            for name in dir.split('/').skip(1) {
                prop_assert!(name.len() <= NAME_PIECE_MAX_BYTES + 1);
                prop_assert!(!name.starts_with('_'), "{} collides with internal names", name);
                prop_assert!(!name.contains('\\'), "{} holds a backslash", name);
            }
        }

        /// No key's folder lies outside its bucket's folder: every step of the path is a
        /// plain name going down, as the operating system reads it.
        #[test]
        fn never_leaves_the_bucket(key in key_strategy()) {
            use std::path::{Component, Path};
            let dir = object_dir("bkt", &key);
            let steps: Vec<Component<'_>> = Path::new(&dir).components().collect();
            prop_assert_eq!(steps.len(), dir.split('/').count());
            prop_assert_eq!(steps[0], Component::Normal("bkt".as_ref()));
            for step in &steps {
                prop_assert!(matches!(step, Component::Normal(_)), "{:?} in {}", step, dir);
            }
        }

        /// Distinct keys never share a folder.
        #[test]
        fn injective(a in key_strategy(), b in key_strategy()) {
            prop_assume!(a != b);
            prop_assert_ne!(object_dir("bkt", &a), object_dir("bkt", &b));
        }
    }

    /// The cases DESIGN.md calls out map to distinct, safe folders.
    #[test]
    fn tricky_keys() {
        assert_eq!(object_dir("b", "x"), "b/x");
        assert_eq!(object_dir("b", "x/meta"), "b/x/meta");
        assert_eq!(object_dir("b", "x/_meta"), "b/x/%5Fmeta");
        assert_eq!(object_dir("b", "a//b"), "b/a/%/b");
        assert_eq!(object_dir("b", "a/"), "b/a/%");
        assert_eq!(object_dir("b", "100%"), "b/100%25");
        assert_eq!(object_dir("b", "a/../b"), "b/a/%2E%2E/b");
        assert_eq!(object_dir("b", "./x"), "b/%2E/x");
        assert_eq!(object_dir("b", ".."), "b/%2E%2E");
        assert_eq!(object_dir("b", "x/.."), "b/x/%2E%2E");
        assert_eq!(object_dir("b", "a\\b"), "b/a%5Cb");
        assert_eq!(object_dir("b", ".../.x"), "b/.../.x");
        assert_eq!(object_dir("b", "%2E"), "b/%252E");
        assert_eq!(meta_path("b", "x"), "b/x/_meta");
    }

    /// Names Shoal never writes are not read as keys, even when they would unescape.
    #[test]
    fn foreign_names_are_not_keys() {
        for foreign in ["a%2Eb", "%2E.", "x%5Fy", "a\\b", "%41"] {
            assert_eq!(decode_entry_name(foreign, false), None, "{foreign}");
        }
        assert_eq!(
            decode_entry_name("%2E%2E", false),
            Some(EntryName::Segment("..".to_owned()))
        );
    }

    /// Keys Shoal refuses get the matching error; path steps and backslashes are keys.
    #[test]
    fn key_validation() {
        assert!(validate_key("a/b c/d.txt").is_ok());
        for good in [
            "a/../b",
            "./b",
            "..",
            ".",
            "a\\b",
            "x/..",
            "a/./b",
            "../../etc/passwd",
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        assert!(matches!(validate_key(""), Err(Error::InvalidKey(_))));
        assert!(matches!(validate_key("a\0b"), Err(Error::InvalidKey(_))));
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(matches!(
            validate_key(&"k".repeat(1025)),
            Err(Error::KeyTooLong)
        ));
    }

    /// AWS bucket naming rules.
    #[test]
    fn bucket_names() {
        for good in ["abc", "my-bucket.data", "a1b", &"a".repeat(63)] {
            assert!(validate_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--ab",
            "ab-s3alias",
            &"a".repeat(64),
            ".shoal",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
