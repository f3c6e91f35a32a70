//! Sprig's password, key and certificate functions, real as Sprig's are: `bcrypt`,
//! `htpasswd`, `derivePassword`, `genPrivateKey`, `genCA`, `genSelfSignedCert`,
//! `genSignedCert` (and their `WithKey` forms), `buildCustomCert`, `encryptAES`,
//! `decryptAES`; and `urlParse`/`urlJoin`.

use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _, block_padding};
use base64::Engine as _;
use hmac::Mac as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};

use super::{add, fail, strval};
use crate::funcs::{Arity, FuncError, FuncMap, arg_int, arg_str};
use crate::object::Struct;
use crate::value::{Map, Value};

type R = Result<Value, FuncError>;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub(super) fn register(m: &mut FuncMap) {
    use Arity::{AtLeast, Exact};
    add(m, "bcrypt", Exact(1), |a| {
        Ok(Value::String(bcrypt_hash(&arg_str(&a, 0)?)?))
    });
    add(m, "htpasswd", AtLeast(2), |a| {
        let (user, password) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        if user.contains(':') {
            return Ok(Value::String(format!("invalid username: {user}")));
        }
        Ok(Value::String(format!("{user}:{}", bcrypt_hash(&password)?)))
    });
    add(m, "derivePassword", Exact(5), |a| {
        let counter = arg_int(&a, 0)?;
        let (kind, password, user, site) = (
            arg_str(&a, 1)?,
            arg_str(&a, 2)?,
            arg_str(&a, 3)?,
            arg_str(&a, 4)?,
        );
        Ok(Value::String(derive_password(
            counter as u32,
            &kind,
            &password,
            &user,
            &site,
        )))
    });
    add(m, "genPrivateKey", Exact(1), |a| {
        let kind = arg_str(&a, 0)?;
        Ok(Value::String(match private_key(&kind) {
            Ok(pem) => pem,
            Err(message) => message,
        }))
    });
    add(m, "genCA", Exact(2), |a| {
        let (cn, days) = (arg_str(&a, 0)?, arg_int(&a, 1)?);
        certificate_authority(&cn, days, new_rsa_key()?)
    });
    add(m, "genCAWithKey", Exact(3), |a| {
        let (cn, days) = (arg_str(&a, 0)?, arg_int(&a, 1)?);
        certificate_authority(&cn, days, key_from_pem(&arg_str(&a, 2)?)?)
    });
    add(m, "genSelfSignedCert", Exact(4), |a| {
        let params = leaf_params(&a)?;
        self_signed(params, new_rsa_key()?)
    });
    add(m, "genSelfSignedCertWithKey", Exact(5), |a| {
        let params = leaf_params(&a)?;
        self_signed(params, key_from_pem(&arg_str(&a, 4)?)?)
    });
    add(m, "genSignedCert", Exact(5), |a| {
        let params = leaf_params(&a)?;
        signed(params, new_rsa_key()?, &a[4])
    });
    add(m, "genSignedCertWithKey", Exact(6), |a| {
        let params = leaf_params(&a)?;
        signed(params, key_from_pem(&arg_str(&a, 5)?)?, &a[4])
    });
    add(m, "buildCustomCert", Exact(2), |a| {
        let decode = |i: usize| -> Result<String, FuncError> {
            let text = arg_str(&a, i)?;
            let bytes = BASE64
                .decode(text.as_bytes())
                .map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let (cert, key) = (decode(0)?, decode(1)?);
        if pem::parse(&cert).is_err() {
            return fail("unable to decode base64 certificate");
        }
        if pem::parse(&key).is_err() {
            return fail("unable to decode base64 private key");
        }
        Ok(certificate(cert, key))
    });
    add(m, "encryptAES", Exact(2), |a| {
        let (password, text) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        if text.is_empty() {
            return Ok(Value::String(String::new()));
        }
        let mut iv = [0u8; 16];
        rand::fill(&mut iv);
        let encrypted = cbc::Encryptor::<aes::Aes256>::new(&aes_key(&password).into(), &iv.into())
            .encrypt_padded_vec_mut::<block_padding::Pkcs7>(text.as_bytes());
        let mut out = iv.to_vec();
        out.extend(encrypted);
        Ok(Value::String(BASE64.encode(out)))
    });
    add(m, "decryptAES", Exact(2), |a| {
        let (password, text) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        if text.is_empty() {
            return Ok(Value::String(String::new()));
        }
        let data = BASE64
            .decode(text.as_bytes())
            .map_err(|e| FuncError::Call(e.to_string()))?;
        if data.len() < 32 || data.len() % 16 != 0 {
            return fail("crypto/cipher: input not full blocks");
        }
        let (iv, body) = data.split_at(16);
        let iv: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
        let plain = cbc::Decryptor::<aes::Aes256>::new(&aes_key(&password).into(), &iv.into())
            .decrypt_padded_vec_mut::<block_padding::Pkcs7>(body)
            .map_err(|_| FuncError::Call("invalid padding".into()))?;
        Ok(Value::String(String::from_utf8_lossy(&plain).into_owned()))
    });
    add(m, "urlParse", Exact(1), |a| url_parse(&arg_str(&a, 0)?));
    add(m, "urlJoin", Exact(1), |a| url_join(&a[0]));
}

fn bcrypt_hash(password: &str) -> Result<String, FuncError> {
    // Go's bcrypt.DefaultCost (the Rust crate's default is 12).
    bcrypt::hash_with_result(password, 10)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| FuncError::Call(e.to_string()))
}

