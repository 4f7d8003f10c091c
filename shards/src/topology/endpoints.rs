//! The drive arguments of `shoal server`, parsed: MinIO's ellipsis form expanded
//! (`http://node{1...4}:9000/data/drive{1...4}`) and split into pools. Pure: no DNS, no
//! sockets, no files.
//!
//! Forms, one per pool:
//! - local folders (`/data/d1 /data/d2`, `/data/d{1...4}`): today's single-node form;
//!   relative folders are kept as written;
//! - endpoints (`http://HOST[:PORT]/ABSOLUTE/PATH`, or `https://`): drives of the nodes of
//!   a cluster; a missing port is 9000 (MinIO's default).
//!
//! Pools follow MinIO's rule: when every argument has a range, each argument is a pool;
//! when none has, all of them together are one pool; a mix is refused (it is almost
//! always a mistake that would silently make many small pools).
//!
//! Ranges: `{A...B}` with decimal (`{1...16}`, zero padded as written: `{01...16}`) or
//! hexadecimal (`{a...f}`, `{0a...1f}`) bounds, `A <= B`; several per argument, the last
//! one varying fastest. Invariants: expansion never allocates more than
//! [`POOL_DRIVES_MAX`] names per pool (the count is checked before anything is
//! expanded), and nothing here panics on any input (proptests below).

use std::fmt;
use std::net::Ipv6Addr;

/// Most drives one pool may have (a bound on what a range can make us allocate).
pub const POOL_DRIVES_MAX: usize = 1024;
/// Most pools one command line may name.
pub const POOLS_MAX: usize = 16;
/// Port of an endpoint that names none (MinIO's default).
pub const DEFAULT_PORT: u16 = 9000;
/// Longest host name DNS allows.
const HOST_LEN_MAX: usize = 253;
/// Longest bound of a range (`u64::MAX` has 20 decimal digits).
const BOUND_LEN_MAX: usize = 20;

/// A drive list that cannot be used, with the reason in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError(pub String);

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TopologyError {}

pub type Result<T> = std::result::Result<T, TopologyError>;

fn refuse<T>(message: String) -> Result<T> {
    Err(TopologyError(message))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One drive of a cluster: `scheme://host:port/path`, in canonical form (host in lower
/// case, port explicit, path without empty, `.` or trailing segments).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// A DNS name or an IP address; IPv6 without its brackets.
    pub host: String,
    pub port: u16,
    /// Absolute, never `/` alone.
    pub path: String,
}

impl Endpoint {
    /// `host:port` (IPv6 in brackets): names the node the drive belongs to.
    pub fn node_name(&self) -> String {
        node_name(&self.host, self.port)
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub fn node_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.node_name(),
            self.path
        )
    }
}

/// The drives of one pool, in the order the arguments name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolDrives {
    /// Folders of this node (today's single-node form).
    Local(Vec<String>),
    /// Drives of the nodes of a cluster.
    Endpoints(Vec<Endpoint>),
}

impl PoolDrives {
    pub fn drive_count(&self) -> usize {
        match self {
            PoolDrives::Local(paths) => paths.len(),
            PoolDrives::Endpoints(endpoints) => endpoints.len(),
        }
    }
}

/// Splits the drive arguments into pools and parses each. No arguments, no pools.
pub fn parse_pools(args: &[String]) -> Result<Vec<PoolDrives>> {
    let ranged = args.iter().filter(|a| has_range(a)).count();
    if ranged != 0 && ranged != args.len() {
        return refuse(
            "some drive arguments have {A...B} ranges and some do not: with ranges each \
             argument is a pool (as in MinIO), so a mix makes pools you did not mean; \
             write the drives of a pool as one argument with ranges, or all without"
                .to_owned(),
        );
    }
    let groups: Vec<&[String]> = if ranged == 0 {
        if args.is_empty() { vec![] } else { vec![args] }
    } else {
        args.chunks(1).collect()
    };
    if groups.len() > POOLS_MAX {
        return refuse(format!("{} pools named; at most {POOLS_MAX}", groups.len()));
    }
    groups.into_iter().map(parse_pool).collect()
}

