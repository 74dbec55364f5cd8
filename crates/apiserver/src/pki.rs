//! The cluster's credentials: a CA, the API server's serving certificate and the admin
//! client certificate, generated at first start and kept in `<data dir>/pki`, plus the
//! kubeconfig that hands them to kubectl and other clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Everything that can go wrong setting up credentials.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file in the data directory.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Generating or parsing a certificate.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// Building the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A PEM file in the data directory is unreadable.
    #[error("{0} is not a valid PEM file")]
    BadPem(PathBuf),
    /// Generating, reading or using the service-account signing key.
    #[error("service account key: {0}")]
    Key(String),
    /// The credentials stored for the cluster lack a file.
    #[error(
        "the cluster's shared credentials (/skiff.dev/pki in the store) have no {0}; delete that \
         key so that the next server to start stores its own"
    )]
    SharedIncomplete(&'static str),
}

/// The admin identity kubeconfig carries, as EKS cluster creators get.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// The admin's group: full access.
pub const ADMIN_GROUP: &str = "system:masters";

/// Loaded credentials.
pub struct Pki {
    dir: PathBuf,
    /// CA certificate (PEM).
    pub ca_pem: String,
    /// Serving certificate chain (PEM).
    pub server_cert_pem: String,
    /// Serving key (PEM).
    pub server_key_pem: String,
    /// Admin client certificate (PEM).
    pub admin_cert_pem: String,
    /// Admin client key (PEM).
    pub admin_key_pem: String,
    /// Admin bearer token (accepted like the client certificate).
    pub admin_token: String,
    /// The RSA key service-account tokens are signed with (PKCS#8 PEM, `sa.key`; its public
    /// half is `sa.pub`).
    pub sa_key_pem: String,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a file atomically (temp file + rename) with owner-only permissions.
pub fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let io = |action, source| PkiError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("creating", e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| io("writing", e))?;
    f.sync_all().map_err(|e| io("syncing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("renaming", e))
}

fn serving_names() -> Vec<String> {
    [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The credentials every API server of one cluster shares (the CA and its key, the admin's
/// certificate and token, the service-account signing key), as files of `<data_dir>/pki`.
const SHARED_FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "admin.crt",
    "admin.key",
    "admin.token",
    "sa.key",
];

/// The shared credentials of the data directory's `pki` as one JSON document (file name →
/// contents), for storing where every server of the cluster finds them.
pub fn export_shared(data_dir: &Path) -> Result<serde_json::Value, PkiError> {
    let dir = data_dir.join("pki");
    let mut doc = serde_json::Map::new();
    for name in SHARED_FILES {
        if let Some(text) = read(&dir.join(name))? {
            doc.insert(name.to_string(), serde_json::Value::String(text));
        }
    }
    Ok(serde_json::Value::Object(doc))
}

/// Writes shared credentials (from [`export_shared`]) into the data directory's `pki`; when
/// the CA differs from the local one, the serving certificate and the derived public key are
/// removed so [`Pki::load_or_create`] issues them again.
pub fn import_shared(data_dir: &Path, shared: &serde_json::Value) -> Result<(), PkiError> {
    let dir = data_dir.join("pki");
    std::fs::create_dir_all(&dir).map_err(|source| PkiError::Io {
        action: "creating",
        path: dir.clone(),
        source,
    })?;
    let Some(new_ca) = shared["ca.crt"].as_str() else {
        return Err(PkiError::SharedIncomplete("ca.crt"));
    };
    if read(&dir.join("ca.crt"))?.as_deref() != Some(new_ca) {
        for stale in ["server.crt", "server.key", "server.names", "sa.pub"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    for name in SHARED_FILES {
        let path = dir.join(name);
        // A restart finds them unchanged: no rewrite (and no fsync) then.
        if let Some(text) = shared[name].as_str()
            && read(&path)?.as_deref() != Some(text)
        {
            write_private(&path, text)?;
        }
    }
    Ok(())
}

impl Pki {
    /// Loads the credentials from `<data_dir>/pki`, creating any that are missing.
    /// `extra_ip` is added to the serving certificate when it is not loopback.
    pub fn load_or_create(
        data_dir: &Path,
        extra_ip: Option<std::net::IpAddr>,
    ) -> Result<Pki, PkiError> {
        let dir = data_dir.join("pki");
        std::fs::create_dir_all(&dir).map_err(|source| PkiError::Io {
            action: "creating",
            path: dir.clone(),
            source,
        })?;
        let p = |n: &str| dir.join(n);
        let (ca_pem, ca_key_pem) = match (read(&p("ca.crt"))?, read(&p("ca.key"))?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(Vec::<String>::new())?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, "skiff-ca");
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                let cert = params.self_signed(&key)?;
                write_private(&p("ca.key"), &key.serialize_pem())?;
                write_private(&p("ca.crt"), &cert.pem())?;
                // A new CA invalidates anything signed by an old one.
                for stale in ["server.crt", "server.key", "admin.crt", "admin.key"] {
                    let _ = std::fs::remove_file(p(stale));
                }
                (cert.pem(), key.serialize_pem())
            }
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;
        let mut names = serving_names();
        if let Some(ip) = extra_ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
            names.push(ip.to_string());
        }
        let names_file = p("server.names");
        let wanted_names = names.join(",");
        let (server_cert_pem, server_key_pem) = match (
            read(&p("server.crt"))?,
            read(&p("server.key"))?,
            read(&names_file)?,
        ) {
            (Some(c), Some(k), Some(n)) if n == wanted_names => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(Vec::<String>::new())?;
                params.subject_alt_names = names
                    .iter()
                    .map(|n| match n.parse::<std::net::IpAddr>() {
                        Ok(ip) => Ok(SanType::IpAddress(ip)),
                        Err(_) => n.clone().try_into().map(SanType::DnsName),
                    })
                    .collect::<Result<_, _>>()?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, "kube-apiserver");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                let cert = params.signed_by(&key, &issuer)?;
                write_private(&p("server.key"), &key.serialize_pem())?;
                write_private(&p("server.crt"), &cert.pem())?;
                write_private(&names_file, &wanted_names)?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let (admin_cert_pem, admin_key_pem) = match (read(&p("admin.crt"))?, read(&p("admin.key"))?)
        {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(Vec::<String>::new())?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, ADMIN_USER);
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, ADMIN_GROUP);
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                params.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                let cert = params.signed_by(&key, &issuer)?;
                write_private(&p("admin.key"), &key.serialize_pem())?;
                write_private(&p("admin.crt"), &cert.pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let admin_token = match read(&p("admin.token"))? {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let t = format!("skiff-{}", uuid::Uuid::new_v4().simple());
                write_private(&p("admin.token"), &t)?;
                t
            }
        };
        let sa_key_pem = match read(&p("sa.key"))? {
            Some(k) => k,
            None => {
                let pem = generate_sa_key()?;
                write_private(&p("sa.key"), &pem)?;
                pem
            }
        };
        if read(&p("sa.pub"))?.is_none() {
            write_private(
                &p("sa.pub"),
                &TokenSigner::from_pem(&sa_key_pem)?.public_pem,
            )?;
        }
        Ok(Pki {
            sa_key_pem,
            dir,
            ca_pem,
            server_cert_pem,
            server_key_pem,
            admin_cert_pem,
            admin_key_pem,
            admin_token,
        })
    }

    /// The directory the credentials live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The rustls server configuration: HTTP/2 and HTTP/1.1 by ALPN, client certificates
    /// optional (verified against the CA when presented), as kube-apiserver does.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in pem_certs(&self.ca_pem, &self.dir.join("ca.crt"))? {
            roots.add(cert)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| PkiError::Tls(rustls::Error::General(e.to_string())))?;
        let certs = pem_certs(&self.server_cert_pem, &self.dir.join("server.crt"))?;
        let key = rustls_pemfile::private_key(&mut self.server_key_pem.as_bytes())
            .ok()
            .flatten()
            .ok_or_else(|| PkiError::BadPem(self.dir.join("server.key")))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// A kubeconfig for the admin, context `skiff`, pointing at `server_url`.
    pub fn kubeconfig(&self, server_url: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: skiff-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: skiff-admin\n    namespace: default\ncurrent-context: skiff\npreferences: {{}}\n",
            ca = b64(&self.ca_pem),
            cert = b64(&self.admin_cert_pem),
            key = b64(&self.admin_key_pem),
        )
    }
}

/// A new 2048-bit RSA key (public exponent 65537) for signing service-account tokens, as
/// PKCS#8 PEM.
///
/// The two 1024-bit primes are searched on two threads at once. Prime search is most of a
/// cold start's CPU and its length varies widely from run to run (94 to 636 ms in three
/// measured boots with one thread); in parallel the wait is the longer of two searches rather
/// than their sum. The primes come from the same generator `rsa::RsaPrivateKey::new` uses
/// (top two bits set, so the modulus has exactly 2048 bits), and the key is validated.
pub fn generate_sa_key() -> Result<String, PkiError> {
    use num_bigint_dig::RandPrime;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key_error = |e: &dyn std::fmt::Display| PkiError::Key(e.to_string());
    let key = (0..16)
        .find_map(|_| {
            let other = std::thread::spawn(|| rsa::rand_core::OsRng.gen_prime(1024));
            let p = rsa::rand_core::OsRng.gen_prime(1024);
            let q = other.join().ok()?;
            if p == q || (&p * &q).bits() != 2048 {
                return None;
            }
            // Fails when 65537 divides p-1 or q-1; then search again.
            let key = rsa::RsaPrivateKey::from_p_q(p, q, rsa::BigUint::from(65_537u32)).ok()?;
            key.validate().is_ok().then_some(key)
        })
        .ok_or_else(|| key_error(&"no usable pair of primes in 16 tries"))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| PkiError::Key(e.to_string()))?;
    Ok(pem.to_string())
}