/// Sprig's AES key: the password's bytes in a zeroed 32-byte key.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let bytes = password.as_bytes();
    let n = bytes.len().min(32);
    key[..n].copy_from_slice(&bytes[..n]);
    key
}

/// The Master Password algorithm Sprig's `derivePassword` implements.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    const SEED: &str = "com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return format!("cannot find password template {kind}"),
    };
    let mut salt = SEED.as_bytes().to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let Ok(params) = scrypt::Params::new(15, 8, 2, 64) else {
        return "failed to derive password".into();
    };
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut message = SEED.as_bytes().to_vec();
    message.extend((site.len() as u32).to_be_bytes());
    message.extend(site.as_bytes());
    message.extend(counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password".into();
    };
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars: &[u8] = match class {
                b'V' => b"AEIOU",
                b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
                b'v' => b"aeiou",
                b'c' => b"bcdfghjklmnpqrstvwxyz",
                b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
                b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
                b'n' => b"0123456789",
                b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
                _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
            };
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

/// `genPrivateKey`: PEM as Go writes each kind (PKCS#1 for RSA, SEC 1 for ECDSA P-256,
/// PKCS#8 for Ed25519, OpenSSL's `DSA PRIVATE KEY` for DSA).
fn private_key(kind: &str) -> Result<String, String> {
    match kind {
        "" | "rsa" => {
            let key = new_rsa_key().map_err(|e| e.to_string())?;
            rsa_pkcs1_pem(&key).map_err(|e| e.to_string())
        }
        "ecdsa" => {
            let key =
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
            let secret =
                p256::SecretKey::from_pkcs8_der(&key.serialize_der()).map_err(|e| e.to_string())?;
            secret
                .to_sec1_pem(p256::pkcs8::LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| e.to_string())
        }
        "ed25519" => {
            let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?;
            Ok(key.serialize_pem())
        }
        "dsa" => Ok(dsa_private_key_pem()),
        other => Err(format!("Unknown type {other}")),
    }
}

/// A DSA key on fresh L=2048, N=256 parameters (Sprig's choice), written as the
/// SEQUENCE { version 0, p, q, g, y, x } Go's `asn1.Marshal` makes of Sprig's key type.
fn dsa_private_key_pem() -> String {
    let mut rng = rand_core::OsRng;
    let components = dsa::Components::generate(&mut rng, dsa::KeySize::DSA_2048_256);
    let key = dsa::SigningKey::generate(&mut rng, components);
    let public = key.verifying_key();
    let params = public.components();
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_i64(0);
            for n in [params.p(), params.q(), params.g(), public.y(), key.x()] {
                w.next().write_bigint_bytes(&n.to_bytes_be(), true);
            }
        })
    });
    pem::encode_config(
        &pem::Pem::new("DSA PRIVATE KEY", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn new_rsa_key() -> Result<KeyPair, FuncError> {
    KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| FuncError::Call(e.to_string()))
}

fn rsa_pkcs1_pem(key: &KeyPair) -> Result<String, FuncError> {
    let call = |e: String| FuncError::Call(e);
    let rsa_key = rsa::RsaPrivateKey::from_pkcs8_der(&key.serialize_der())
        .map_err(|e| call(e.to_string()))?;
    rsa_key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| call(e.to_string()))
}

/// The key as Sprig's certificate functions print it: PKCS#1 for RSA, else PKCS#8.
fn key_pem(key: &KeyPair) -> Result<String, FuncError> {
    if key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
        rsa_pkcs1_pem(key)
    } else {
        Ok(key.serialize_pem())
    }
}