/// The one pool of a command line: more are parsed, then refused, until pools can be
/// added to a deployment.
pub fn single_pool(pools: Vec<PoolDrives>) -> Result<PoolDrives> {
    if pools.len() > 1 {
        let counts: Vec<String> = pools.iter().map(|p| p.drive_count().to_string()).collect();
        return refuse(format!(
            "{} pools given ({} drives): pool expansion is not implemented yet; \
             give one pool (one argument with ranges, or drives without ranges)",
            pools.len(),
            counts.join(" + ")
        ));
    }
    pools
        .into_iter()
        .next()
        .ok_or_else(|| TopologyError("no drives given".to_owned()))
}

fn parse_pool(args: &[String]) -> Result<PoolDrives> {
    let mut names = Vec::new();
    for arg in args {
        names.extend(expand(arg, POOL_DRIVES_MAX)?);
        if names.len() > POOL_DRIVES_MAX {
            return refuse(format!("more than {POOL_DRIVES_MAX} drives in one pool"));
        }
    }
    let urls = names.iter().filter(|n| is_url(n)).count();
    let pool = if urls == 0 {
        PoolDrives::Local(local_folders(names)?)
    } else if urls == names.len() {
        let endpoints = names
            .iter()
            .map(|n| parse_endpoint(n))
            .collect::<Result<Vec<_>>>()?;
        PoolDrives::Endpoints(checked_endpoints(endpoints)?)
    } else {
        return refuse(
            "the drive list mixes local folders and http(s):// endpoints: a cluster names \
             every drive, this node's too, as an endpoint"
                .to_owned(),
        );
    };
    Ok(pool)
}

fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn has_range(text: &str) -> bool {
    text.contains('{') || text.contains('}')
}

/// Local folders as written; refused when one is named twice or looks like a URL of
/// another kind (`s3://…` is never meant as a folder).
fn local_folders(names: Vec<String>) -> Result<Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        if name.is_empty() {
            return refuse("an empty drive folder name".to_owned());
        }
        if name.contains("://") {
            return refuse(format!(
                "{name:?}: only http:// and https:// endpoints name drives of other nodes"
            ));
        }
        if !seen.insert(folder_key(name)) {
            return refuse(format!("drive {name:?} is named twice"));
        }
    }
    Ok(names)
}

/// A folder name with repeated and trailing slashes removed, to find duplicates.
fn folder_key(name: &str) -> String {
    let absolute = name.starts_with('/');
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
}

/// One scheme for the whole pool, and no drive named twice.
fn checked_endpoints(endpoints: Vec<Endpoint>) -> Result<Vec<Endpoint>> {
    if let Some(first) = endpoints.first()
        && let Some(other) = endpoints.iter().find(|e| e.scheme != first.scheme)
    {
        return refuse(format!(
            "{first} and {other}: every endpoint of a pool uses the same scheme"
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for endpoint in &endpoints {
        if !seen.insert((&endpoint.host, endpoint.port, &endpoint.path)) {
            return refuse(format!("endpoint {endpoint} is named twice"));
        }
    }
    Ok(endpoints)
}

/// Parses `http(s)://HOST[:PORT]/PATH` (no ranges left) into its canonical form.
pub fn parse_endpoint(text: &str) -> Result<Endpoint> {
    let bad = |why: &str| TopologyError(format!("endpoint {text:?}: {why}"));
    let (scheme, rest) = split_scheme(text).ok_or_else(|| bad("not http:// or https://"))?;
    if rest.contains(['@', '?', '#']) {
        return Err(bad("user names, queries and fragments are not allowed"));
    }
    let slash = rest.find('/').ok_or_else(|| {
        bad("no drive path: give the drive's absolute folder after the host, e.g. http://node1:9000/data/drive1")
    })?;
    let (authority, path) = rest.split_at(slash);
    let (host, port) = parse_authority(authority).map_err(|why| bad(&why))?;
    let path = clean_path(path).map_err(|why| bad(&why))?;
    Ok(Endpoint {
        scheme,
        host,
        port,
        path,
    })
}

fn split_scheme(text: &str) -> Option<(Scheme, &str)> {
    let colon = text.find("://")?;
    let scheme = match text[..colon].to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    Some((scheme, &text[colon + 3..]))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (host in lower case, port).
fn parse_authority(authority: &str) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("an IPv6 host without its closing ]")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("text after the IPv6 host")?),
        };
        (v6.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        check_host_name(host)?;
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => parse_port(text)?,
    };
    Ok((host, port))
}

fn check_host_name(host: &str) -> std::result::Result<(), String> {
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    if host.len() > HOST_LEN_MAX {
        return Err(format!("host longer than {HOST_LEN_MAX} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if !host.chars().all(allowed) || host.starts_with(['-', '.']) || host.ends_with('-') {
        return Err(format!(
            "{host:?} is not a host name or IP address (letters, digits, - and . only; \
             IPv6 in brackets)"
        ));
    }
    Ok(())
}

fn parse_port(text: &str) -> std::result::Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("port {text:?} is not a number from 1 to 65535")),
    }
}

