//! The `render` stage's password check (#24): the verifier that
//! `outpost_kickstart::passwords` needs to refuse a hash of a weak password
//! (argon2 and SHA-crypt, the hashes the directory accepts). The kickstart
//! crate has no cryptography; this is the one place the build has it.

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};

/// Largest argon2 cost the build agrees to compute, per candidate: four
/// times the memory and the passes of OWASP's recommendation, which the
/// directory uses (m=19456 KiB, t=2). A site's hash is the admin's, but a
/// typo must not make the build allocate gigabytes dozens of times.
const MAX_M_KIB: u32 = 4 * 19_456;
const MAX_T: u32 = 8;
const MAX_P: u32 = 4;

/// `Ok(true)` when `candidate` is the password of `hash`.
pub fn verify(hash: &str, candidate: &str) -> Result<bool, String> {
    // sha-crypt 0.5 does not export its `CheckError`, so a mismatch is
    // told from a malformed hash by the variant's name.
    fn sha<E: std::fmt::Debug>(r: Result<(), E>) -> Result<bool, String> {
        match r {
            Ok(()) => Ok(true),
            Err(e) if format!("{e:?}") == "HashMismatch" => Ok(false),
            Err(e) => Err(format!("malformed SHA-crypt hash: {e:?}")),
        }
    }
    if hash.starts_with("$6$") {
        return sha(sha_crypt::sha512_check(candidate, hash));
    }
    if hash.starts_with("$5$") {
        return sha(sha_crypt::sha256_check(candidate, hash));
    }
    let parsed = PasswordHash::new(hash).map_err(|e| format!("malformed PHC string: {e}"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!("{} is not argon2 or SHA-crypt", parsed.algorithm));
    }
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_M_KIB || params.t_cost() > MAX_T || params.p_cost() > MAX_P {
        return Err(format!(
            "argon2 cost m={},t={},p={} is above what the build checks (m={MAX_M_KIB},t={MAX_T},p={MAX_P})",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(argon2::Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, SaltString};

    fn argon2id(pw: &str) -> String {
        let salt = SaltString::encode_b64(b"fixed salt for a test").unwrap();
        argon2::Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_old_default_password_fails_the_render_stage_at_its_line_and_column() {
        // Regression (#24): a site could give admin `outpost`.
        let yaml = format!(
            "domain: outpost.lan\nusers:\n  - name: admin\n    password_hash: '{}'\n",
            argon2id("outpost")
        );
        let e = outpost_kickstart::render::render_site_checked(&yaml, "site.yaml", &verify)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "site.yaml:4:20: error: users[0].password_hash: the password of admin@outpost.lan is weak (it is the mail domain); choose another"
        );
        let good = format!(
            "domain: outpost.lan\nusers:\n  - name: admin\n    password_hash: '{}'\n",
            argon2id("plover-umbra-kettle-93")
        );
        outpost_kickstart::render::render_site_checked(&good, "site.yaml", &verify).unwrap();
    }

    #[test]
    fn sha_crypt_and_refusals() {
        // `openssl passwd -6 -salt saltsalt 'from kickstart'`
        let crypt = "$6$saltsalt$4lbJDU7TCrb2lq5xjGGSY6FAEpuomXa9eFY5j5FTlCK95lJcl9IYugYTR5FpHj6Z5q5f3axtDe4K5JMR57zo/0";
        assert_eq!(verify(crypt, "from kickstart"), Ok(true));
        assert_eq!(verify(crypt, "admin"), Ok(false));
        assert!(verify("$6$", "x").is_err());
        assert!(verify("$pbkdf2-sha256$i=1$c2FsdA$aGFzaA", "x").is_err());
        let costly = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        let e = verify(costly, "x").unwrap_err();
        assert!(e.contains("above what the build checks"), "{e}");
    }
}
