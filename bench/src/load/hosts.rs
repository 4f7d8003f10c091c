//! `--host` as warp takes it: a comma-separated list where each entry may hold one or
//! more `{a...b}` numeric ranges (`node{1...4}:9000`, `10.0.0.{1...3}:900{0...1}`),
//! expanded in order. Requests go round-robin over the expanded list.
//!
//! Invariant: the expansion is never empty and every entry has a port (`:9000` is added
//! when missing, warp's default for S3 on MinIO and Shoal).

/// Largest number of hosts one `--host` value may expand to.
const HOSTS_MAX: usize = 4096;
const DEFAULT_PORT: u16 = 9000;

/// Expands a `--host` value into `host:port` strings.
pub fn expand_hosts(text: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        expand_entry(entry, &mut hosts)?;
        if hosts.len() > HOSTS_MAX {
            return Err(format!("--host expands to more than {HOSTS_MAX} hosts"));
        }
    }
    if hosts.is_empty() {
        return Err("--host names no host".to_owned());
    }
    for host in &mut hosts {
        if !has_port(host) {
            *host = format!("{host}:{DEFAULT_PORT}");
        }
    }
    Ok(hosts)
}

fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((name, port)) => {
            !name.is_empty()
                && (!name.contains(':') || name.ends_with(']'))
                && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// Expands the first `{a...b}` of `entry` and recurses on the rest.
fn expand_entry(entry: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = entry.find('{') else {
        out.push(entry.to_owned());
        return Ok(());
    };
    let close = entry[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| format!("`{entry}`: `{{` without `}}`"))?;
    let (low, high) = entry[open + 1..close]
        .split_once("...")
        .ok_or_else(|| format!("`{entry}`: a range is written {{1...4}}"))?;
    let width = low.len();
    let low: u64 = low
        .parse()
        .map_err(|_| format!("`{entry}`: bad range start"))?;
    let high: u64 = high
        .parse()
        .map_err(|_| format!("`{entry}`: bad range end"))?;
    if low > high || high - low >= HOSTS_MAX as u64 {
        return Err(format!(
            "`{entry}`: range must go up and hold at most {HOSTS_MAX}"
        ));
    }
    for number in low..=high {
        // `{01...10}` keeps the zero padding of its start, as warp does.
        let expanded = format!("{}{number:0width$}{}", &entry[..open], &entry[close + 1..]);
        expand_entry(&expanded, out)?;
        if out.len() > HOSTS_MAX {
            return Err(format!("--host expands to more than {HOSTS_MAX} hosts"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists, ranges (nested, zero-padded) and default ports expand in order.
    #[test]
    fn expands_lists_and_ranges() {
        assert_eq!(
            expand_hosts("a:1,b").unwrap(),
            vec!["a:1".to_owned(), "b:9000".to_owned()]
        );
        assert_eq!(
            expand_hosts("node{1...3}:9000").unwrap(),
            vec!["node1:9000", "node2:9000", "node3:9000"]
        );
        assert_eq!(
            expand_hosts("h{1...2}:900{0...1}").unwrap(),
            vec!["h1:9000", "h1:9001", "h2:9000", "h2:9001"]
        );
        assert_eq!(expand_hosts("n{08...10}").unwrap().len(), 3);
        assert_eq!(expand_hosts("n{08...10}").unwrap()[0], "n08:9000");
        assert_eq!(expand_hosts("[::1]:9000").unwrap(), vec!["[::1]:9000"]);
    }

    /// Malformed values are refused with a message, never a panic.
    #[test]
    fn refuses_malformed() {
        assert!(expand_hosts("").is_err());
        assert!(expand_hosts("a{1...").is_err());
        assert!(expand_hosts("a{3...1}").is_err());
        assert!(expand_hosts("a{1..3}").is_err());
        assert!(expand_hosts("a{0...99999}").is_err());
    }
}