/// A private key given as PEM (PKCS#1 RSA, PKCS#8 or SEC 1 EC).
fn key_from_pem(text: &str) -> Result<KeyPair, FuncError> {
    let call = |e: String| FuncError::Call(format!("error parsing private key: {e}"));
    let block = pem::parse(text).map_err(|e| call(e.to_string()))?;
    match block.tag() {
        "RSA PRIVATE KEY" => {
            let rsa_key = rsa::RsaPrivateKey::from_pkcs1_der(block.contents())
                .map_err(|e| call(e.to_string()))?;
            let der = rsa_key.to_pkcs8_der().map_err(|e| call(e.to_string()))?;
            KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| call(e.to_string()))
        }
        "EC PRIVATE KEY" => {
            let secret = p256::SecretKey::from_sec1_der(block.contents())
                .map_err(|e| call(e.to_string()))?;
            let der = secret.to_pkcs8_der().map_err(|e| call(e.to_string()))?;
            KeyPair::try_from(der.as_bytes()).map_err(|e| call(e.to_string()))
        }
        _ => KeyPair::from_pem(text).map_err(|e| call(e.to_string())),
    }
}

fn certificate(cert: String, key: String) -> Value {
    Struct::new("sprig.certificate")
        .field("Cert", cert)
        .field("Key", key)
        .into_value()
}

