//! The deployment's root credentials: from `SHOAL_ROOT_USER` / `SHOAL_ROOT_PASSWORD`,
//! else from `DRIVE/.shoal/credentials` (mode 0600) written on an earlier start, else
//! generated on the first start of a fresh deployment, stored on every drive and
//! printed once. There is no built-in default secret.
//!
//! This runs once at start, before any shard: plain std::fs is fine here (the
//! request path never touches it).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::front::handler::Credentials;

pub const CREDENTIALS_FILE: &str = ".shoal/credentials";
const USER_MIN_CHARS: usize = 3;
const PASSWORD_MIN_CHARS: usize = 8;

/// Where the credentials came from (for the start-up banner).
pub enum CredentialsSource {
    Environment,
    Stored(PathBuf),
    /// Freshly generated: the banner prints them this once.
    Generated(Vec<PathBuf>),
}

/// Finds or creates the root credentials.
pub fn load_or_create(drive_roots: &[PathBuf]) -> Result<(Credentials, CredentialsSource), String> {
    let user = std::env::var("SHOAL_ROOT_USER")
        .ok()
        .filter(|u| !u.is_empty());
    let password = std::env::var("SHOAL_ROOT_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    match (user, password) {
        (Some(user), Some(password)) => {
            if user.chars().count() < USER_MIN_CHARS
                || password.chars().count() < PASSWORD_MIN_CHARS
            {
                return Err(format!(
                    "SHOAL_ROOT_USER needs at least {USER_MIN_CHARS} characters and SHOAL_ROOT_PASSWORD at least {PASSWORD_MIN_CHARS}"
                ));
            }
            Ok((
                Credentials {
                    access_key_id: user,
                    secret_access_key: password,
                },
                CredentialsSource::Environment,
            ))
        }
        (Some(_), None) | (None, Some(_)) => {
            Err("set both SHOAL_ROOT_USER and SHOAL_ROOT_PASSWORD, or neither".to_owned())
        }
        (None, None) => stored_or_generated(drive_roots),
    }
}

fn stored_or_generated(
    drive_roots: &[PathBuf],
) -> Result<(Credentials, CredentialsSource), String> {
    for root in drive_roots {
        let path = root.join(CREDENTIALS_FILE);
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Some(credentials) = parse(&text)
        {
            return Ok((credentials, CredentialsSource::Stored(path)));
        }
    }
    let credentials = generate();
    let mut written = Vec::new();
    for root in drive_roots {
        let path = root.join(CREDENTIALS_FILE);
        if write_private(&path, &credentials).is_ok() {
            written.push(path);
        }
    }
    if written.is_empty() {
        return Err("could not store the generated credentials on any drive".to_owned());
    }
    Ok((credentials, CredentialsSource::Generated(written)))
}

fn parse(text: &str) -> Option<Credentials> {
    let mut lines = text.lines();
    let access_key_id = lines.next()?.trim().to_owned();
    let secret_access_key = lines.next()?.trim().to_owned();
    (!access_key_id.is_empty() && !secret_access_key.is_empty()).then_some(Credentials {
        access_key_id,
        secret_access_key,
    })
}

/// 20-character access key and 40-character secret, like AWS's.
fn generate() -> Credentials {
    const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    let mut pick = |chars: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| char::from(chars[rng.gen_range(0..chars.len())]))
            .collect()
    };
    Credentials {
        access_key_id: format!("SHOAL{}", pick(KEY_CHARS, 15)),
        secret_access_key: pick(SECRET_CHARS, 40),
    }
}

/// Writes the file with mode 0600 from the start (never readable by others).
fn write_private(path: &Path, credentials: &Credentials) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    writeln!(
        file,
        "{}\n{}",
        credentials.access_key_id, credentials.secret_access_key
    )?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Generated credentials are stored 0600, found again, and never empty.
    #[test]
    fn generate_store_reload() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec![dir.path().join("a"), dir.path().join("b")];
        let (first, source) = stored_or_generated(&roots).unwrap();
        assert!(matches!(source, CredentialsSource::Generated(ref paths) if paths.len() == 2));
        assert_eq!(first.access_key_id.len(), 20);
        assert_eq!(first.secret_access_key.len(), 40);
        let mode = std::fs::metadata(roots[0].join(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, source) = stored_or_generated(&roots).unwrap();
        assert!(matches!(source, CredentialsSource::Stored(_)));
        assert_eq!(again.secret_access_key, first.secret_access_key);
    }
}