/// An absolute drive path without empty or `.` segments and without a trailing slash;
/// `..` and the root alone are refused.
fn clean_path(path: &str) -> std::result::Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("drive path {path:?} is not absolute"));
    }
    let mut cleaned = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if segment == ".." {
            return Err(format!("drive path {path:?} has a .. segment"));
        }
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    if cleaned.is_empty() {
        return Err("the drive path is the root folder /; give a drive's folder".to_owned());
    }
    Ok(cleaned)
}

/// One piece of an argument: literal text or a range.
enum Piece<'a> {
    Text(&'a str),
    Range(Range),
}

/// The values of `{A...B}`, printed as the bounds were written.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: u64,
    end: u64,
    hex: bool,
    upper: bool,
    width: usize,
}

impl Range {
    fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    fn value(&self, offset: u64) -> String {
        let (n, width) = (self.start + offset, self.width);
        match (self.hex, self.upper) {
            (false, _) => format!("{n:0width$}"),
            (true, false) => format!("{n:0width$x}"),
            (true, true) => format!("{n:0width$X}"),
        }
    }
}

/// Every name `arg` stands for, or an error when there would be more than `count_max`.
pub fn expand(arg: &str, count_max: usize) -> Result<Vec<String>> {
    let pieces = pieces(arg)?;
    let mut count: u64 = 1;
    for piece in &pieces {
        if let Piece::Range(range) = piece {
            count = count.saturating_mul(range.len());
        }
    }
    if count > count_max as u64 {
        return refuse(format!(
            "{arg:?} names {count} drives; at most {POOL_DRIVES_MAX} per pool"
        ));
    }
    let mut names = vec![String::new()];
    for piece in &pieces {
        names = match piece {
            Piece::Text(text) => names.into_iter().map(|n| n + text).collect(),
            Piece::Range(range) => names
                .iter()
                .flat_map(|n| (0..range.len()).map(move |i| format!("{n}{}", range.value(i))))
                .collect(),
        };
    }
    Ok(names)
}