/// Signs service-account tokens (RS256), as kube-apiserver's token generator does with
/// `--service-account-signing-key-file`. Signing uses ring, whose RSA is several times faster
/// than the pure-Rust `rsa` crate's: every pod's projected token is one signature, and with
/// `rsa` those signatures were the largest single item of skiff's CPU profile while
/// thousands of pods started. Keys ring does not take (under 2048 bits) are signed with
/// jsonwebtoken instead.
pub struct TokenSigner {
    key: Signer,
    /// The key id in each token's header: the unpadded base64url SHA-256 of the public key's
    /// DER (PKIX) form, as upstream derives it.
    pub kid: String,
    /// The public key (PEM, PKIX) verifiers need.
    pub public_pem: String,
}

impl TokenSigner {
    /// A signer for an RSA private key in PKCS#8 or PKCS#1 PEM.
    pub fn from_pem(private_pem: &str) -> Result<TokenSigner, PkiError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
        use sha2::Digest;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(private_pem))
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let public = rsa::RsaPublicKey::from(&key);
        let der = public
            .to_public_key_der()
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(der.as_bytes()));
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let ring_key = key
            .to_pkcs8_der()
            .ok()
            .and_then(|der| ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).ok());
        let key = match ring_key {
            Some(k) => Signer::Ring(Box::new(k)),
            None => Signer::Jwt(
                jsonwebtoken::EncodingKey::from_rsa_pem(private_pem.as_bytes())
                    .map_err(|e| PkiError::Key(e.to_string()))?,
            ),
        };
        Ok(TokenSigner {
            key,
            kid,
            public_pem,
        })
    }

    /// A signer over a fresh in-memory key (servers started without a data directory).
    pub fn generate() -> Result<TokenSigner, PkiError> {
        TokenSigner::from_pem(&generate_sa_key()?)
    }

    /// A signed compact JWT (RS256, `kid` header) carrying `claims`.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, PkiError> {
        match &self.key {
            Signer::Ring(key) => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let header = serde_json::json!({"alg": "RS256", "kid": self.kid});
                let mut token = format!(
                    "{}.{}",
                    b64.encode(header.to_string()),
                    b64.encode(claims.to_string())
                );
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    token.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| PkiError::Key(e.to_string()))?;
                token.push('.');
                token.push_str(&b64.encode(sig));
                Ok(token)
            }
            Signer::Jwt(key) => {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.typ = None;
                header.kid = Some(self.kid.clone());
                jsonwebtoken::encode(&header, claims, key).map_err(|e| PkiError::Key(e.to_string()))
            }
        }
    }
}

