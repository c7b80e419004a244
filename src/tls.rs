//! TLS trust for the Slack and AWS clients, set up without reading or
//! parsing certificate files at start-up.
//!
//! By default reqwest and the AWS SDK each load the system's certificate
//! bundle and directory when their client is built: milliseconds of every
//! cold start on a fast machine, several times that on a 128 MB Lambda's
//! share of a CPU. Here the roots are compiled in.

use std::sync::Arc;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// For Slack: Mozilla's roots, as parsed trust anchors (no parsing at all).
pub fn slack_client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// AWS endpoints present Amazon Trust Services certificates; AWS's own
/// guidance is to trust these roots: Amazon Root CA 1–4 and the Starfield
/// root that cross-signs them. Compiled in as PEM (a test checks they are
/// Mozilla's own copies), so start-up neither reads nor searches anything.
const AWS_ROOTS_PEM: &str = include_str!("aws_roots.pem");

/// The AWS SDK's HTTP client trusting only the AWS roots. Not for custom
/// HTTPS endpoints (`AWS_ENDPOINT_URL=https://…`), which may use any CA.
pub fn aws_http_client() -> Result<SharedHttpClient, String> {
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(AWS_ROOTS_PEM);
    let context = TlsContext::builder().with_trust_store(trust).build().map_err(|e| e.to_string())?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

/// A custom AWS endpoint over HTTPS is set: its CA is unknown, so the SDK
/// keeps the system's roots.
pub fn custom_https_endpoint(vars: impl Iterator<Item = (String, String)>) -> bool {
    vars.into_iter()
        .any(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && v.trim().to_ascii_lowercase().starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    const AWS_ROOT_NAMES: [&[u8]; 5] = [
        b"Amazon Root CA 1",
        b"Amazon Root CA 2",
        b"Amazon Root CA 3",
        b"Amazon Root CA 4",
        b"Starfield Services Root Certificate Authority - G2",
    ];

    #[test]
    fn the_compiled_in_aws_roots_are_mozillas_and_all_there() {
        let ours: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes()).map(Result::unwrap).collect();
        let mozillas: Vec<&CertificateDer> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|cert| {
                let der: &[u8] = cert.as_ref();
                AWS_ROOT_NAMES.iter().any(|name| der.windows(name.len()).any(|w| w == *name))
            })
            .collect();
        assert_eq!(mozillas.len(), AWS_ROOT_NAMES.len());
        assert_eq!(ours.iter().collect::<Vec<_>>(), mozillas);
        let (added, ignored) = rustls::RootCertStore::empty().add_parsable_certificates(ours);
        assert_eq!((added, ignored), (AWS_ROOT_NAMES.len(), 0));
    }

    #[test]
    fn clients_build() {
        assert!(slack_client_config().is_ok());
        assert!(aws_http_client().is_ok());
    }

    #[test]
    fn only_https_custom_endpoints_keep_the_system_roots() {
        let vars =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let table = [
            (vars(&[]), false),
            (vars(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]), false),
            (vars(&[("AWS_ENDPOINT_URL", "https://localstack.internal")]), true),
            (vars(&[("AWS_ENDPOINT_URL_DYNAMODB", " HTTPS://proxy")]), true),
            (vars(&[("OTHER", "https://x")]), false),
        ];
        for (env, want) in table {
            assert_eq!(custom_https_endpoint(env.clone().into_iter()), want, "{env:?}");
        }
    }
}
