//! Files that look like secrets never go into a KEY: an environment file with real values, a
//! private key, a keystore, a credentials file. Decided by the file's name alone (every
//! operator can predict it); the placeholder files a kit is expected to ship (`.env.example`,
//! `.env.sample`, `.env.template`) and ordinary dotfiles (`.gitignore`, `.nvmrc`) stay
//! allowed.

/// Why a file (by its path inside the KEY) looks like a secret, or `None` when it does not.
///
/// ```
/// use catalog::secret_file_reason;
/// assert!(secret_file_reason(".env").is_some());
/// assert!(secret_file_reason("config/.env.production").is_some());
/// assert!(secret_file_reason("deploy/id_rsa").is_some());
/// assert!(secret_file_reason("certs/server.pem").is_some());
/// assert!(secret_file_reason(".env.example").is_none());
/// assert!(secret_file_reason(".gitignore").is_none());
/// assert!(secret_file_reason("deploy/id_rsa.pub").is_none());
/// ```
#[must_use]
pub fn secret_file_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[".example", ".sample", ".template", ".dist", ".defaults"];
    if name == ".env" || (name.starts_with(".env.") && !PLACEHOLDERS.iter().any(|p| name.ends_with(p))) {
        return Some(
            "looks like an environment file with real secrets; ship `.env.example` with placeholder values instead",
        );
    }
    if matches!(name.as_str(), "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519") {
        return Some("looks like an SSH private key; never ship private keys (the `.pub` half is fine)");
    }
    if matches!(
        name.as_str(),
        ".netrc" | ".pgpass" | ".htpasswd" | ".git-credentials" | ".pypirc"
    ) {
        return Some("looks like a credentials file; ship instructions or an example instead");
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e);
    match extension {
        Some("pem" | "key" | "ppk") => {
            Some("looks like a private key or certificate bundle; generate it at install time instead")
        }
        Some("p12" | "pfx" | "jks" | "keystore" | "kdbx") => {
            Some("looks like a keystore or password database; never ship one")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_by_name() {
        for secret in [
            ".env",
            ".ENV",
            ".env.local",
            ".env.production",
            "app/.env",
            "id_rsa",
            "keys/id_ed25519",
            ".netrc",
            ".pgpass",
            ".git-credentials",
            "tls/server.key",
            "tls/ca.pem",
            "store.p12",
            "store.pfx",
            "release.jks",
            "vault.kdbx",
            "putty.ppk",
        ] {
            assert!(secret_file_reason(secret).is_some(), "{secret}");
        }
        for fine in [
            ".env.example",
            ".env.sample",
            ".env.template",
            ".gitignore",
            ".nvmrc",
            ".github/workflows/ci.yml",
            "id_rsa.pub",
            "README.md",
            "env.ts",
            "keyboard.ts",
            "src/keys.ts",
            "monkey.js",
        ] {
            assert!(secret_file_reason(fine).is_none(), "{fine}");
        }
    }
}