/// What signs the tokens.
enum Signer {
    Ring(Box<ring::signature::RsaKeyPair>),
    Jwt(jsonwebtoken::EncodingKey),
}

fn pem_certs(
    pem: &str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, PkiError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        _ => Err(PkiError::BadPem(path.to_path_buf())),
    }
}

/// The user and groups named by a client certificate (CN → user, O → groups).
pub fn identity_from_cert(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((user, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_service_account_keys_are_2048_bit_rsa_with_exponent_65537() {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let a =
            rsa::RsaPrivateKey::from_pkcs8_pem(&generate_sa_key().expect("a key")).expect("PEM");
        let b =
            rsa::RsaPrivateKey::from_pkcs8_pem(&generate_sa_key().expect("a key")).expect("PEM");
        for key in [&a, &b] {
            assert_eq!(key.n().bits(), 2048);
            assert_eq!(key.e(), &rsa::BigUint::from(65_537u32));
            assert_eq!(rsa::traits::PrivateKeyParts::primes(key).len(), 2);
            key.validate().expect("a valid key");
        }
        assert_ne!(a.n(), b.n(), "two keys came out the same");
    }

    #[test]
    fn tokens_are_rs256_with_the_kid_and_verify_against_the_public_key() {
        let signer = TokenSigner::generate().expect("a signer");
        assert!(
            matches!(signer.key, Signer::Ring(_)),
            "ring takes a 2048-bit key"
        );
        let claims = serde_json::json!({"sub": "system:serviceaccount:default:default", "exp": 4_000_000_000u64});
        let token = signer.sign(&claims).expect("signed");
        let header = jsonwebtoken::decode_header(&token).expect("a JWT header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(signer.kid.as_str()));
        assert_eq!(header.typ, None);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(signer.public_pem.as_bytes())
            .expect("the public key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
            .expect("the signature verifies");
        assert_eq!(data.claims, claims);
        // A flipped bit in the claims breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let flipped = if parts[1].starts_with('e') { "f" } else { "e" };
        parts[1].replace_range(0..1, flipped);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&parts.join("."), &key, &validation).is_err()
        );
    }

    #[test]
    fn credentials_are_created_once_and_reloaded_unchanged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = Pki::load_or_create(dir.path(), None).expect("first start creates credentials");
        let b = Pki::load_or_create(dir.path(), None).expect("restart loads credentials");
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.admin_cert_pem, b.admin_cert_pem);
        assert_eq!(a.admin_token, b.admin_token);
        a.server_config().expect("valid TLS config");
        let der = rustls_pemfile::certs(&mut a.admin_cert_pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .expect("admin cert");
        assert_eq!(
            identity_from_cert(&der),
            Some((ADMIN_USER.to_string(), vec![ADMIN_GROUP.to_string()]))
        );
        assert!(
            a.kubeconfig("https://127.0.0.1:6443")
                .contains("current-context: skiff")
        );
    }
}
