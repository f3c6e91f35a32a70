//! Throwaway PKI for one control plane, shaped like controller-runtime's envtest: a serving CA,
//! a client CA whose certificates authenticate users (CN = user, O = groups), and a
//! service-account signing key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::Result;

/// PEM-encoded certificate and private key.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Pki {
    pub serving_ca_pem: String,
    pub serving: CertAndKey,
    client_ca: CertifiedIssuer<'static, KeyPair>,
    pub service_account_key_pem: String,
    pub service_account_public_pem: String,
}

impl Pki {
    pub fn generate() -> Result<Self> {
        Self::generate_for(&[], &[])
    }

    /// With more names and addresses in the serving certificate than loopback's: a node's
    /// Pods reach the API server through its Service IP and `kubernetes.default.svc`.
    pub fn generate_for(ips: &[IpAddr], names: &[&str]) -> Result<Self> {
        let serving_ca = new_ca("driftless-testenv-serving-ca")?;
        let mut dns_names = vec!["localhost".to_owned()];
        dns_names.extend(names.iter().map(|name| name.to_string()));
        let mut serving = CertificateParams::new(dns_names)?;
        serving
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        serving.subject_alt_names.extend([
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
        serving
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let serving_key = KeyPair::generate()?;
        let serving_cert = serving.signed_by(&serving_key, &serving_ca)?;

        let service_account_key = KeyPair::generate()?;
        Ok(Self {
            serving_ca_pem: serving_ca.pem(),
            serving: CertAndKey {
                cert_pem: serving_cert.pem(),
                key_pem: serving_key.serialize_pem(),
            },
            client_ca: new_ca("driftless-testenv-client-ca")?,
            service_account_public_pem: service_account_key.public_key_pem(),
            service_account_key_pem: service_account_key.serialize_pem(),
        })
    }

    pub fn client_ca_pem(&self) -> String {
        self.client_ca.pem()
    }

    /// A client certificate the API server maps to `user` in `groups`.
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Result<CertAndKey> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.client_ca)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}
