//! The audit log's webhook target (`--audit-webhook http://HOST:PORT/PATH`): each batch
//! of audit lines is POSTed as `application/x-ndjson`, one request per batch on a
//! connection of its own, from the audit writer thread (never from a shard).
//!
//! Invariants: every wait is bounded ([`CONNECT_TIMEOUT`], [`IO_TIMEOUT`]); a batch the
//! endpoint did not accept with a 2xx status is lost for this target (the writer says
//! so in the server log once per failing spell), never retried into an unbounded queue.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Where batches are POSTed.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// `host:port`.
    authority: String,
    /// The path (and query) as given, `/` when none.
    path: String,
}

impl Webhook {
    /// Parses `http://HOST[:PORT][/PATH]`; HTTPS is refused with the reason.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "audit webhook {url:?}: give an http:// URL (HTTPS is not supported yet)"
            ));
        };
        let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
        let valid = !authority.is_empty()
            && authority.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
            && path.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(format!(
                "audit webhook {url:?}: not a valid http://HOST:PORT/PATH"
            ));
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path: path.to_owned(),
        })
    }

    /// POSTs `batch`; `Err` says why it was not accepted.
    pub fn post(&self, batch: &str) -> Result<(), String> {
        let address = (self.authority.to_socket_addrs())
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        let mut stream =
            TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority,
            batch.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(batch.as_bytes()))
            .map_err(|e| e.to_string())?;
        let mut status_line = String::new();
        BufReader::new(&stream)
            .take(1024)
            .read_line(&mut status_line)
            .map_err(|e| e.to_string())?;
        match status_line.split(' ').nth(1) {
            Some(status) if status.starts_with('2') => Ok(()),
            _ => Err(format!("answered {:?}", status_line.trim_end())),
        }
    }
}

impl std::fmt::Display for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// URLs are taken as http://HOST[:PORT][/PATH]; HTTPS and junk are refused.
    #[test]
    fn urls_are_checked() {
        let hook = Webhook::parse("http://127.0.0.1:8080/audit?x=1").unwrap();
        assert_eq!(hook.to_string(), "http://127.0.0.1:8080/audit?x=1");
        assert_eq!(
            Webhook::parse("http://logs").unwrap().to_string(),
            "http://logs:80/"
        );
        assert!(Webhook::parse("https://x/").unwrap_err().contains("HTTPS"));
        assert!(Webhook::parse("http:///x").is_err());
        assert!(Webhook::parse("http://a b/").is_err());
    }
}