/// Splits `arg` into text and ranges; any brace not part of a well-formed range is
/// refused.
fn pieces(arg: &str) -> Result<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return refuse(format!("{arg:?}: a }} without its {{"));
        }
        let inner_start = open + 1;
        let close = rest[inner_start..]
            .find(['{', '}'])
            .map(|i| inner_start + i)
            .filter(|&i| rest[i..].starts_with('}'))
            .ok_or_else(|| TopologyError(format!("{arg:?}: a {{ without its }}")))?;
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        pieces.push(Piece::Range(parse_range(arg, &rest[inner_start..close])?));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// `A...B` (the text between the braces).
fn parse_range(arg: &str, inner: &str) -> Result<Range> {
    let bad = |why: String| TopologyError(format!("{arg:?}: range {{{inner}}}: {why}"));
    let Some((start, end)) = inner.split_once("...") else {
        let hint = if inner.contains("..") {
            " (three dots: {1...4})"
        } else {
            ""
        };
        return Err(bad(format!("not a range A...B{hint}")));
    };
    let too_long = start.len() > BOUND_LEN_MAX || end.len() > BOUND_LEN_MAX;
    if start.is_empty() || end.is_empty() || too_long {
        return Err(bad("each bound is a number of 1 to 20 digits".to_owned()));
    }
    let decimal = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let hexadecimal = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let hex = if decimal(start) && decimal(end) {
        false
    } else if hexadecimal(start) && hexadecimal(end) {
        true
    } else {
        return Err(bad("bounds are decimal or hexadecimal numbers".to_owned()));
    };
    let radix = if hex { 16 } else { 10 };
    let parse =
        |s: &str| u64::from_str_radix(s, radix).map_err(|_| bad(format!("{s} is too large")));
    let (first, last) = (parse(start)?, parse(end)?);
    if first > last {
        return Err(bad("the first bound is larger than the last".to_owned()));
    }
    let padded = start.len() > 1 && start.starts_with('0');
    Ok(Range {
        start: first,
        end: last,
        hex,
        upper: inner.bytes().any(|b| b.is_ascii_uppercase()),
        width: if padded { start.len() } else { 0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    fn error_of(args: &[&str]) -> String {
        parse_pools(&strings(args)).unwrap_err().0
    }

    /// Decimal ranges expand in order, the last range fastest, zero padded as written.
    #[test]
    fn decimal_ranges_expand_in_order() {
        assert_eq!(expand("/d{1...3}", 100).unwrap(), ["/d1", "/d2", "/d3"]);
        assert_eq!(
            expand("/d{08...10}", 100).unwrap(),
            ["/d08", "/d09", "/d10"]
        );
        assert_eq!(
            expand("n{1...2}/d{1...2}", 100).unwrap(),
            ["n1/d1", "n1/d2", "n2/d1", "n2/d2"]
        );
        assert_eq!(expand("/plain", 100).unwrap(), ["/plain"]);
        assert_eq!(expand("/d{0...0}", 100).unwrap(), ["/d0"]);
    }

    /// Hexadecimal ranges keep the case and padding they were written with.
    #[test]
    fn hexadecimal_ranges() {
        assert_eq!(expand("{9...b}", 100).unwrap(), ["9", "a", "b"]);
        assert_eq!(expand("{0E...10}", 100).unwrap(), ["0E", "0F", "10"]);
    }

    /// Malformed ranges are refused with what is wrong, never taken as folder names.
    #[test]
    fn malformed_ranges_are_refused() {
        let cases = [
            ("/d{1...4", "without its }"),
            ("/d1...4}", "without its {"),
            ("/d{1..4}", "three dots"),
            ("/d{{1...4}}", "without its }"),
            ("/d{4...1}", "larger than the last"),
            ("/d{...4}", "1 to 20 digits"),
            ("/d{1...x}", "decimal or hexadecimal"),
            ("/d{1...99999999999999999999}", "too large"),
            ("/d{a,b}", "not a range"),
        ];
        for (arg, expected) in cases {
            let err = expand(arg, POOL_DRIVES_MAX).unwrap_err().0;
            assert!(err.contains(expected), "{arg}: {err}");
        }
    }

    /// A range over the pool limit is refused before anything is allocated.
    #[test]
    fn ranges_over_the_limit_are_refused() {
        let err = expand("/d{1...1025}", POOL_DRIVES_MAX).unwrap_err().0;
        assert!(err.contains("names 1025 drives; at most 1024"), "{err}");
        let err = expand("/{1...4294967296}/{1...4294967296}", 1024)
            .unwrap_err()
            .0;
        assert!(err.contains("at most 1024"), "{err}");
        assert_eq!(expand("/d{1...1024}", POOL_DRIVES_MAX).unwrap().len(), 1024);
        let many: Vec<String> = (0..=POOL_DRIVES_MAX).map(|i| format!("/d{i}")).collect();
        assert!(parse_pools(&many).unwrap_err().0.contains("more than 1024"));
    }

    /// Endpoints parse into canonical form: lower-case host, explicit port, clean path.
    #[test]
    fn endpoints_parse_to_canonical_form() {
        let e = parse_endpoint("http://Node1:9101//data/./d1/").unwrap();
        assert_eq!(e.to_string(), "http://node1:9101/data/d1");
        assert_eq!(e.node_name(), "node1:9101");
        let e = parse_endpoint("https://10.0.0.1/d1").unwrap();
        assert_eq!((e.scheme, e.port), (Scheme::Https, DEFAULT_PORT));
        let e = parse_endpoint("http://[::1]:9000/d1").unwrap();
        assert_eq!(e.to_string(), "http://[::1]:9000/d1");
    }

    /// Bad endpoints are refused with a message naming the problem.
    #[test]
    fn bad_endpoints_are_refused() {
        let cases = [
            ("http://node1:9000", "no drive path"),
            ("http://node1:9000/", "root folder"),
            ("http://node1:0/d", "port \"0\""),
            ("http://node1:70000/d", "port \"70000\""),
            ("http://node1:/d", "port \"\""),
            ("http://:9000/d", "no host"),
            ("http://user@node1:9000/d", "user names"),
            ("http://node_1:9000/d", "not a host name"),
            ("http://node1:9000/d/../e", ".. segment"),
            ("http://[::1/d", "closing ]"),
            ("http://[zz]:9000/d", "not an IPv6"),
            ("ftp://node1/d", "not http"),
        ];
        for (text, expected) in cases {
            let err = parse_endpoint(text).unwrap_err().0;
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    /// One argument with ranges is one pool; several without ranges are one pool too.
    #[test]
    fn pools_from_arguments() {
        let pools = parse_pools(&strings(&["http://n{1...4}:9000/d{1...4}"])).unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].drive_count(), 16);
        let pools = parse_pools(&strings(&["/a", "/b", "c"])).unwrap();
        assert_eq!(pools, [PoolDrives::Local(strings(&["/a", "/b", "c"]))]);
        let pools = parse_pools(&strings(&["/a{1...2}", "/b{1...2}"])).unwrap();
        assert_eq!(pools.len(), 2);
        let err = single_pool(pools).unwrap_err().0;
        assert!(
            err.starts_with("2 pools given (2 + 2 drives): pool expansion is not implemented yet"),
            "{err}"
        );
        assert!(parse_pools(&[]).unwrap().is_empty());
    }

    /// Mixed forms, mixed schemes and duplicates are refused.
    #[test]
    fn inconsistent_lists_are_refused() {
        assert!(error_of(&["/a", "http://n1:9000/d"]).contains("mixes local folders"));
        assert!(error_of(&["/a{1...2}", "/b"]).contains("some drive arguments have"));
        assert!(error_of(&["http://n1:9000/d", "https://n2:9000/d"]).contains("same scheme"));
        assert!(error_of(&["http://n1/d", "http://N1:9000/d/"]).contains("named twice"));
        assert!(error_of(&["/a", "/a/"]).contains("named twice"));
        assert!(error_of(&["s3://bucket/d"]).contains("only http:// and https://"));
        assert!(error_of(&[""]).contains("empty"));
    }

    proptest! {
        /// Expansion and parsing never panic, whatever the text, and never exceed the
        /// limit they were given.
        #[test]
        fn never_panics(text in r"[{}.0-9a-fA-F/:\[\]@h-z]{0,40}", limit in 0usize..64) {
            if let Ok(names) = expand(&text, limit) {
                prop_assert!(names.len() <= limit.max(1));
            }
            let _ = parse_endpoint(&text);
            let _ = parse_pools(&[text.clone(), format!("http://{text}")]);
        }

        /// A well-formed range of n values expands to n distinct names.
        #[test]
        fn well_formed_ranges_expand_fully(start in 0u64..1000, len in 1u64..40, pad: bool) {
            let end = start + len - 1;
            let arg = if pad {
                format!("/d{{0{start}...{end}}}")
            } else {
                format!("/d{{{start}...{end}}}")
            };
            let names = expand(&arg, POOL_DRIVES_MAX).unwrap();
            prop_assert_eq!(names.len() as u64, len);
            let distinct: std::collections::BTreeSet<_> = names.iter().collect();
            prop_assert_eq!(distinct.len(), names.len());
        }
    }
}