/// Sprig's `getBaseCertTemplate`: the subject, IPs and DNS names, valid from now for `days`.
fn base_params(
    cn: &str,
    ips: &Value,
    dns: &Value,
    days: i64,
) -> Result<CertificateParams, FuncError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    for ip in list(ips) {
        let text = strval(&ip);
        let address = text
            .parse()
            .map_err(|_| FuncError::Call(format!("error parsing ip: {text}")))?;
        params.subject_alt_names.push(SanType::IpAddress(address));
    }
    for host in list(dns) {
        let text = strval(&host);
        let name = text
            .clone()
            .try_into()
            .map_err(|_| FuncError::Call(format!("error parsing alternate DNS: {text}")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    let mut serial = [0u8; 16];
    rand::fill(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(serial.to_vec().into());
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(days);
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    Ok(params)
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::List(items) => items.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The `cn, ips, alternateDNS, daysValid` arguments of the leaf-certificate functions.
fn leaf_params(a: &[Value]) -> Result<CertificateParams, FuncError> {
    base_params(&arg_str(a, 0)?, &a[1], &a[2], arg_int(a, 3)?)
}

fn certificate_authority(cn: &str, days: i64, key: KeyPair) -> R {
    let mut params = base_params(cn, &Value::Nil, &Value::Nil, days)?;
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed(params, key)
}

fn self_signed(params: CertificateParams, key: KeyPair) -> R {
    let cert = params
        .self_signed(&key)
        .map_err(|e| FuncError::Call(e.to_string()))?;
    Ok(certificate(cert.pem(), key_pem(&key)?))
}

fn signed(params: CertificateParams, key: KeyPair, ca: &Value) -> R {
    let field = |name: &str| match ca {
        Value::Object(o) => o.field(name).map(|v| strval(&v)).unwrap_or_default(),
        Value::Map(m) => m.read().get(name).map(strval).unwrap_or_default(),
        _ => String::new(),
    };
    let ca_key = key_from_pem(&field("Key"))?;
    let issuer = Issuer::from_ca_cert_pem(&field("Cert"), ca_key)
        .map_err(|e| FuncError::Call(format!("error parsing ca certificate: {e}")))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| FuncError::Call(e.to_string()))?;
    Ok(certificate(cert.pem(), key_pem(&key)?))
}

fn url_parse(text: &str) -> R {
    let parsed =
        url::Url::parse(text).map_err(|e| FuncError::Call(format!("unable to parse url: {e}")))?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    };
    let userinfo = match (parsed.username(), parsed.password()) {
        ("", None) => String::new(),
        (user, None) => user.to_owned(),
        (user, Some(password)) => format!("{user}:{password}"),
    };
    let opaque = if parsed.cannot_be_a_base() {
        parsed.path().to_owned()
    } else {
        String::new()
    };
    let path = if parsed.cannot_be_a_base() {
        String::new()
    } else {
        parsed.path().to_owned()
    };
    let entries = [
        ("scheme", parsed.scheme().to_owned()),
        ("host", host),
        ("hostname", parsed.host_str().unwrap_or_default().to_owned()),
        ("path", path),
        ("query", parsed.query().unwrap_or_default().to_owned()),
        ("opaque", opaque),
        ("fragment", parsed.fragment().unwrap_or_default().to_owned()),
        ("userinfo", userinfo),
    ];
    Ok(Value::map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect::<Map>(),
    ))
}

fn url_join(parts: &Value) -> R {
    let Value::Map(map) = parts else {
        return fail("urlJoin: expected a dict");
    };
    let map = map.read();
    let get = |k: &str| map.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    if !get("scheme").is_empty() {
        out.push_str(&get("scheme"));
        out.push(':');
    }
    if !get("opaque").is_empty() {
        out.push_str(&get("opaque"));
    } else {
        if !get("host").is_empty() || !get("userinfo").is_empty() {
            out.push_str("//");
            if !get("userinfo").is_empty() {
                out.push_str(&get("userinfo"));
                out.push('@');
            }
            out.push_str(&get("host"));
        }
        let path = get("path");
        if !path.is_empty() && !path.starts_with('/') && !get("host").is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    if !get("query").is_empty() {
        out.push('?');
        out.push_str(&get("query"));
    }
    if !get("fragment").is_empty() {
        out.push('#');
        out.push_str(&get("fragment"));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::super::run_full as run;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = run("{{ bcrypt \"secret\" }}");
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert!(bcrypt::verify("secret", &hash).unwrap());
        let line = run("{{ htpasswd \"admin\" \"pw\" }}");
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(bcrypt::verify("pw", hash).unwrap());
        assert_eq!(
            run("{{ htpasswd \"a:b\" \"pw\" }}"),
            "invalid username: a:b"
        );
    }

    /// Reads OpenSSL's DSA key structure back: version 0, a 2048-bit p, a 256-bit q and
    /// y = g^x mod p.
    fn dsa_key_is_consistent(text: &str) {
        let der = pem::parse(text).unwrap();
        let (version, numbers) = yasna::parse_der(der.contents(), |r| {
            r.read_sequence(|r| {
                let version = r.next().read_i64()?;
                let numbers: Vec<_> = (0..5)
                    .map(|_| r.next().read_bigint_bytes())
                    .collect::<Result<_, _>>()?;
                Ok((version, numbers))
            })
        })
        .unwrap();
        assert_eq!(version, 0);
        assert!(numbers.iter().all(|(_, positive)| *positive));
        let [p, q, g, y, x]: [dsa::BigUint; 5] = numbers
            .iter()
            .map(|(bytes, _)| dsa::BigUint::from_bytes_be(bytes))
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        assert_eq!(p.bits(), 2048);
        assert_eq!(q.bits(), 256);
        assert_eq!(g.modpow(&x, &p), y);
    }

    #[test]
    fn derived_passwords_follow_their_template_and_are_stable() {
        let once = run("{{ derivePassword 1 \"long\" \"password\" \"user\" \"example.com\" }}");
        assert_eq!(once.len(), 14);
        assert_eq!(
            once,
            run("{{ derivePassword 1 \"long\" \"password\" \"user\" \"example.com\" }}")
        );
        assert_eq!(
            run("{{ derivePassword 1 \"nope\" \"p\" \"u\" \"s\" }}"),
            "cannot find password template nope"
        );
    }

    #[test]
    fn aes_round_trips() {
        assert_eq!(
            run("{{ encryptAES \"key\" \"plain text\" | decryptAES \"key\" }}"),
            "plain text"
        );
        assert_eq!(run("{{ encryptAES \"key\" \"\" }}"), "");
    }

    #[test]
    fn keys_and_certificates_are_real() {
        assert!(run("{{ genPrivateKey \"rsa\" }}").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(run("{{ genPrivateKey \"ecdsa\" }}").starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let dsa = run("{{ genPrivateKey \"dsa\" }}");
        assert!(dsa.starts_with("-----BEGIN DSA PRIVATE KEY-----"), "{dsa}");
        dsa_key_is_consistent(&dsa);
        assert!(run("{{ genPrivateKey \"ed25519\" }}").starts_with("-----BEGIN PRIVATE KEY-----"));
        let out = run("{{ $ca := genCA \"my-ca\" 365 }}\
             {{ $cert := genSignedCert \"svc\" (list \"10.0.0.1\") (list \"svc.ns\") 30 $ca }}\
             {{ $ca.Cert }}|{{ $cert.Cert }}|{{ $cert.Key }}");
        let parts: Vec<&str> = out.split('|').collect();
        let (_, ca) = x509_parser::pem::parse_x509_pem(parts[0].as_bytes()).unwrap();
        let ca = ca.parse_x509().unwrap();
        assert!(ca.is_ca());
        assert_eq!(
            ca.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "my-ca"
        );
        let (_, leaf) = x509_parser::pem::parse_x509_pem(parts[1].as_bytes()).unwrap();
        let leaf = leaf.parse_x509().unwrap();
        assert_eq!(leaf.issuer(), ca.subject());
        assert!(leaf.verify_signature(Some(ca.public_key())).is_ok());
        assert!(parts[2].starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    }

    #[test]
    fn urls_parse_and_join() {
        assert_eq!(
            run(
                "{{ $u := urlParse \"https://u:p@example.com:8443/a/b?x=1#f\" }}{{ $u.host }} {{ $u.hostname }} {{ $u.path }} {{ $u.query }} {{ $u.fragment }} {{ $u.userinfo }} | {{ urlJoin $u }}"
            ),
            "example.com:8443 example.com /a/b x=1 f u:p | https://u:p@example.com:8443/a/b?x=1#f"
        );
    }
}
